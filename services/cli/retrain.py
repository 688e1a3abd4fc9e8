"""``retrain``, ``jobs`` and ``cancel``: the command line of :mod:`services.retrain.jobs`.

The same checks and audit entries as the Models page (acting as the local admin ``cli``):
``retrain`` queues a job for the worker (``--wait`` follows it to its end: exit status 0
when it succeeded, :data:`EXIT_JOB_FAILED` when it failed or was cancelled), ``jobs``
lists jobs newest first, ``cancel`` stops one.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from services.cli.common import CliError, Command, checked_engine, parse_time

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from services.retrain.jobs import Job
    from services.settings import Settings

__all__ = ["COMMANDS", "EXIT_JOB_FAILED", "add_parsers", "exit_status"]

#: Exit status of ``retrain --wait`` when the job failed or was cancelled.
EXIT_JOB_FAILED = 1
#: Seconds between two looks at a job ``--wait`` follows.
POLL_SECONDS = 0.5

_RETRAIN_EPILOG = """\
Trains on the labelled predictions of the window (by prediction time; default: from the
day the inputs began drifting, as the Drift page says, else the last 14 days) and registers
a candidate version for `promote`. The worker (python -m services.worker) runs the job;
this command only queues it, after the same checks as the Models page: a class with fewer
labelled rows in the window than OPSDASH_RETRAIN_MIN_PER_CLASS is refused, a model whose
artifact is not held here retrains only through the hand-off, and a model has at most one
queued or running job (the message says which runs, who started it and since when).
--preset same keeps production's parameters; search runs a bounded cross-validated grid
search. --wait prints the job's stage and percent until it ends: exit status 0 when it
succeeded, 1 when it failed or was cancelled (Ctrl-C stops the waiting, not the job).
Acts as the local admin `cli`; audited as retrain_requested.
"""


def add_parsers(sub: Any) -> None:
    """Add ``retrain``, ``jobs`` and ``cancel`` to the subcommands ``sub``."""
    raw = argparse.RawDescriptionHelpFormatter
    text = "queue a retrain of a model on the labelled predictions of a window"
    p: argparse.ArgumentParser = sub.add_parser("retrain", help=text, description=text,
                                                epilog=_RETRAIN_EPILOG, formatter_class=raw)
    p.add_argument("--model", required=True, help="model name (see `models`)")
    p.add_argument("--since", help="window start (ISO 8601; UTC if no offset)")
    p.add_argument("--until", help="window end (default: now); needs --since")
    p.add_argument("--preset", choices=("same", "search"), default="same",
                   help="same: production's parameters (default); search: a grid search")
    p.add_argument("--note", default="", help="a note kept with the job")
    p.add_argument("--wait", action="store_true", help="follow the job until it ends")
    p.add_argument("--json", action="store_true", help="print the job as JSON")
    p.set_defaults(exit_status=exit_status)

    text = "retrain jobs, newest first: status, stage, progress, who, duration, version"
    p = sub.add_parser("jobs", help=text, description=text)
    p.add_argument("--model", help="only this model's jobs")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument("--json", action="store_true", help="print the jobs as JSON")

    text = "cancel a retrain job: a queued one at once, a running one within seconds"
    p = sub.add_parser("cancel", help=text, description=text,
                       epilog="Acts as the local admin `cli`; audited as retrain_cancelled.")
    p.add_argument("job", type=int, help="the job's id (see `jobs`)")
    p.add_argument("--json", action="store_true", help="print the job as JSON")


def exit_status(args: argparse.Namespace, result: dict[str, Any]) -> int:
    """:data:`EXIT_JOB_FAILED` when ``--wait`` saw the job fail or be cancelled, else 0."""
    if args.wait and result.get("status") != "succeeded":
        return EXIT_JOB_FAILED
    return 0


def _user_errors() -> tuple[type[Exception], ...]:
    """What the job calls raise for the user to fix (imported when a command runs)."""
    from db.repositories.registry import RegistryError
    from services.drift.config import DriftConfigError
    from services.retrain.data import TrainingDataError
    from services.retrain.jobs import JobConflictError

    return RegistryError, TrainingDataError, JobConflictError, DriftConfigError, LookupError


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def job_json(job: Job) -> dict[str, Any]:
    """A job as JSON values."""
    return {"id": job.id, "model": job.model, "status": job.status, "stage": job.stage,
            "percent": job.percent, "message": job.message, "preset": job.preset,
            "backend": job.backend, "window_start": _iso(job.window_start),
            "window_end": _iso(job.window_end), "note": job.note,
            "requested_by": job.requested_by, "created_at": _iso(job.created_at),
            "started_at": _iso(job.started_at), "finished_at": _iso(job.finished_at),
            "heartbeat_at": _iso(job.heartbeat_at), "cancel_requested": job.cancel_requested,
            "result_version": job.result_version, "error": job.error, "log": job.log,
            "delivery": job.delivery}


def _window(args: argparse.Namespace, settings: Settings, engine: Engine) -> tuple[Any, Any]:
    from db.base import utcnow
    from services.retrain.window import suggested_window

    since, until = parse_time(args.since, "--since"), parse_time(args.until, "--until")
    if since is None and until is not None:
        raise CliError("--until needs --since (without both, the default window is used)")
    now = utcnow()
    if since is not None:
        return since, until or now
    window = suggested_window(engine=engine, settings=settings, model=args.model, now=now)
    return window.start, window.end


def _run_retrain(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.access import CLI
    from services.retrain.jobs import start_retrain

    with checked_engine(settings) as engine:
        try:
            start, end = _window(args, settings, engine)
            job = start_retrain(engine=engine, actor=CLI, model=args.model, start=start,
                                end=end, preset=args.preset, note=args.note,
                                min_per_class=settings.retrain_min_per_class,
                                backend=settings.retrain_backend)
        except _user_errors() as exc:
            raise CliError(str(exc)) from None
        if args.wait:
            job = _follow(engine, job, sys.stderr if args.json else sys.stdout,
                          hint_after=2 * settings.retrain_lease_seconds)
    return job_json(job)


def _line(job: Job) -> str:
    detail = f" ({job.message})" if job.message else ""
    return f"job {job.id}: {job.status}, {job.stage} {job.percent:.0f} %{detail}"


def _follow(engine: Engine, job: Job, out: Any, *, hint_after: float) -> Job:
    """Poll the job until it ends, printing each new stage/percent line to ``out`` (and,
    once, a hint when no worker took a local job within ``hint_after`` seconds)."""
    from services.retrain.jobs import get_job

    shown, since = "", time.monotonic()
    hinted = job.backend != "local"
    try:
        while True:
            line = _line(job)
            if line != shown:
                print(line, file=out, flush=True)
                shown = line
            if not job.active:
                return job
            if not hinted and job.status == "queued" and time.monotonic() - since > hint_after:
                print(f"no worker has taken job {job.id} yet: is `python -m services.worker` "
                      "running?", file=out, flush=True)
                hinted = True
            time.sleep(POLL_SECONDS)
            job = get_job(engine=engine, job_id=job.id)
    except KeyboardInterrupt:
        raise CliError(f"stopped waiting; job {job.id} goes on (`jobs`, `cancel "
                       f"{job.id}`)") from None


def _run_jobs(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.retrain.jobs import list_jobs

    if args.limit < 1:
        raise CliError(f"--limit must be at least 1, got {args.limit}")
    with checked_engine(settings) as engine:
        try:
            jobs = list_jobs(engine=engine, model=args.model, limit=args.limit)
        except _user_errors() as exc:
            raise CliError(str(exc)) from None
    return {"model": args.model, "jobs": [job_json(j) for j in jobs]}


def _run_cancel(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.access import CLI
    from services.retrain.jobs import cancel_job, get_job

    with checked_engine(settings) as engine:
        try:
            was_active = get_job(engine=engine, job_id=args.job).active
            job = cancel_job(engine=engine, actor=CLI, job_id=args.job)
        except _user_errors() as exc:
            raise CliError(str(exc)) from None
    return job_json(job) | {"already_ended": not was_active}


def _duration(job: dict[str, Any]) -> str:
    from datetime import UTC, datetime

    if job["started_at"] is None:
        return "-"
    end = (datetime.fromisoformat(job["finished_at"]) if job["finished_at"]
           else datetime.now(UTC))
    seconds = int((end - datetime.fromisoformat(job["started_at"])).total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _print_job(job: dict[str, Any]) -> None:
    version = f"v{job['result_version']}" if job["result_version"] else "-"
    print(f"job {job['id']}  {job['model']}  {job['status']:<9} {job['stage']} "
          f"{job['percent']:.0f} %  by {job['requested_by']}  {job['created_at'][:19]}  "
          f"{_duration(job)}  {version}")


def _print_retrain(job: dict[str, Any]) -> None:
    if job["status"] == "queued":
        print(f"job {job['id']} queued: retrain {job['model']} ({job['preset']}) on "
              f"{job['window_start'][:16]} to {job['window_end'][:16]}; follow it with "
              f"`jobs --model {job['model']}`")
    elif job["status"] == "succeeded":
        print(f"job {job['id']} succeeded: {job['model']} v{job['result_version']} is a "
              "candidate; judge it with `promote --dry-run`")
    else:
        why = f": {job['error']}" if job["error"] else ""
        print(f"job {job['id']} {job['status']}{why}")


def _print_jobs(result: dict[str, Any]) -> None:
    if not result["jobs"]:
        print("no retrain jobs" + (f" of {result['model']}" if result["model"] else ""))
    for job in result["jobs"]:
        _print_job(job)


def _print_cancel(job: dict[str, Any]) -> None:
    if job["already_ended"]:
        print(f"job {job['id']} already ended ({job['status']}); nothing to cancel")
    elif job["status"] == "running":
        print(f"job {job['id']} asked to stop; the worker stops it within seconds")
    else:
        print(f"job {job['id']} {job['status']}")


#: ``(run, show)`` of each subcommand, for the command table of :mod:`services.cli.main`.
COMMANDS: dict[str, Command] = {
    "retrain": (_run_retrain, _print_retrain),
    "jobs": (_run_jobs, _print_jobs),
    "cancel": (_run_cancel, _print_cancel),
}
