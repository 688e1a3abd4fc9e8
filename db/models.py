"""Tables of the feedback store (SQLAlchemy 2.0 typed models).

See docs/data-model.md for the picture. Statuses and roles are plain strings checked by
CHECK constraints, so PostgreSQL and SQLite behave alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Computed,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

# Tables of jobs live in db.lifecycle_models and of alerts in db.alert_models; importing
# them here registers them with every import of this module and keeps
# ``from db.models import RetrainJob`` working.
from db.alert_models import (
    AlertDelivery,
    AlertEvent,
    AlertRule,
    AlertSilence,
    AlertState,
    WorkerLease,
)
from db.base import Base, UTCDateTime, in_check, utcnow
from db.lifecycle_models import (
    JOB_STATUSES,
    RetrainJob,
    VersionTrainingRow,
)

__all__ = [
    "JOB_STATUSES",
    "ROLES",
    "TASKS",
    "VERSION_STATUSES",
    "AlertDelivery",
    "AlertEvent",
    "AlertRule",
    "AlertSilence",
    "AlertState",
    "AuditLog",
    "Feedback",
    "LabelAbstention",
    "Model",
    "ModelVersion",
    "Prediction",
    "ProductionPointer",
    "Promotion",
    "RetrainJob",
    "RevokedSession",
    "ShadowPrediction",
    "User",
    "VersionTrainingRow",
    "WorkerLease",
]

TASKS = ("binary", "multiclass")
VERSION_STATUSES = ("candidate", "production", "archived", "failed")
ROLES = ("admin", "operator", "analyst", "labeler")
FEEDBACK_SOURCES = ("ui", "csv", "api", "simulator")


_in = in_check


class Model(Base):
    """A served classification model."""

    __tablename__ = "models"
    __table_args__ = (CheckConstraint(_in("task", TASKS), name="task"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    task: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    #: Class labels in the order the model's probability vector uses.
    class_labels: Mapped[list[str]] = mapped_column(JSON)
    #: ``[{"name": str, "type": "number"|"category", "categories": [..]?}]``
    feature_schema: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="model", order_by="ModelVersion.version"
    )


class ModelVersion(Base):
    """One trained version of a model and its artifact."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        CheckConstraint(_in("status", VERSION_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="candidate")
    artifact_path: Mapped[str] = mapped_column(String(500))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    train_window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    train_window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Metrics on the holdout set at training time, e.g. ``{"accuracy": 0.91}``.
    holdout_metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Records of the training inputs kept as the default drift reference.
    reference_sample: Mapped[list[dict[str, Any]]] = deferred(mapped_column(JSON, default=list))
    created_by: Mapped[str] = mapped_column(String(100), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    notes: Mapped[str] = mapped_column(Text, default="")
    #: Migration 0013: how a retrained version was made (``services.retrain.fingerprint``)
    #: and the job that made it; ``None`` for versions registered by hand.
    training_fingerprint: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("retrain_jobs.id", use_alter=True))

    model: Mapped[Model] = relationship(back_populates="versions")


class ProductionPointer(Base):
    """Which version of a model serves production. One row per model."""

    __tablename__ = "production_pointers"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100), default="system")


