"""Tables of alerting: rules, their current state, events, silences, deliveries, leases.

A rule's definition is the JSON of :func:`services.alerts.rules.rule_to_dict` (its kind and
fields); the columns beside it (model, kind, severity, enabled) are what lists filter on.
The evaluating worker keeps each rule's current state in ``alert_states`` (one row per
rule) and appends every change to ``alert_events``; a notification is an
``alert_deliveries`` row, queued when the event is written (in the same transaction) and
sent later by the worker, so a slow webhook never delays evaluation and a crash loses no
notification. ``worker_leases`` holds named leases (``alert-evaluator``): exactly one
worker evaluates at a time.
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
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, in_check, utcnow

__all__ = [
    "ALERT_EVENTS",
    "ALERT_STATUSES",
    "DELIVERY_FORMATS",
    "DELIVERY_STATUSES",
    "AlertDelivery",
    "AlertEvent",
    "AlertRule",
    "AlertSilence",
    "AlertState",
    "WorkerLease",
]

#: Where a rule stands (``services.alerts.state.Status``).
ALERT_STATUSES = ("inactive", "pending", "firing", "unknown")
#: What an event records: a change of status (``services.alerts.state.step``'s events).
ALERT_EVENTS = ("pending", "firing", "resolved", "unknown", "inactive")
DELIVERY_FORMATS = ("json", "alertmanager")
DELIVERY_STATUSES = ("queued", "delivered", "failed")


class AlertRule(Base):
    """A stored alert rule: its definition and who made it."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"),
                                          index=True)
    #: The rule's kind (``quality_below``, ``drift_share_above``, ...), also in ``definition``.
    kind: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    #: ``rule_to_dict`` of the rule (kind and every field).
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: A webhook for this rule alone (set by admins, checked against the allow-list);
    #: ``None``: the global webhook from the configuration, if any.
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    #: ``json`` or ``alertmanager``: the payload this rule's webhook receives.
    webhook_format: Mapped[str] = mapped_column(String(20), default="json")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertState(Base):
    """A rule's current state, as the evaluator left it (one row per evaluated rule)."""

    __tablename__ = "alert_states"
    __table_args__ = (CheckConstraint(in_check("status", ALERT_STATUSES), name="status"),)

    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"),
                                         primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="inactive")
    #: Since when the rule has had this status (``None`` for inactive).
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the current firing began (kept through *unknown*).
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What the rule saw at its last evaluation (``None``: nothing to judge).
    value: Mapped[float | None] = mapped_column(Float)
    lower: Mapped[float | None] = mapped_column(Float)
    upper: Mapped[float | None] = mapped_column(Float)
    sample_size: Mapped[int | None] = mapped_column(Integer)
    #: One line for people: what was seen, or why the source could not be read.
    message: Mapped[str] = mapped_column(Text, default="")
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Who is on it (cleared when the rule resolves).
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_note: Mapped[str] = mapped_column(Text, default="")


class AlertEvent(Base):
    """One change of a rule's status, with what the rule saw."""

    __tablename__ = "alert_events"
    __table_args__ = (CheckConstraint(in_check("event", ALERT_EVENTS), name="event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"),
                                         index=True)
    event: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    value: Mapped[float | None] = mapped_column(Float)
    lower: Mapped[float | None] = mapped_column(Float)
    upper: Mapped[float | None] = mapped_column(Float)
    sample_size: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")
    #: The rule or its model was silenced when this happened: nobody was notified.
    silenced: Mapped[bool] = mapped_column(Boolean, default=False)


class AlertSilence(Base):
    """No notification (and no banner) for a rule, or every rule of a model, until a time."""

    __tablename__ = "alert_silences"
    __table_args__ = (
        CheckConstraint("rule_id IS NOT NULL OR model_id IS NOT NULL", name="target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Ended early by someone (``None``: runs until ``until``).
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(100))


class AlertDelivery(Base):
    """One notification of an event to one webhook: queued, then delivered or given up."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        CheckConstraint(in_check("status", DELIVERY_STATUSES), name="status"),
        CheckConstraint(in_check("format", DELIVERY_FORMATS), name="format"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("alert_events.id", ondelete="CASCADE"),
                                          index=True)
    #: The webhook's URL (without credentials; the signing secret is never stored).
    target: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The last answer's HTTP status (``None``: no answer).
    http_status: Mapped[int | None] = mapped_column(Integer)
    #: Why the last attempt failed (empty when delivered).
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Not before this time (the retry's back-off).
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WorkerLease(Base):
    """A named lease: the worker ``holder`` does the named work until ``lease_until``."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime)
