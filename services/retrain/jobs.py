"""Retrain jobs: rows in the store that the dashboard, the command line and the worker share.

The dashboard and the command line *request* (``start_retrain``, ``cancel_job``) and *read*
(``list_jobs``, ``get_job``); the worker *runs* (``claim_next``, ``report``, ``finish``,
``reap_expired``). A job is claimed under a lease (``worker_id`` + ``lease_until``); a
heartbeat renews it; a job whose lease expired is failed by the next worker that looks.
At most one job per model is queued or running (the store enforces it, not only the page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from db.base import utcnow
from db.repositories import jobs as jobs_repo
from db.repositories import registry
from db.repositories.registry import RegistryError
from db.session import session_scope
from services.access import Action, Principal, require
from services.audit import record
from services.registry.artifacts import sha256_of
from services.retrain.data import TrainingDataError, check_window, class_counts

__all__ = [
    "JOB_OBJECT",
    "STAGES",
    "Job",
    "JobConflictError",
    "JobStatus",
    "LeaseLostError",
    "cancel_job",
    "claim_next",
    "finish",
    "get_job",
    "keep_alive",
    "list_jobs",
    "reap_expired",
    "report",
    "start_retrain",
]

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
#: Stages a job goes through, in order (``search fold k of n`` is reported as ``training``
#: with the fold in its message).
STAGES = ("queued", "loading data", "training", "evaluating", "registering",
          "shadow scoring", "done")
#: The audit log's object type of a job (object id: the job's id).
JOB_OBJECT = "retrain_job"
Preset = Literal["same", "search"]
Backend = Literal["local", "webhook"]


class JobConflictError(RuntimeError):
    """Another job of the model is queued or running; ``job`` is that job (who, since when)."""

    def __init__(self, message: str, job: Job) -> None:
        super().__init__(message)
        self.job = job


class LeaseLostError(RuntimeError):
    """The worker no longer holds the job (its lease expired and another worker failed it)."""


@dataclass(frozen=True)
class Job:
    """One retrain job as pages and commands show it."""

    id: int
    model: str
    status: JobStatus
    stage: str
    percent: float  # 0 to 100
    message: str  # e.g. "search fold 3 of 40"
    preset: Preset
    window_start: datetime
    window_end: datetime
    note: str
    backend: Backend
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    cancel_requested: bool
    result_version: int | None
    error: str
    log: str  # the job's log, newest lines last (bounded)
    #: A webhook job's delivery: ``{"delivered", "status", "attempts", "error", "at"}``.
    delivery: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ("queued", "running")


def _job(found: jobs_repo.JobRow) -> Job:
    row = found.row
    return Job(
        id=row.id, model=found.model, status=row.status,  # type: ignore[arg-type]
        stage=row.stage, percent=float(row.percent), message=row.message,
        preset=row.preset, window_start=row.window_start,  # type: ignore[arg-type]
        window_end=row.window_end,  # type: ignore[arg-type]
        note=row.note, backend=row.backend,  # type: ignore[arg-type]
        requested_by=row.requested_by, created_at=row.created_at, started_at=row.started_at,
        finished_at=row.finished_at, heartbeat_at=row.heartbeat_at,
        cancel_requested=bool(row.cancel_requested), result_version=found.result_version,
        error=row.error, log=row.log, delivery=row.delivery)


def _when(at: datetime | None) -> str:
    return "an unknown time" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _conflict(job: Job) -> JobConflictError:
    since = job.started_at if job.status == "running" else job.created_at
    return JobConflictError(
        f"{job.model} already has a retrain job: job {job.id}, {job.status} since "
        f"{_when(since)}, started by {job.requested_by}; wait for it or cancel it", job)


def _check_artifact(engine: Engine, model: str) -> None:
    """A local retrain starts from the production version's pipeline: it must be an
    artifact we hold, intact (its sha256 checked, nothing unpickled)."""
    with session_scope(engine) as session:
        row = registry.get_model(session=session, name=model)
        version = registry.production_version(session=session, model_id=row.id)
        facts = None if version is None else (version.version, version.artifact_path,
                                              version.artifact_sha256)
    if facts is None:
        raise RegistryError(f"{model} has no production version to retrain from; "
                            "promote one first")
    number, path, sha256 = facts
    elsewhere = ("; a model served elsewhere retrains through the hand-off to its own "
                 "pipeline (OPSDASH_RETRAIN_BACKEND=webhook)")
    if not path or not sha256:
        raise RegistryError(f"{model} v{number} has no artifact here{elsewhere}")
    try:
        intact = sha256_of(Path(path)) == sha256
    except OSError as exc:
        raise RegistryError(f"{model} v{number}'s artifact cannot be read "
                            f"({exc.strerror or exc}){elsewhere}") from None
    if not intact:
        raise RegistryError(f"{model} v{number}'s artifact does not match its registered "
                            f"sha256{elsewhere}")


def start_retrain(*, engine: Engine, actor: Principal, model: str, start: datetime,
                  end: datetime, preset: Preset, note: str = "", min_per_class: int,
                  backend: Backend = "local") -> Job:
    """Queue a retrain of ``model`` on the labelled feedback of ``[start, end)``; audited.

    Raises:
        PermissionDenied: ``actor`` may not retrain.
        TrainingDataError: the window is empty or holds too few labelled rows of a class.
        JobConflictError: a job of this model is queued or running.
        RegistryError: no such model, or it has no artifact we hold (local backend).
        ValueError: an unknown preset or backend (the page and the command offer only
            the known ones).
    """
    require(actor, Action.RETRAIN)
    if preset not in ("same", "search") or backend not in ("local", "webhook"):
        raise ValueError(f"unknown preset {preset!r} or backend {backend!r}")
    if not start < end:
        raise TrainingDataError("the training window is empty: its start must come before "
                                "its end")
    with session_scope(engine) as session:
        found = registry.get_model(session=session, name=model)
        model_id, classes = found.id, list(found.class_labels)
        active = jobs_repo.active_job(session=session, model_id=model_id)
    if active is not None:  # said before the heavier checks
        raise _conflict(_read(engine, active.row.id))
    if backend == "local":
        _check_artifact(engine, model)
    counts = class_counts(engine, model, start, end)
    check_window(counts, classes, min_per_class)
    try:
        job_id = _insert(engine, actor=actor, model=model, model_id=model_id, start=start,
                         end=end, preset=preset, note=note, backend=backend, counts=counts)
    except _Taken as taken:
        raise _conflict(_read(engine, taken.job_id)) from None
    return _read(engine, job_id)


class _Taken(Exception):  # noqa: N818  (internal: another active job won)
    def __init__(self, job_id: int) -> None:
        super().__init__(job_id)
        self.job_id = job_id


def _insert(engine: Engine, *, actor: Principal, model: str, model_id: int,
            start: datetime, end: datetime, preset: str, note: str, backend: str,
            counts: dict[str, int]) -> int:
    """Insert the job and its audit entry in one transaction; :class:`_Taken` when the
    model has an active job (seen first, or refused by the unique index in a race)."""
    try:
        with session_scope(engine, write=True) as session:
            active = jobs_repo.active_job(session=session, model_id=model_id)
            if active is not None:
                raise _Taken(active.row.id)
            now = utcnow()
            row = jobs_repo.insert_job(
                session=session, model_id=model_id, requested_by=actor.username,
                preset=preset, window_start=start, window_end=end, note=note,
                backend=backend, params={"class_counts": counts}, created_at=now)
            record(session=session, actor=actor.username, action="retrain_requested",
                   object_type=JOB_OBJECT, object_id=str(row.id), at=now,
                   details={"model": model, "preset": preset, "backend": backend,
                            "window_start": start.isoformat(), "window_end": end.isoformat(),
                            "note": note, "class_counts": counts})
            return row.id
    except IntegrityError:
        with session_scope(engine) as session:
            active = jobs_repo.active_job(session=session, model_id=model_id)
        if active is None:
            raise
        raise _Taken(active.row.id) from None


def _read(engine: Engine, job_id: int) -> Job:
    with session_scope(engine) as session:
        found = jobs_repo.job(session=session, job_id=job_id)
    if found is None:
        raise LookupError(f"there is no retrain job {job_id}")
    return _job(found)


def cancel_job(*, engine: Engine, actor: Principal, job_id: int) -> Job:
    """Ask a job to stop: a queued job is cancelled at once, a running one within seconds.

    A job that already ended is returned as it is (nothing to stop, nothing audited).

    Raises:
        PermissionDenied: ``actor`` may not retrain.
        LookupError: there is no such job.
    """
    require(actor, Action.RETRAIN)
    with session_scope(engine, write=True) as session:
        found = jobs_repo.job(session=session, job_id=job_id)
        if found is None:
            raise LookupError(f"there is no retrain job {job_id}")
        now = utcnow()
        outcome = jobs_repo.cancel(session=session, job_id=job_id, now=now)
        if outcome is not None:
            record(session=session, actor=actor.username, action="retrain_cancelled",
                   object_type=JOB_OBJECT, object_id=str(job_id), at=now,
                   details={"model": found.model, "was": found.row.status,
                            "outcome": outcome})
            if outcome == "cancelled":
                jobs_repo.append_log(session=session, job_id=job_id,
                                     text=f"cancelled by {actor.username} before it started")
    return _read(engine, job_id)


def list_jobs(*, engine: Engine, model: str | None = None, limit: int = 50) -> list[Job]:
    """Jobs, newest first.

    Raises:
        RegistryError: ``model`` is given and there is no such model.
    """
    with session_scope(engine) as session:
        model_id = None if model is None else registry.get_model(session=session, name=model).id
        rows = jobs_repo.jobs(session=session, model_id=model_id, limit=limit)
    return [_job(r) for r in rows]


def get_job(*, engine: Engine, job_id: int) -> Job:
    """One job. Raises LookupError when there is none."""
    return _read(engine, job_id)


def claim_next(*, engine: Engine, worker_id: str, lease_seconds: float,
               backend: Backend = "local") -> Job | None:
    """Claim the oldest queued job of ``backend`` (local: to train; webhook: to deliver)
    atomically (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)."""
    with session_scope(engine, write=True) as session:
        now = utcnow()
        job_id = jobs_repo.claim(session=session, worker_id=worker_id, now=now,
                                 lease_until=now + timedelta(seconds=lease_seconds),
                                 backend=backend)
        if job_id is not None:
            jobs_repo.append_log(session=session, job_id=job_id,
                                 text=f"{_stamp(now)} claimed by worker {worker_id}")
    return None if job_id is None else _read(engine, job_id)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%H:%M:%S")


def report(*, engine: Engine, job_id: int, worker_id: str, stage: str, percent: float,
           message: str = "", log: str = "", lease_seconds: float) -> bool:
    """Record progress and renew the lease; returns whether a cancel was requested.

    ``log`` (one or more lines) is added to the job's log, which keeps its newest
    :data:`db.repositories.jobs.LOG_MAX_LINES` lines (at most
    :data:`db.repositories.jobs.LOG_MAX_CHARS` characters).

    Raises:
        LeaseLostError: the job is no longer this worker's.
    """
    with session_scope(engine, write=True) as session:
        now = utcnow()
        cancel = jobs_repo.renew(session=session, job_id=job_id, worker_id=worker_id, now=now,
                                 lease_until=now + timedelta(seconds=lease_seconds),
                                 stage=stage, percent=max(0.0, min(100.0, float(percent))),
                                 message=message)
        if cancel is None:
            raise LeaseLostError(_lost(job_id, worker_id))
        jobs_repo.append_log(session=session, job_id=job_id, text=log)
    return cancel


def keep_alive(*, engine: Engine, job_id: int, worker_id: str, lease_seconds: float) -> bool:
    """Renew the lease of a job whose training process this worker watches alive.

    The worker's own heartbeat: a child that is slow to start (imports on a loaded machine)
    or busy in a step that reports nothing keeps its job while its worker lives. Returns
    whether a cancel was requested.

    Raises:
        LeaseLostError: the job is no longer this worker's.
    """
    with session_scope(engine, write=True) as session:
        now = utcnow()
        cancel = jobs_repo.extend(session=session, job_id=job_id, worker_id=worker_id, now=now,
                                  lease_until=now + timedelta(seconds=lease_seconds))
    if cancel is None:
        raise LeaseLostError(_lost(job_id, worker_id))
    return cancel


def _lost(job_id: int, worker_id: str) -> str:
    return (f"retrain job {job_id} is no longer worker {worker_id}'s (it was reaped after "
            "its lease expired, or it ended); stop working on it")


def finish(*, engine: Engine, job_id: int, worker_id: str,
           status: Literal["succeeded", "failed", "cancelled"], error: str = "",
           result_version_id: int | None = None) -> None:
    """End a job this worker holds. Raises LeaseLostError when it no longer holds it.

    Raises:
        ValueError: a job succeeds without the version it produced, or fails without a
            reason.
        LeaseLostError: the job is no longer this worker's.
    """
    if status == "succeeded" and result_version_id is None:
        raise ValueError("a retrain job succeeds only with the version it produced")
    if status not in ("succeeded", "failed", "cancelled"):
        raise ValueError(f"a job ends succeeded, failed or cancelled, not {status!r}")
    with session_scope(engine, write=True) as session:
        now = utcnow()
        held = jobs_repo.finish(session=session, job_id=job_id, worker_id=worker_id, now=now,
                                status=status, error=error,
                                result_version_id=result_version_id,
                                done_stage="done" if status == "succeeded" else None)
        if not held:
            raise LeaseLostError(_lost(job_id, worker_id))
        jobs_repo.append_log(session=session, job_id=job_id, text=f"{_stamp(now)} {status}"
                             + (f": {error}" if error else ""))


def reap_expired(*, engine: Engine, now: datetime | None = None) -> list[int]:
    """Fail running jobs whose lease expired (their worker died); returns their ids."""
    at = now or utcnow()
    reaped: list[int] = []
    with session_scope(engine, write=True) as session:
        for job_id, heartbeat in jobs_repo.expired(session=session, now=at):
            error = (f"the worker stopped answering (no heartbeat since {_when(heartbeat)}); "
                     "the job was not finished and registered nothing")
            if jobs_repo.reap(session=session, job_id=job_id, now=at, error=error):
                jobs_repo.append_log(session=session, job_id=job_id,
                                     text=f"{_stamp(at)} failed: {error}")
                reaped.append(job_id)
    return reaped
