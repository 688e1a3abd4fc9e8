"""Running one claimed retrain job to its end: train, register, shadow-score, finish.

:func:`run_job` is what the worker's training child does with a job it holds: reads the
window's labelled predictions, trains a candidate from the production pipeline
(:func:`services.retrain.training.train`), saves its artifact, and **registers** it in one
transaction that first renews the job's lease (:func:`db.repositories.retrain_results.
renew_to_register`): a run whose lease was lost (its worker died and another failed the job)
registers nothing and removes its artifact. Then it shadow-scores the model's logged
traffic of the last :data:`SHADOW_DAYS` days with the new version, so the promotion
evidence exists at once, and finishes the job.

Whatever raises, the job ends failed with a one-line error and no version is left
half-registered; production is never touched (the version is a candidate).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import registry
from db.repositories import retrain_results as results
from db.session import session_scope
from services.access.principal import SYSTEM
from services.audit import record
from services.registry.shadow import shadow_score
from services.retrain import jobs
from services.retrain.base import production_base
from services.retrain.data import TrainingRows, load_rows
from services.retrain.progress import Reporter
from services.retrain.register import CandidateFiles, save_candidate
from services.retrain.training import TrainingCancelled, TrainingOutcome, train

__all__ = ["SEARCH_BUDGET_S", "SHADOW_DAYS", "JobResult", "run_job"]

logger = logging.getLogger(__name__)

#: The new version answers the model's logged traffic of these last days at once.
SHADOW_DAYS = 7
#: Seconds the ``search`` preset may spend on its cross-validated fits.
SEARCH_BUDGET_S = 60.0
#: Share of the bar training takes (loading the data included); the rest is registering
#: and shadow scoring.
_TRAINING_SHARE = 0.85
_ERROR_MAX = 500


@dataclass(frozen=True)
class JobResult:
    """How a run ended.

    Attributes:
        status: the job's end; ``lost`` when the job was no longer this worker's (nothing
            was registered, the job was left as the store has it).
        version: the version registered, if any.
        error: one line for people (empty on success).
    """

    status: Literal["succeeded", "failed", "cancelled", "lost"]
    version: int | None
    error: str = ""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    if not isinstance(exc, ValueError | RuntimeError) or isinstance(exc, NotImplementedError):
        text = f"{exc.__class__.__name__}: {text}"
    return text[:_ERROR_MAX]


def run_job(*, engine: Engine, job: jobs.Job, reporter: Reporter, artifacts_dir: Path,
            search_budget_s: float = SEARCH_BUDGET_S) -> JobResult:
    """Run ``job`` (claimed by ``reporter.worker_id``) to its end (module notes).

    Never raises for the job's own failures: they end the job (``failed`` with the
    error, ``cancelled``), or, when the job is no longer this worker's, leave it alone.
    """
    saved: CandidateFiles | None = None
    registered: tuple[int, int] | None = None  # the version's row id and number
    try:
        outcome, rows = _train(engine, job, reporter, search_budget_s)
        reporter.progress("registering", 86.0, "saving the artifact")
        saved = save_candidate(outcome=outcome, model=job.model, artifacts_dir=artifacts_dir,
                               start=job.window_start, end=job.window_end, job=job.id)
        registered = _register(engine, job, reporter, saved, outcome, rows)
        saved = None  # the file is the registered version's now
        version_id, version = registered
        _shadow_score(engine, job, reporter, version)
        reporter.progress("done", 100.0, f"registered {job.model} v{version} as a candidate")
        jobs.finish(engine=engine, job_id=job.id, worker_id=reporter.worker_id,
                    status="succeeded", result_version_id=version_id)
        return JobResult(status="succeeded", version=version)
    except jobs.LeaseLostError as exc:
        logger.warning("job %d: %s; nothing more is written for it", job.id, exc)
        return JobResult(status="lost", version=registered and registered[1],
                         error=_one_line(exc))
    except TrainingCancelled as exc:
        if reporter.lost:
            return JobResult(status="lost", version=registered and registered[1],
                             error="the job is no longer this worker's")
        return _end(engine, job, reporter, "cancelled", str(exc), registered)
    except Exception as exc:
        # Broad on purpose: whatever the training or the store raised ends the job.
        logger.exception("job %d failed", job.id)
        return _end(engine, job, reporter, "failed", _one_line(exc), registered)
    finally:
        if saved is not None:
            saved.artifact_path.unlink(missing_ok=True)


def _end(engine: Engine, job: jobs.Job, reporter: Reporter,
         status: Literal["failed", "cancelled"], error: str,
         registered: tuple[int, int] | None) -> JobResult:
    """Finish the job as ``status`` (``lost`` when it is no longer ours); a job that
    registered its version before failing keeps naming it."""
    version_id, version = registered or (None, None)
    if version is not None and status == "failed":
        error = (f"{job.model} v{version} was registered as a candidate, but its shadow "
                 f"scoring failed: {error}; run `shadow-score` for it")[:_ERROR_MAX]
    elif version is not None:
        error = (f"cancelled while shadow scoring: {job.model} v{version} stays registered "
                 f"as a candidate, its shadow scores are partial; run `shadow-score` for it "
                 f"to complete its evidence")
    try:
        jobs.finish(engine=engine, job_id=job.id, worker_id=reporter.worker_id,
                    status=status, error=error, result_version_id=version_id)
    except jobs.LeaseLostError as exc:
        return JobResult(status="lost", version=version, error=_one_line(exc))
    return JobResult(status=status, version=version, error=error)


def _scaled(reporter: Reporter) -> Callable[[str, float, str], None]:
    """Training's progress (0 to 100) as the job's (0 to 85); a search fold is shown as
    the ``training`` stage with the fold in its message."""
    def progress(stage: str, percent: float, message: str) -> None:
        if stage.startswith("search fold"):
            stage, message = "training", f"{stage}: {message}"
        reporter.progress(stage, percent * _TRAINING_SHARE, message)
    return progress


def _train(engine: Engine, job: jobs.Job, reporter: Reporter,
           search_budget_s: float) -> tuple[TrainingOutcome, TrainingRows]:
    """The window's rows and the candidate trained on them."""
    progress = _scaled(reporter)
    reporter.log(f"training process started: {job.preset} preset, window "
                 f"{job.window_start:%Y-%m-%d %H:%M} to {job.window_end:%Y-%m-%d %H:%M} UTC")
    base = production_base(engine, job.model)
    progress("loading data", 0.0, f"starting from {job.model} v{base.production.version}")
    rows = load_rows(engine, job.model, job.window_start, job.window_end, progress=progress)
    if reporter.should_stop():
        raise TrainingCancelled
    outcome = train(rows=rows, schema=base.schema, classes=base.classes,
                    base_pipeline=base.production.pipeline, preset=job.preset, seed=job.id,
                    time_budget_s=search_budget_s, progress=progress,
                    should_stop=reporter.should_stop)
    metrics = outcome.holdout_metrics
    searched = "" if outcome.search is None else (
        f" (best of {outcome.search['finished']} of {outcome.search['candidates']} "
        f"parameter sets cross-validated: {outcome.search['best']})")
    reporter.log(f"trained in {outcome.seconds:.1f} s{searched}: holdout accuracy "
                 f"{metrics['accuracy']:.1%} on {metrics['holdout_rows']:,} rows")
    return outcome, rows