class Promotion(Base):
    """History of production pointer moves (a rollback is a promotion of an older version)."""

    __tablename__ = "promotions"
    __table_args__ = (CheckConstraint(_in("kind", ("promote", "rollback")), name="kind"),
                      CheckConstraint(_in("verdict", ("pass", "fail", "insufficient")),
                                      name="verdict"))

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    from_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    to_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    kind: Mapped[str] = mapped_column(String(20), default="promote")
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: Migration 0012: the evidence and the verdict's checks as they were (``None``: not
    #: judged), its outcome, and the numbers behind an automatic rollback.
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    verdict: Mapped[str | None] = mapped_column(String(20))
    trigger: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Prediction(Base):
    """One logged prediction. ``id`` is the request id returned to the caller."""

    __tablename__ = "predictions"
    __table_args__ = (
        Index("ix_predictions_model_ts", "model_id", "ts"),
        Index("ix_predictions_version_ts", "version_id", "ts"),
        # The labeling queue's default order, least confident first, reads the bands in
        # order and sorts within one (migration 0009): new rows land at the end of their
        # band, not all over an index ordered by the exact score.
        Index("ix_predictions_model_top_score_band", "model_id", "top_score_band"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    predicted_class: Mapped[str] = mapped_column(String(100))
    #: Class probabilities, ``{label: p}``.
    scores: Mapped[dict[str, float]] = mapped_column(JSON)
    #: Probability of the predicted class (kept apart for "least confident first").
    top_score: Mapped[float] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    #: ``top_score`` in whole percent (0 to 100), computed by the database and never written
    #: (a virtual column on SQLite; PostgreSQL stores it, rounding where SQLite truncates).
    #: A higher score never has a lower band, so ordering by ``(top_score_band,
    #: top_score)`` is ordering by ``top_score``.
    top_score_band: Mapped[int] = mapped_column(
        Integer, Computed("CAST(top_score * 100 AS INTEGER)"))


class Feedback(Base):
    """The current ground-truth label of a prediction (at most one, by constraint).

    The prediction's model, version, predicted class, time and top score are copied here
    when the label is first stored (a logged prediction never changes), so quality reports
    group the labelled rows from covering indexes without joining ``predictions``.
    """

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("prediction_id"),
        CheckConstraint(_in("source", FEEDBACK_SOURCES), name="source"),
        Index("ix_feedback_model_quality", "model_id", "predicted_at", "label",
              "predicted_class"),
        Index("ix_feedback_version_quality", "version_id", "predicted_at", "label",
              "predicted_class"),
        # Reports over all time group labels from these without sorting (migration 0008).
        Index("ix_feedback_model_counts", "model_id", "label", "predicted_class"),
        Index("ix_feedback_version_counts", "version_id", "label", "predicted_class"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prediction_id: Mapped[str] = mapped_column(
        ForeignKey("predictions.id", ondelete="CASCADE")
    )
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    #: ``predictions.predicted_class`` of the labelled prediction.
    predicted_class: Mapped[str] = mapped_column(String(100))
    #: ``predictions.ts``: windows of quality reports are by prediction time.
    predicted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: ``predictions.top_score`` (for curves over the score).
    top_score: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(100))
    labeler: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Incremented on every change; a writer that read an older revision has a conflict.
    revision: Mapped[int] = mapped_column(Integer, default=1)


class User(Base):
    """A person who signs in, with one role."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    #: scrypt hash; empty for accounts that only sign in through OIDC.
    password_hash: Mapped[str] = mapped_column(String(300), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Sign-in sessions that began earlier have ended (a password reset or change, or the
    #: account disabled); ``None``: none ended that way.
    sessions_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RevokedSession(Base):
    """A signed-out session: its cookie (and any copy of it) no longer signs anybody in.

    Kept until the token would have expired anyway.
    """

    __tablename__ = "revoked_sessions"

    #: The nonce of the session's signed token.
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditLog(Base):
    """Who did what to which object, and when. Append-only from the application."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(50), index=True)
    object_type: Mapped[str] = mapped_column(String(50), default="")
    object_id: Mapped[str] = mapped_column(String(100), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


#: Why a history row was written: a first label, a change of the revision the labeler saw,
#: a change over a conflicting label the labeler chose to replace, or a conflict the labeler
#: resolved by keeping the stored label.
HISTORY_RESOLUTIONS = ("new", "replaced", "replaced_conflict", "kept")


class FeedbackHistory(Base):
    """One change (or kept conflict) of a prediction's label. Append-only from the application."""

    __tablename__ = "feedback_history"
    __table_args__ = (
        Index("ix_feedback_history_prediction_changed", "prediction_id", "changed_at"),
        CheckConstraint(_in("source", FEEDBACK_SOURCES), name="source"),
        CheckConstraint(_in("resolution", HISTORY_RESOLUTIONS), name="resolution"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prediction_id: Mapped[str] = mapped_column(
        ForeignKey("predictions.id", ondelete="CASCADE")
    )
    #: The label before the change; ``None`` for a prediction's first label.
    old_label: Mapped[str | None] = mapped_column(String(100))
    new_label: Mapped[str] = mapped_column(String(100))
    old_labeler: Mapped[str | None] = mapped_column(String(100))
    new_labeler: Mapped[str] = mapped_column(String(100))
    #: ``feedback.revision`` after the change.
    revision: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(20))
    resolution: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LabelAbstention(Base):
    """A labeler could not tell a prediction's class ("can't tell").

    The prediction leaves that labeler's queue and stays in everybody else's.
    """

    __tablename__ = "label_abstentions"
    __table_args__ = (UniqueConstraint("prediction_id", "labeler"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prediction_id: Mapped[str] = mapped_column(
        ForeignKey("predictions.id", ondelete="CASCADE")
    )
    labeler: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ShadowPrediction(Base):
    """A version's answer to a logged prediction that another version served (shadow scoring).

    At most one row per (prediction, version). ``predicted_at`` copies the prediction's time
    so windows and "newest first" read the ``(version_id, predicted_at, ...)`` index alone.
    """

    __tablename__ = "shadow_predictions"
    __table_args__ = (
        UniqueConstraint("prediction_id", "version_id"),
        # "The predictions of version B in a window" (newest first), covering the columns
        # a comparison joins and groups on.
        Index("ix_shadow_predictions_version_predicted", "version_id", "predicted_at",
              "prediction_id", "predicted_class"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prediction_id: Mapped[str] = mapped_column(
        ForeignKey("predictions.id", ondelete="CASCADE")
    )
    #: The version that scored the prediction in the shadow (never the one that served it).
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    #: ``predictions.ts`` of the scored prediction.
    predicted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    predicted_class: Mapped[str] = mapped_column(String(100))
    #: Probability of ``predicted_class``.
    top_score: Mapped[float] = mapped_column(Float)
    #: Class probabilities, ``{label: p}``.
    scores: Mapped[dict[str, float]] = mapped_column(JSON)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
