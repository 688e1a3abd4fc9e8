"""Registering a retrain job's result: the lease check, the trained-on rows, the job's link.

Everything here runs inside the caller's write transaction, so a version, its training rows
and the job's ``result_version_id`` are written together with the check that the job is
still held, or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from db.models import RetrainJob, VersionTrainingRow

__all__ = [
    "cancel_requested",
    "insert_training_rows",
    "renew_to_register",
    "set_result_version",
    "training_row_count",
]

# Rows per INSERT statement: well below SQLite's bound-parameter limit (3 columns a row).
_CHUNK = 5_000


def renew_to_register(*, session: Session, job_id: int, worker_id: str, now: datetime,
                      lease_seconds: float, stage: str) -> bool:
    """Renew the lease of a running job this worker holds, and say whether it held it.

    One conditional ``UPDATE`` (the job is running, held by ``worker_id`` and its lease
    has not run out at ``now``): it also takes the job's row lock, so a reaper waiting
    behind it finds the lease renewed, and a job it already failed is never written.

    Returns:
        Whether the job is still this worker's (one row changed).
    """
    result = session.execute(
        update(RetrainJob)
        .where(RetrainJob.id == job_id, RetrainJob.worker_id == worker_id,
               RetrainJob.status == "running", RetrainJob.lease_until > now)
        .values(lease_until=now + timedelta(seconds=lease_seconds), heartbeat_at=now,
                stage=stage)
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0) == 1


def cancel_requested(*, session: Session, job_id: int) -> bool:
    """Whether someone asked the job to stop."""
    return bool(session.scalar(select(RetrainJob.cancel_requested)
                               .where(RetrainJob.id == job_id)))


def insert_training_rows(*, session: Session, version_id: int,
                         rows: Sequence[tuple[str, int]]) -> int:
    """Store which labelled predictions (with their label revisions) a version was trained
    on; ``rows`` are ``(prediction_id, revision)``. Returns how many were written."""
    for start in range(0, len(rows), _CHUNK):
        session.connection().execute(insert(VersionTrainingRow), [
            {"version_id": version_id, "prediction_id": pid, "revision": revision}
            for pid, revision in rows[start:start + _CHUNK]])
    return len(rows)


def set_result_version(*, session: Session, job_id: int, version_id: int) -> None:
    """Name the version a job produced."""
    session.execute(update(RetrainJob).where(RetrainJob.id == job_id)
                    .values(result_version_id=version_id)
                    .execution_options(synchronize_session=False))


def training_row_count(*, session: Session, version_id: int) -> int:
    """How many predictions a version was trained on (0 for one not trained here)."""
    return int(session.scalar(select(func.count()).select_from(VersionTrainingRow)
                              .where(VersionTrainingRow.version_id == version_id)) or 0)