def _register(engine: Engine, job: jobs.Job, reporter: Reporter, saved: CandidateFiles,
              outcome: TrainingOutcome, rows: TrainingRows) -> tuple[int, int]:
    """Register the candidate in one transaction that first checks the job is still this
    worker's and not cancelled; returns the version's row id and number.

    Raises:
        LeaseLostError: the lease ran out or another worker failed the job.
        TrainingCancelled: a cancel was requested (nothing is written).
    """
    revision = dict(zip(rows.ids, rows.revisions, strict=True))
    trained = [(pid, revision[pid]) for pid in outcome.training_ids]
    metrics = saved.holdout_metrics
    notes = (f"retrained by job {job.id}: {job.preset} preset on "
             f"{job.window_start:%Y-%m-%d} to {job.window_end:%Y-%m-%d}, "
             f"{len(trained):,} training rows, holdout accuracy {metrics['accuracy']:.1%}"
             + (f"; {job.note}" if job.note else ""))
    with session_scope(engine, write=True) as session:
        if not results.renew_to_register(
                session=session, job_id=job.id, worker_id=reporter.worker_id, now=utcnow(),
                lease_seconds=reporter.lease_seconds, stage="registering"):
            raise jobs.LeaseLostError(
                f"job {job.id} is no longer this worker's; its candidate was not registered")
        if results.cancel_requested(session=session, job_id=job.id):
            raise TrainingCancelled
        found = registry.get_model(session=session, name=job.model)
        version = registry.add_version(
            session=session, model_id=found.id, artifact_path=str(saved.artifact_path),
            artifact_sha256=saved.artifact_sha256, created_by=job.requested_by,
            holdout_metrics=metrics, reference_sample=saved.reference_sample,
            train_window_start=saved.train_window_start,
            train_window_end=saved.train_window_end, notes=notes,
            training_fingerprint=saved.fingerprint, job_id=job.id)
        results.insert_training_rows(session=session, version_id=version.id, rows=trained)
        results.set_result_version(session=session, job_id=job.id, version_id=version.id)
        record(session=session, actor=job.requested_by, action="register_version",
               object_type="model_version", object_id=f"{job.model}:v{version.version}",
               details={"job": job.id, "artifact_sha256": saved.artifact_sha256,
                        "training_rows": len(trained), "preset": job.preset,
                        "holdout_accuracy": metrics["accuracy"], "notes": notes})
        ids = (version.id, version.version)
    reporter.committed = True
    reporter.log(f"registered {job.model} v{ids[1]} as a candidate")
    return ids


def _shadow_score(engine: Engine, job: jobs.Job, reporter: Reporter, version: int) -> None:
    """The new version answers the last :data:`SHADOW_DAYS` days of logged traffic, a
    chunk at a time, with the job's progress between chunks.

    Raises:
        TrainingCancelled: a cancel was requested (seen between two chunks); the version
            stays registered, whole, with the shadow scores written so far.
    """
    since = utcnow() - timedelta(days=SHADOW_DAYS)
    scored, step = 0, 0
    reporter.progress("shadow scoring", 88.0,
                      f"v{version} answers the last {SHADOW_DAYS} days of logged traffic")
    while True:
        if reporter.should_stop():
            raise TrainingCancelled
        done = shadow_score(engine=engine, actor=SYSTEM, model=job.model, version=version,
                            since=since, limit=5_000)
        scored += done.scored
        step += 1
        reporter.progress("shadow scoring", min(99.0, 88.0 + step), f"{scored:,} predictions "
                          f"of the last {SHADOW_DAYS} days scored by v{version}")
        if not done.more:
            break
    reporter.log(f"shadow-scored {scored:,} logged predictions with v{version}")
