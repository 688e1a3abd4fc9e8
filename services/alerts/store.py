"""Stored alert rules and what people do with them: save, enable, delete, silence,
acknowledge, and read rules with their state, events and deliveries.

Every change checks the actor's role here (not only on the page) and writes its audit
entry in the same transaction: editing rules needs ``EDIT_ALERT_RULES`` (operators and
admins), silencing and acknowledging ``HANDLE_ALERTS`` (operators and admins), pointing a
rule at a webhook ``MANAGE_ALERT_WEBHOOKS`` (admins), and the target must pass
:func:`services.alerts.targets.check_target` against ``OPSDASH_ALERT_WEBHOOK_HOSTS``.
Reading needs nothing here (the page checks ``View.ALERTS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from services.access.principal import Principal
from services.alerts.rules import Rule

__all__ = [
    "AlertStoreError",
    "Delivery",
    "Event",
    "FiringAlert",
    "RuleStatus",
    "Silence",
    "StoredRule",
    "acknowledge",
    "delete_rule",
    "end_silence",
    "events",
    "firing",
    "get_rule",
    "list_rules",
    "save_rule",
    "set_enabled",
    "set_webhook",
    "silence",
    "silences",
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


def save_rule(*, engine: Engine, actor: Principal | None, rule: Rule, rule_id: int | None = None,
              enabled: bool = True, now: datetime | None = None) -> int:
    """Create the rule (``rule_id`` None) or replace the definition of rule ``rule_id``;
    returns its id. Audited (``alert_rule_created`` / ``alert_rule_updated`` with the
    definition, and the previous one on update). A changed definition resets the rule's
    state to inactive (the evaluator judges it afresh).

    Raises:
        PermissionDenied: the actor may not edit rules.
        AlertStoreError: ``name`` is taken, the model is not registered, or ``rule_id``
            is unknown.
    """
    raise NotImplementedError


def set_enabled(*, engine: Engine, actor: Principal | None, rule_id: int, enabled: bool,
                now: datetime | None = None) -> None:
    """Enable or disable a rule (a disabled rule is not evaluated and its state is reset).
    Audited. Raises PermissionDenied / AlertStoreError as :func:`save_rule`."""
    raise NotImplementedError


def delete_rule(*, engine: Engine, actor: Principal | None, rule_id: int) -> None:
    """Delete a rule with its state, events, deliveries and silences. Audited (with the
    definition). Raises PermissionDenied / AlertStoreError as :func:`save_rule`."""
    raise NotImplementedError


def set_webhook(*, engine: Engine, actor: Principal | None, rule_id: int, url: str | None,
                fmt: str, allowed_hosts: str, now: datetime | None = None) -> None:
    """Point a rule at its own webhook (``url`` None: back to the global one). Admins only;
    the URL must pass :func:`services.alerts.targets.check_target` against
    ``allowed_hosts`` (``OPSDASH_ALERT_WEBHOOK_HOSTS``). Audited (the URL without user
    info or query).

    Raises:
        PermissionDenied: the actor is not an admin.
        AlertStoreError: unknown rule, format not ``json``/``alertmanager``, or the target
            is refused (the message says why, starting with ``webhook:``).
    """
    raise NotImplementedError


def list_rules(*, engine: Engine, now: datetime | None = None) -> list[StoredRule]:
    """Every rule, ordered by model then name, with its state and current silence."""
    raise NotImplementedError


def get_rule(*, engine: Engine, rule_id: int, now: datetime | None = None) -> StoredRule:
    """One rule. Raises AlertStoreError when unknown."""
    raise NotImplementedError


def firing(*, engine: Engine, now: datetime | None = None) -> list[FiringAlert]:
    """Enabled rules firing now, most severe first, then oldest first; silenced ones are
    included with ``silenced`` True (the banner leaves them out, the page shows them)."""
    raise NotImplementedError


def events(*, engine: Engine, rule_id: int | None = None, limit: int = 200) -> list[Event]:
    """The newest events (of one rule or all), newest first, with their deliveries."""
    raise NotImplementedError


def silence(*, engine: Engine, actor: Principal | None, until: datetime, reason: str,
            rule_id: int | None = None, model: str | None = None,
            now: datetime | None = None) -> int:
    """Silence one rule (``rule_id``) or every rule of ``model`` until ``until``; returns
    the silence's id. While silenced a rule is still evaluated and its events recorded
    (marked silenced), but nobody is notified and the banner leaves it out. Audited.

    Raises:
        PermissionDenied: the actor may not handle alerts.
        AlertStoreError: neither or both targets given, unknown rule or model, ``until``
            not in the future (or more than 30 days ahead), or an empty reason.
    """
    raise NotImplementedError


def end_silence(*, engine: Engine, actor: Principal | None, silence_id: int,
                now: datetime | None = None) -> None:
    """End a silence early. Audited. Raises PermissionDenied / AlertStoreError."""
    raise NotImplementedError


def silences(*, engine: Engine, now: datetime | None = None,
             include_ended: bool = False) -> list[Silence]:
    """Silences in force at ``now`` (and, with ``include_ended``, ended or expired ones,
    newest first)."""
    raise NotImplementedError


def acknowledge(*, engine: Engine, actor: Principal | None, rule_id: int, note: str = "",
                now: datetime | None = None) -> None:
    """Say who is on a pending, firing or unknown rule (cleared when it resolves). Audited.

    Raises:
        PermissionDenied: the actor may not handle alerts.
        AlertStoreError: unknown rule, or the rule is inactive (nothing to acknowledge).
    """
    raise NotImplementedError
