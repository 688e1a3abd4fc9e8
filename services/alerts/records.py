"""What the alert store hands out: rules with their state, events with their deliveries,
silences, firing alerts (frozen dataclasses), and :class:`AlertStoreError`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.alerts.rules import Rule

__all__ = [
    "AlertStoreError",
    "Delivery",
    "Event",
    "FiringAlert",
    "RuleStatus",
    "Silence",
    "StoredRule",
]


class AlertStoreError(ValueError):
    """A change cannot be made (unknown rule, name taken, bad silence); the message says
    why in one line, starting with the field's name where one is at fault."""


@dataclass(frozen=True)
class RuleStatus:
    """A rule's current state as the evaluator left it (``inactive`` and no figures when
    it was never evaluated)."""

    status: str = "inactive"
    since: datetime | None = None
    fired_at: datetime | None = None
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    sample_size: int | None = None
    message: str = ""
    evaluated_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_note: str = ""


@dataclass(frozen=True)
class StoredRule:
    """A rule as stored, with its state and whether it is silenced now."""

    id: int
    rule: Rule
    enabled: bool
    webhook_url: str | None
    webhook_format: str
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    state: RuleStatus = field(default_factory=RuleStatus)
    #: The end of the silence covering the rule now (its own or its model's), else ``None``.
    silenced_until: datetime | None = None


@dataclass(frozen=True)
class FiringAlert:
    """A firing rule, for the banner: ``summary`` reads like
    ``churn accuracy 64 % < 75 % (1,920 labels)``."""

    rule_id: int
    name: str
    model: str
    severity: str
    since: datetime
    summary: str
    acknowledged_by: str | None = None
    silenced: bool = False


@dataclass(frozen=True)
class Delivery:
    """One notification of an event to one webhook."""

    id: int
    target: str
    format: str
    status: str
    attempts: int
    http_status: int | None
    error: str
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class Event:
    """One change of a rule's status, with what it saw and its deliveries."""

    id: int
    rule_id: int
    rule_name: str
    model: str
    severity: str
    event: str
    at: datetime
    value: float | None
    lower: float | None
    upper: float | None
    sample_size: int | None
    message: str
    silenced: bool
    deliveries: tuple[Delivery, ...] = ()


@dataclass(frozen=True)
class Silence:
    """A silence of one rule or of every rule of a model."""

    id: int
    rule_id: int | None
    rule_name: str | None
    model: str
    starts_at: datetime
    until: datetime
    reason: str
    created_by: str
    ended_at: datetime | None
    ended_by: str | None
