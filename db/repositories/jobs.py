"""Every SQL of retrain jobs: queue, claim under a lease, renew, finish, reap, cancel, read.

A worker *claims* the oldest queued local job: on PostgreSQL ``SELECT ... FOR UPDATE SKIP
LOCKED LIMIT 1`` then an ``UPDATE``, so concurrent workers each lock a different row; on
SQLite (one writer at a time, ``BEGIN IMMEDIATE``) a conditional ``UPDATE ... WHERE id =
:id AND status = 'queued'`` whose row count says who won. Renewing, finishing and the
registration's check are conditional on the lease: ``worker_id`` and ``status = 'running'``
(a job reaped after its worker stopped answering is not that worker's any more). A second
queued-or-running job of a model fails on the partial unique index
``uq_retrain_jobs_active_model`` whatever the caller checked before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.lifecycle_models import ACTIVE_JOB_STATUSES, RetrainJob
from db.models import Model, ModelVersion

__all__ = [
    "LOG_MAX_CHARS",
    "LOG_MAX_LINES",
    "JobRow",
    "active_job",
    "append_log",
    "bounded_log",
    "cancel",
    "claim",
    "expired",
    "finish",
    "hold_lease",
    "insert_job",
    "job",
    "jobs",
    "reap",
    "renew",
]

#: A job's log keeps its newest lines: at most this many ...
LOG_MAX_LINES = 200
#: ... and at most this many characters.
LOG_MAX_CHARS = 20_000


@dataclass(frozen=True)
class JobRow:
    """A job's row, its model's name and the number of the version it produced."""

    row: RetrainJob
    model: str
    result_version: int | None


def _select() -> Any:
    return (select(RetrainJob, Model.name, ModelVersion.version)
            .join(Model, Model.id == RetrainJob.model_id)
            .outerjoin(ModelVersion, ModelVersion.id == RetrainJob.result_version_id)
            .execution_options(populate_existing=True))


def _job_row(found: Any) -> JobRow:
    return JobRow(found[0], str(found[1]), None if found[2] is None else int(found[2]))


def insert_job(*, session: Session, model_id: int, requested_by: str, preset: str,
               window_start: datetime, window_end: datetime, note: str, backend: str,
               params: dict[str, Any], created_at: datetime) -> RetrainJob:
    """Queue a job (flushed: a second active job of the model raises ``IntegrityError``)."""
    row = RetrainJob(model_id=model_id, status="queued", stage="queued", percent=0.0,
                     message="", params=params, requested_by=requested_by, preset=preset,
                     window_start=window_start, window_end=window_end, note=note,
                     backend=backend, created_at=created_at, error="", log="",
                     cancel_requested=False)
    session.add(row)
    session.flush()
    return row


def job(*, session: Session, job_id: int) -> JobRow | None:
    """One job with its model's name, as committed (or as this transaction sees it)."""
    found = session.execute(_select().where(RetrainJob.id == job_id)).first()
    return None if found is None else _job_row(found)


def jobs(*, session: Session, model_id: int | None, limit: int) -> list[JobRow]:
    """Jobs (of one model, or all), newest first."""
    stmt = _select().order_by(RetrainJob.created_at.desc(), RetrainJob.id.desc()).limit(limit)
    if model_id is not None:
        stmt = stmt.where(RetrainJob.model_id == model_id)
    return [_job_row(r) for r in session.execute(stmt)]


def active_job(*, session: Session, model_id: int) -> JobRow | None:
    """The model's queued or running job, if any."""
    found = session.execute(_select().where(
        RetrainJob.model_id == model_id, RetrainJob.status.in_(ACTIVE_JOB_STATUSES))).first()
    return None if found is None else _job_row(found)


def _queued_ids(session: Session, backend: str) -> list[int]:
    """Queued jobs of ``backend``, oldest first; on PostgreSQL the first not locked by
    another claim, locked now (``FOR UPDATE SKIP LOCKED``)."""
    stmt = (select(RetrainJob.id)
            .where(RetrainJob.status == "queued", RetrainJob.backend == backend,
                   RetrainJob.cancel_requested.is_(False))
            .order_by(RetrainJob.created_at, RetrainJob.id))
    if session.get_bind().dialect.name == "postgresql":
        return list(session.scalars(stmt.limit(1).with_for_update(skip_locked=True)))
    return list(session.scalars(stmt.limit(10)))


def claim(*, session: Session, worker_id: str, now: datetime, lease_until: datetime,
          backend: str = "local") -> int | None:
    """Make the oldest queued job of ``backend`` this worker's, running under a lease until
    ``lease_until``; its id, or ``None`` when none is queued (or every one was taken)."""
    for job_id in _queued_ids(session, backend):
        taken = session.execute(
            update(RetrainJob)
            .where(RetrainJob.id == job_id, RetrainJob.status == "queued")
            .values(status="running", worker_id=worker_id, lease_until=lease_until,
                    started_at=now, heartbeat_at=now, stage="loading data", percent=0.0,
                    message="")
            .execution_options(synchronize_session=False))
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return job_id
    return None


def _held(job_id: int, worker_id: str) -> Any:
    return (RetrainJob.id == job_id, RetrainJob.worker_id == worker_id,
            RetrainJob.status == "running")


