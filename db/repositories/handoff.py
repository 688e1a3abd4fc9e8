"""Every SQL of a retrain job handed to an outside pipeline (``backend = 'webhook'``).

A worker claims a queued webhook job like a local one (:func:`db.repositories.jobs.claim`
with ``backend='webhook'``), stores the hash of the job's one-time callback token while it
holds the lease, delivers it, then *hands it off*: the job stays ``running`` with stage
``handed off``, no worker and no lease (so no worker's reaper fails it), and from then on
only a caller holding the token (or the command line, on the store) reports on it. Ending
such a job spends the token (its hash is cleared).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.lifecycle_models import RetrainJob
from db.models import ModelVersion
from db.repositories.registry import add_version

__all__ = [
    "HANDED_OFF",
    "HandedOff",
    "add_job_version",
    "end_handed_off",
    "hand_off",
    "handed_off",
    "overdue",
    "progress",
    "record_delivery",
    "set_token",
]

#: The stage of a job an outside pipeline works on (until it reports its own stages).
HANDED_OFF = "handed off"


@dataclass(frozen=True)
class HandedOff:
    """A handed-off job as a callback sees it: its model, window and stored token hash."""

    id: int
    model_id: int
    token_sha256: str
    window_start: datetime | None
    window_end: datetime | None
    cancel_requested: bool


def _held(job_id: int, worker_id: str) -> Any:
    return (RetrainJob.id == job_id, RetrainJob.worker_id == worker_id,
            RetrainJob.status == "running", RetrainJob.backend == "webhook")


def _pipeline(job_id: int) -> Any:
    """A running webhook job no worker holds any more: the pipeline's."""
    return (RetrainJob.id == job_id, RetrainJob.status == "running",
            RetrainJob.backend == "webhook", RetrainJob.lease_until.is_(None),
            RetrainJob.callback_token_sha256.is_not(None))


def set_token(*, session: Session, job_id: int, worker_id: str, token_sha256: str) -> bool:
    """Store the hash of the job's callback token; ``False`` when the worker lost the job."""
    done = session.execute(update(RetrainJob).where(*_held(job_id, worker_id))
                           .values(callback_token_sha256=token_sha256)
                           .execution_options(synchronize_session=False))
    return done.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def record_delivery(*, session: Session, job_id: int, delivery: dict[str, Any]) -> None:
    """Keep the delivery's result on the job (whatever its state)."""
    session.execute(update(RetrainJob).where(RetrainJob.id == job_id)
                    .values(delivery=delivery).execution_options(synchronize_session=False))


def hand_off(*, session: Session, job_id: int, worker_id: str, now: datetime,
             delivery: dict[str, Any]) -> bool:
    """The pipeline has the job: release the worker's lease and keep the delivery's result;
    ``False`` when the worker no longer held it (or the pipeline already ended it)."""
    done = session.execute(
        update(RetrainJob).where(*_held(job_id, worker_id))
        .values(worker_id=None, lease_until=None, heartbeat_at=now, stage=HANDED_OFF,
                percent=0.0, message="waiting for the pipeline's first report",
                delivery=delivery)
        .execution_options(synchronize_session=False))
    return done.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def handed_off(*, session: Session, job_id: int) -> HandedOff | None:
    """The job if it is handed off and still running, locked for this transaction on
    PostgreSQL (``FOR UPDATE``; SQLite: the write transaction) so a report and the end of
    the job cannot interleave."""
    stmt = select(RetrainJob).where(*_pipeline(job_id))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = session.scalars(stmt.execution_options(populate_existing=True)).first()
    if row is None or row.callback_token_sha256 is None:
        return None
    return HandedOff(id=row.id, model_id=row.model_id, token_sha256=row.callback_token_sha256,
                     window_start=row.window_start, window_end=row.window_end,
                     cancel_requested=bool(row.cancel_requested))


def progress(*, session: Session, job_id: int, now: datetime, stage: str, percent: float,
             message: str) -> bool:
    """Record the pipeline's progress on a handed-off job (its report is its heartbeat)."""
    done = session.execute(
        update(RetrainJob).where(*_pipeline(job_id))
        .values(stage=stage, percent=percent, message=message, heartbeat_at=now)
        .execution_options(synchronize_session=False))
    return done.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def end_handed_off(*, session: Session, job_id: int, now: datetime, status: str, error: str,
                   result_version_id: int | None) -> bool:
    """End a handed-off job and spend its token; ``False`` when it is not handed off."""
    values: dict[str, Any] = {"status": status, "error": error, "finished_at": now,
                              "heartbeat_at": now, "result_version_id": result_version_id,
                              "callback_token_sha256": None}
    if status == "succeeded":
        values.update(stage="done", percent=100.0, message="")
    done = session.execute(update(RetrainJob).where(*_pipeline(job_id)).values(**values)
                           .execution_options(synchronize_session=False))
    return done.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def overdue(*, session: Session, silent_since: datetime) -> list[tuple[int, bool,
                                                                      datetime | None]]:
    """Handed-off jobs to end: asked to cancel, or silent since before ``silent_since``:
    ``(id, cancel_requested, heartbeat_at)``."""
    rows = session.execute(
        select(RetrainJob.id, RetrainJob.cancel_requested, RetrainJob.heartbeat_at)
        .where(RetrainJob.status == "running", RetrainJob.backend == "webhook",
               RetrainJob.lease_until.is_(None),
               RetrainJob.cancel_requested.is_(True) | (RetrainJob.heartbeat_at < silent_since))
        .order_by(RetrainJob.id)).all()
    return [(int(r[0]), bool(r[1]), r[2]) for r in rows]


def add_job_version(*, session: Session, model_id: int, job_id: int, artifact_path: str,
                    artifact_sha256: str, created_by: str, holdout_metrics: dict[str, Any],
                    train_window_start: datetime | None, train_window_end: datetime | None,
                    notes: str, fingerprint: dict[str, Any] | None) -> ModelVersion:
    """Register the next version of the model as the job's candidate (flushed)."""
    version = add_version(session=session, model_id=model_id, artifact_path=artifact_path,
                          artifact_sha256=artifact_sha256, created_by=created_by,
                          holdout_metrics=holdout_metrics, train_window_start=train_window_start,
                          train_window_end=train_window_end, notes=notes)
    version.job_id = job_id
    version.training_fingerprint = fingerprint
    session.flush()
    return version
