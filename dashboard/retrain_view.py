"""The Models page's retrain section: the dialog, the active job's live progress, cancel,
and the job history.

Operators and admins start a retrain of the selected model (a window of labelled
predictions, a preset, a note) after seeing how many labelled rows per class the window
holds; the worker (``python -m services.worker``) runs the job, never the dashboard. While a
job of the model is queued or running, its stage, progress bar, elapsed time and log are
redrawn about every second by a fragment (only that fragment reruns); when no job is
active nothing refreshes. Analysts read progress and history. Every text from the store or
a user reaches markdown through :func:`dashboard.format.md_text`; the log is a code block,
the history a dataframe, both drawn as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from dashboard import format as fmt
from dashboard.resources import engine_for, settings
from db.repositories.registry import RegistryError
from services.access import Action, PermissionDenied, Principal, can
from services.drift.config import DriftConfigError
from services.promotion.actions import VersionRow
from services.retrain.data import DEFAULT_WINDOW_DAYS, TrainingDataError, Window, check_window
from services.retrain.data import class_counts as window_counts
from services.retrain.jobs import Job, JobConflictError, cancel_job, get_job, list_jobs
from services.retrain.jobs import start_retrain as queue_retrain
from services.retrain.window import suggested_window
from services.settings import Settings

__all__ = [
    "HISTORY_JOBS",
    "LOG_LINES",
    "PRESETS",
    "REFRESH_SECONDS",
    "history_frame",
    "show_retrain",
    "window_bounds",
]

#: Seconds between redraws of an active job's progress.
REFRESH_SECONDS = 1.0
#: Jobs the history lists (the newest).
HISTORY_JOBS = 50
#: Lines of a job's log shown under its progress (the newest).
LOG_LINES = 20
#: The presets offered, as the dialog names them.
PRESETS = {"same": "Same as production", "search": "Search (cross-validated grid, bounded)"}
#: Session keys: what the last retrain action did, or why it was refused.
_DONE, _REFUSED = "_opsdash_retrain_done", "_opsdash_retrain_refused"


@dataclass(frozen=True)
class _Ctx:
    """What every part of the section needs."""

    engine: Engine
    config: Settings
    user: Principal
    model: str
    classes: tuple[str, ...]

    @property
    def may_act(self) -> bool:
        return can(self.user.role, Action.RETRAIN)


def show_retrain(*, engine: Engine, config: Settings, user: Principal, model: str,
                 classes: Sequence[str], rows: Sequence[VersionRow]) -> None:
    """Draw the retrain section of ``model`` (its ``classes``; ``rows``: its versions,
    newest first)."""
    ctx = _Ctx(engine=engine, config=config, user=user, model=model, classes=tuple(classes))
    st.subheader("Retrain", anchor=False)
    if done := st.session_state.pop(_DONE, None):
        st.success(fmt.md_text(done), icon=":material/model_training:")
    if refused := st.session_state.pop(_REFUSED, None):
        st.error(fmt.md_text(refused), icon=":material/error:")
    jobs = list_jobs(engine=engine, model=model, limit=HISTORY_JOBS)
    active = next((j for j in jobs if j.active), None)
    if active is not None:
        st.fragment(_live, run_every=REFRESH_SECONDS)(ctx, active.id)
    else:
        _finished(ctx, jobs[0] if jobs else None, rows)
        if ctx.may_act:
            _dialog(ctx, rows)
        else:
            st.caption(f"Retraining is for operators and admins; your role ({user.role}) "
                       "sees the jobs' progress and history.")
    _history(ctx, jobs)


# --- the dialog ---------------------------------------------------------------------------

def _backend(config: Settings) -> str:
    return config.retrain_backend


def _dialog(ctx: _Ctx, rows: Sequence[VersionRow]) -> None:
    """Window, preset and note; the class counts; Start (disabled when the window is thin)."""
    production = next((r for r in rows if r.status == "production"), None)
    backend = _backend(ctx.config)
    if backend == "local" and not _local_ok(ctx, production):
        return
    with st.expander(f"Retrain {ctx.model}…", icon=":material/model_training:"):
        start, end = _window_inputs(ctx)
        st.radio("Hyper-parameters", list(PRESETS), format_func=PRESETS.__getitem__,
                 key=f"retrain-preset-{ctx.model}", horizontal=True,
                 help="Same as production: production's pipeline refitted on the window. "
                      "Search: a cross-validated search over a small grid of its "
                      "parameters, bounded in time.")
        st.text_input("Note (optional)", key=f"retrain-note-{ctx.model}", max_chars=500)
        ready = _counts(ctx, start, end)
        where = ("the worker trains it here" if backend == "local" else
                 "it is handed off to your training pipeline (OPSDASH_RETRAIN_BACKEND=webhook)")
        st.caption(f"Training data: the labelled predictions of the window; the newest part "
                   f"is held out for evaluation. The job is queued and {where}.")
        st.button("Start retraining", type="primary", disabled=not ready,
                  key=f"retrain-start-{ctx.model}", icon=":material/play_arrow:",
                  on_click=_start, args=(ctx, start, end, backend))


def _local_ok(ctx: _Ctx, production: VersionRow | None) -> bool:
    """Whether this machine can retrain the model; says why not when it cannot."""
    if production is None:
        st.info(f"{fmt.md_text(ctx.model)} has no production version to retrain from; "
                "promote one first.", icon=":material/info:")
        return False
    if production.artifact_sha256 is None:
        st.info(f"{fmt.md_text(ctx.model)} v{production.version} is served elsewhere (we "
                "hold no pipeline for it), so it retrains only through the hand-off to your "
                "own training pipeline. Set OPSDASH\\_RETRAIN\\_BACKEND=webhook and "
                "OPSDASH\\_RETRAIN\\_WEBHOOK\\_URL (see the README's configuration table) to "
                "start such jobs from here.", icon=":material/call_split:")
        return False
    return True


@st.cache_data(ttl=300, show_spinner="Finding when the inputs began drifting…")
def _suggested(database_url: str, model: str, hour: str) -> Window:
    """The suggested window (it moves with the hour, the key of the cache)."""
    del hour  # cache key only
    return suggested_window(engine=engine_for(database_url), settings=settings(), model=model,
                            now=datetime.now(UTC))


def _window_inputs(ctx: _Ctx) -> tuple[datetime, datetime]:
    """Two dates in the configured time zone; the window runs from the start of the first
    day to the end of the second (or now, if that is today)."""
    tz, zone = ctx.config.timezone, ZoneInfo(ctx.config.timezone)
    now = datetime.now(zone)
    try:
        window = _suggested(ctx.config.resolved_database_url, ctx.model, f"{now:%Y%m%d%H}")
        first, why = window.start.astimezone(zone).date(), (
            "the day the inputs began drifting (the Drift page's \"drifting since\")"
            if window.reason == "drift" else f"the last {DEFAULT_WINDOW_DAYS} days: no drift "
            "episode is under way")
    except (DriftConfigError, TrainingDataError) as exc:
        first = (now - timedelta(days=DEFAULT_WINDOW_DAYS)).date()
        why = f"the last {DEFAULT_WINDOW_DAYS} days ({fmt.md_text(str(exc))})"
    with st.container(horizontal=True):
        day_from = st.date_input(f"From ({tz})", value=first, max_value=now.date(),
                                 format="YYYY-MM-DD", key=f"retrain-from-{ctx.model}")
        day_to = st.date_input(f"To, inclusive ({tz})", value=now.date(), max_value=now.date(),
                               format="YYYY-MM-DD", key=f"retrain-to-{ctx.model}")
    st.caption(f"Suggested window: from {why}.")
    return window_bounds(day_from, day_to, zone, now)


def window_bounds(day_from: date, day_to: date, zone: ZoneInfo,
                  now: datetime) -> tuple[datetime, datetime]:
    """The window ``[start, end)`` in UTC of the days ``day_from`` to ``day_to`` (both
    included) in ``zone``: from the first day's midnight to the midnight after the last,
    or to ``now`` when that is sooner."""
    start = datetime.combine(day_from, time(0), zone)
    end = min(datetime.combine(day_to + timedelta(days=1), time(0), zone), now)
    return start.astimezone(UTC), end.astimezone(UTC)


def _counts(ctx: _Ctx, start: datetime, end: datetime) -> bool:
    """Show the labelled rows per class of the window; whether it is enough to train on."""
    if not start < end:
        st.error("The window is empty: its first day must not come after its last.",
                 icon=":material/error:")
        return False
    counts = window_counts(ctx.engine, ctx.model, start, end)
    parts = ", ".join(f"{fmt.md_text(label)} {n:,}" for label, n in counts.items())
    st.markdown(f"**Labelled rows per class in the window:** {parts} "
                f"({sum(counts.values()):,} in all).")
    try:
        check_window(counts, ctx.classes, ctx.config.retrain_min_per_class)
    except TrainingDataError as exc:
        st.error(f"Cannot train on this window: {fmt.md_text(str(exc))}.",
                 icon=":material/block:")
        return False
    return True


def _start(ctx: _Ctx, start: datetime, end: datetime, backend: str) -> None:
    """Queue the job (a button's callback); keep what happened for the run."""
    preset = st.session_state.get(f"retrain-preset-{ctx.model}", "same")
    note = str(st.session_state.get(f"retrain-note-{ctx.model}", "")).strip()
    try:
        job = queue_retrain(engine=ctx.engine, actor=ctx.user, model=ctx.model, start=start,
                            end=end, preset=preset, note=note, backend=backend,  # type: ignore[arg-type]
                            min_per_class=ctx.config.retrain_min_per_class)
    except (JobConflictError, TrainingDataError, RegistryError, PermissionDenied,
            ValueError) as exc:
        st.session_state[_REFUSED] = f"Not started: {exc}"
        return
    st.session_state[_DONE] = (f"Job {job.id} queued: retrain {job.model} "
                               f"({PRESETS[job.preset].lower()}).")


# --- the active job -----------------------------------------------------------------------

def _elapsed(job: Job, now: datetime) -> str:
    since = job.started_at or job.created_at
    seconds = max(0, int((now - since).total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _live(ctx: _Ctx, job_id: int) -> None:
    """The active job, redrawn every :data:`REFRESH_SECONDS` (a fragment): when it ends,
    the whole page runs again so the form, the history and the new candidate show."""
    try:
        job = get_job(engine=ctx.engine, job_id=job_id)
    except LookupError:  # deleted with its model
        st.rerun(scope="app")
    if not job.active:
        st.rerun(scope="app")
    # A queued job waits for a worker whatever its backend: the worker trains a local
    # job and hands a webhook job off (then its stage reads "handed off").
    waiting = ("waiting for a worker (`python -m services.worker`)" if job.status == "queued"
               else job.stage)
    detail = f": {job.message}" if job.message else ""
    with st.container(border=True, key=f"retrain-live-{ctx.model}"):
        st.markdown(f"**Job {job.id}** · {job.status} · {fmt.md_text(waiting)}"
                    f"{fmt.md_text(detail)}")
        st.progress(min(max(job.percent / 100.0, 0.0), 1.0),
                    text=f"{job.percent:.0f} % · elapsed {_elapsed(job, datetime.now(UTC))}")
        since = job.started_at or job.created_at
        st.caption(f"Started by {fmt.md_text(job.requested_by)} on "
                   f"{fmt.when(since, ctx.config.timezone)}; preset "
                   f"{PRESETS[job.preset].lower()}; window "
                   f"{fmt.when(job.window_start, ctx.config.timezone)} → "
                   f"{fmt.when(job.window_end, ctx.config.timezone)}"
                   + (f"; note: {fmt.md_text(job.note)}" if job.note else "") + ".")
        if job.log:
            st.code("\n".join(job.log.splitlines()[-LOG_LINES:]), language=None)
        if job.cancel_requested:
            st.caption("Cancel requested: the job stops within seconds.")
        elif ctx.may_act:
            st.button(f"Cancel job {job.id}", key=f"retrain-cancel-{job.id}",
                      icon=":material/cancel:", on_click=_cancel, args=(ctx, job.id))


def _cancel(ctx: _Ctx, job_id: int) -> None:
    """Ask the job to stop (a button's callback)."""
    try:
        job = cancel_job(engine=ctx.engine, actor=ctx.user, job_id=job_id)
    except (PermissionDenied, LookupError) as exc:
        st.session_state[_REFUSED] = f"Not cancelled: {exc}"
        return
    st.session_state[_DONE] = (f"Job {job.id} cancelled." if job.status == "cancelled" else
                               f"Cancel of job {job.id} requested: it stops within seconds."
                               if job.active else f"Job {job.id} had already ended "
                               f"({job.status}).")


# --- finished jobs ------------------------------------------------------------------------

def _finished(ctx: _Ctx, newest: Job | None, rows: Sequence[VersionRow]) -> None:
    """The newest job's outcome; a candidate it produced gets a link to its evidence."""
    if newest is None:
        return
    candidates = {r.version for r in rows if r.status == "candidate"}
    if newest.status == "succeeded" and newest.result_version in candidates:
        version = newest.result_version
        st.success(f"Job {newest.id} produced candidate v{version} "
                   f"({fmt.when(newest.finished_at, ctx.config.timezone)}). Its evidence "
                   "against production is below.", icon=":material/check_circle:")
        st.button(f"Compare v{version} with production", key=f"retrain-show-{newest.id}",
                  icon=":material/compare_arrows:", on_click=_select, args=(ctx, version))
    elif newest.status == "failed":
        st.warning(f"Job {newest.id} failed: {fmt.md_text(_first_line(newest.error))}",
                   icon=":material/error:")


def _select(ctx: _Ctx, version: int) -> None:
    """Make ``version`` the candidate the evidence section compares (a button's callback)."""
    st.session_state[f"models-candidate-{ctx.model}"] = version


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _duration(job: Job) -> str:
    if job.started_at is None:
        return fmt.NO_DATA
    end = job.finished_at or datetime.now(UTC)
    return f"{max(0.0, (end - job.started_at).total_seconds()):,.0f} s"


def history_frame(jobs: Sequence[Job], tz: str) -> pd.DataFrame:
    """Every job, newest first: outcome, preset, window, who, when, how long, what it made."""
    return pd.DataFrame({
        "Job": [j.id for j in jobs],
        "Status": [j.status for j in jobs],
        "Stage": [j.stage for j in jobs],
        "Preset": [j.preset for j in jobs],
        "Window": [f"{fmt.when(j.window_start, tz)} → {fmt.when(j.window_end, tz)}"
                   for j in jobs],
        "Requested by": [j.requested_by for j in jobs],
        "Started": [fmt.when(j.started_at or j.created_at, tz) for j in jobs],
        "Duration": [_duration(j) for j in jobs],
        "Version": ["" if j.result_version is None else f"v{j.result_version}" for j in jobs],
        "Error": [_first_line(j.error) for j in jobs],
        "Note": [j.note for j in jobs],
    })


def _history(ctx: _Ctx, jobs: Sequence[Job]) -> None:
    if not jobs:
        st.caption(f"No retrain job of {fmt.md_text(ctx.model)} yet.")
        return
    shown = (f"the {len(jobs):,} newest" if len(jobs) >= HISTORY_JOBS else
             f"{len(jobs):,}, newest first")
    with st.expander(f"Retrain jobs of {ctx.model} ({shown})",
                     expanded=not any(j.active for j in jobs)):
        st.caption(f"Times in {ctx.config.timezone}; Started is when a worker took the job "
                   "(when it was queued, for a job no worker took).")
        st.dataframe(history_frame(jobs, ctx.config.timezone), hide_index=True,
                     width="stretch", key=f"retrain-history-{ctx.model}")