def renew(*, session: Session, job_id: int, worker_id: str, now: datetime,
          lease_until: datetime, stage: str, percent: float, message: str) -> bool | None:
    """Record progress and extend the lease of a job this worker holds.

    Returns:
        Whether a cancel was requested; ``None`` when the worker no longer holds the job.
    """
    done = session.execute(
        update(RetrainJob).where(*_held(job_id, worker_id))
        .values(stage=stage, percent=percent, message=message, heartbeat_at=now,
                lease_until=lease_until)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return bool(session.scalar(select(RetrainJob.cancel_requested)
                               .where(RetrainJob.id == job_id)))


def extend(*, session: Session, job_id: int, worker_id: str, now: datetime,
           lease_until: datetime) -> bool | None:
    """Extend the lease of a job this worker holds, its progress unchanged.

    Returns:
        Whether a cancel was requested; ``None`` when the worker no longer holds the job.
    """
    done = session.execute(
        update(RetrainJob).where(*_held(job_id, worker_id))
        .values(heartbeat_at=now, lease_until=lease_until)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return bool(session.scalar(select(RetrainJob.cancel_requested)
                               .where(RetrainJob.id == job_id)))


def hold_lease(*, session: Session, job_id: int, worker_id: str, now: datetime) -> bool:
    """Whether this worker still holds the job's unexpired lease, the row locked until the
    caller's transaction ends (PostgreSQL ``FOR UPDATE``; SQLite: the write transaction),
    so a registration made in that transaction cannot race the reaper."""
    stmt = select(RetrainJob.lease_until).where(*_held(job_id, worker_id))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    until = session.scalar(stmt)
    return until is not None and until > now


def bounded_log(text: str) -> str:
    """The newest :data:`LOG_MAX_LINES` lines of ``text``, at most :data:`LOG_MAX_CHARS`
    characters (cut at a line start where one is in reach)."""
    lines = text.splitlines()[-LOG_MAX_LINES:]
    kept = "\n".join(lines)
    if len(kept) > LOG_MAX_CHARS:
        kept = kept[-LOG_MAX_CHARS:]
        cut = kept.find("\n")
        kept = kept[cut + 1:] if 0 <= cut < len(kept) - 1 else kept
    return kept


def append_log(*, session: Session, job_id: int, text: str) -> None:
    """Add ``text`` (one or more lines) to the end of the job's log, keeping it bounded."""
    if not text:
        return
    old = session.scalar(select(RetrainJob.log).where(RetrainJob.id == job_id)) or ""
    joined = f"{old}\n{text.rstrip(chr(10))}" if old else text.rstrip("\n")
    session.execute(update(RetrainJob).where(RetrainJob.id == job_id)
                    .values(log=bounded_log(joined))
                    .execution_options(synchronize_session=False))


def finish(*, session: Session, job_id: int, worker_id: str, now: datetime, status: str,
           error: str, result_version_id: int | None, done_stage: str | None) -> bool:
    """End a job this worker holds (``done_stage``: set the stage to it at 100 %, else the
    last stage reported stays); ``False`` when it no longer holds it."""
    values: dict[str, Any] = {
        "status": status, "error": error, "result_version_id": result_version_id,
        "finished_at": now, "heartbeat_at": now, "lease_until": None}
    if done_stage is not None:
        values.update(stage=done_stage, percent=100.0)
    done = session.execute(
        update(RetrainJob).where(*_held(job_id, worker_id)).values(**values)
        .execution_options(synchronize_session=False))
    return done.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def expired(*, session: Session, now: datetime) -> list[tuple[int, datetime | None]]:
    """Running jobs whose lease ended before ``now``: ``(id, heartbeat_at)``."""
    rows = session.execute(
        select(RetrainJob.id, RetrainJob.heartbeat_at)
        .where(RetrainJob.status == "running", RetrainJob.lease_until.is_not(None),
               RetrainJob.lease_until < now)
        .order_by(RetrainJob.id)).all()
    return [(int(r[0]), r[1]) for r in rows]


def reap(*, session: Session, job_id: int, now: datetime, error: str) -> bool:
    """Fail a running job whose lease ended before ``now`` (still so when this runs)."""
    done = session.execute(
        update(RetrainJob)
        .where(RetrainJob.id == job_id, RetrainJob.status == "running",
               RetrainJob.lease_until < now)
        .values(status="failed", error=error, finished_at=now, lease_until=None)
        .execution_options(synchronize_session=False))
    return done.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def cancel(*, session: Session, job_id: int, now: datetime) -> str | None:
    """Cancel a queued job at once, or ask a running one to stop.

    Returns:
        ``"cancelled"`` or ``"requested"``; ``None`` when the job is not active any more.
    """
    done = session.execute(
        update(RetrainJob).where(RetrainJob.id == job_id, RetrainJob.status == "queued")
        .values(status="cancelled", cancel_requested=True, finished_at=now, error="")
        .execution_options(synchronize_session=False))
    if done.rowcount == 1:  # type: ignore[attr-defined]
        return "cancelled"
    done = session.execute(
        update(RetrainJob).where(RetrainJob.id == job_id, RetrainJob.status == "running")
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False))
    return "requested" if done.rowcount == 1 else None  # type: ignore[attr-defined]
