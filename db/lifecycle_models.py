"""Tables of the model lifecycle: retrain jobs and what a version was trained on.

Split from :mod:`db.models` (which re-exports them) to keep each module readable. A retrain
job is a row every dashboard replica and worker sees; a worker holds it under a lease
(``worker_id`` + ``lease_until``). At most one job per model is queued or running: a partial
unique index says so, so the store refuses a second one whatever the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, in_check, utcnow

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "JOB_BACKENDS",
    "JOB_PRESETS",
    "JOB_STATUSES",
    "RetrainJob",
    "VersionTrainingRow",
]

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
#: A model has at most one job in these statuses.
ACTIVE_JOB_STATUSES = ("queued", "running")
JOB_PRESETS = ("same", "search")
JOB_BACKENDS = ("local", "webhook")
_ACTIVE = in_check("status", ACTIVE_JOB_STATUSES)


class RetrainJob(Base):
    """A queued, running or finished retraining run, executed by the worker (or a pipeline
    the job was handed to: ``backend = 'webhook'``)."""

    __tablename__ = "retrain_jobs"
    __table_args__ = (
        CheckConstraint(in_check("status", JOB_STATUSES), name="status"),
        # Migration 0013: one queued-or-running job per model, whoever inserts it.
        Index("uq_retrain_jobs_active_model", "model_id", unique=True,
              sqlite_where=text(_ACTIVE), postgresql_where=text(_ACTIVE)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requested_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    error: Mapped[str] = mapped_column(Text, default="")
    log: Mapped[str] = mapped_column(Text, default="")
    # Migration 0013: progress, the request, the lease, cancel and the hand-off.
    #: ``queued``, ``loading data``, ``training``, ... (``services.retrain.jobs.STAGES``).
    stage: Mapped[str] = mapped_column(String(40), default="queued", server_default="queued")
    percent: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    #: The stage's detail, e.g. "search fold 3 of 40".
    message: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: ``same`` (production's parameters) or ``search`` (a bounded grid search).
    preset: Mapped[str] = mapped_column(String(20), default="same", server_default="same")
    #: The labelled feedback of ``[window_start, window_end)`` is the training data.
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: ``local`` (our worker trains) or ``webhook`` (handed to an orchestrator).
    backend: Mapped[str] = mapped_column(String(20), default="local", server_default="local")
    #: The worker holding the job, until ``lease_until`` (renewed by its heartbeat).
    worker_id: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False,
                                                   server_default=text("false"))
    #: sha256 of the webhook job's one-time callback token (the token itself is never kept).
    callback_token_sha256: Mapped[str | None] = mapped_column(String(64))
    #: The webhook delivery's result (attempts, status codes, error).
    delivery: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class VersionTrainingRow(Base):
    """A labelled prediction (at one label revision) a version was trained on.

    The promotion evidence leaves these predictions out: a version is never judged on the
    labels it learned.
    """

    __tablename__ = "version_training_rows"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    prediction_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
