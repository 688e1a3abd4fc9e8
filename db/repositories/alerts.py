"""Stored alert rules and what people do with them: the SQL behind
:mod:`services.alerts.store` (rules, their states, events and deliveries read back,
silences, acknowledgements).

Every function runs inside the caller's session; the service commits each change with its
audit entry. The evaluator's writes (states, events, deliveries, the lease) are in
:mod:`db.repositories.alert_runs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from db.models import (
    AlertDelivery,
    AlertEvent,
    AlertRule,
    AlertSilence,
    AlertState,
    Model,
)

__all__ = [
    "EventRow",
    "RuleRow",
    "SilenceRow",
    "acknowledge",
    "delete_rule",
    "deliveries_of",
    "end_silence",
    "event_rows",
    "insert_rule",
    "insert_silence",
    "name_taken",
    "reset_state",
    "rule_row",
    "rule_rows",
    "silence_row",
    "silence_rows",
    "update_rule",
]


@dataclass(frozen=True)
class RuleRow:
    """A rule, its model's name and its state (``None``: never evaluated)."""

    rule: AlertRule
    model: str
    state: AlertState | None


@dataclass(frozen=True)
class EventRow:
    """An event with its rule's name, model and severity."""

    event: AlertEvent
    rule_name: str
    model: str
    severity: str


@dataclass(frozen=True)
class SilenceRow:
    """A silence with the names of what it covers."""

    silence: AlertSilence
    rule_name: str | None
    model: str


def _rules_select() -> Any:
    return (select(AlertRule, Model.name, AlertState)
            .join(Model, Model.id == AlertRule.model_id)
            .outerjoin(AlertState, AlertState.rule_id == AlertRule.id))


def rule_rows(*, session: Session) -> list[RuleRow]:
    """Every rule, ordered by model then name."""
    stmt = _rules_select().order_by(Model.name, AlertRule.name)
    return [RuleRow(rule, str(model), state) for rule, model, state in session.execute(stmt)]


def rule_row(*, session: Session, rule_id: int) -> RuleRow | None:
    """One rule (``None``: no such rule)."""
    found = session.execute(_rules_select().where(AlertRule.id == rule_id)).first()
    if found is None:
        return None
    rule, model, state = found
    return RuleRow(rule, str(model), state)


def name_taken(*, session: Session, name: str, other_than: int | None) -> bool:
    """Whether a rule other than ``other_than`` is called ``name``."""
    stmt = select(AlertRule.id).where(AlertRule.name == name)
    if other_than is not None:
        stmt = stmt.where(AlertRule.id != other_than)
    return session.scalar(stmt.limit(1)) is not None


def insert_rule(*, session: Session, name: str, model_id: int, kind: str, severity: str,
                definition: dict[str, Any], enabled: bool, actor: str, now: datetime) -> int:
    """Insert a rule; returns its id."""
    row = AlertRule(name=name, model_id=model_id, kind=kind, severity=severity,
                    definition=definition, enabled=enabled, webhook_url=None,
                    webhook_format="json", created_by=actor, created_at=now,
                    updated_by=actor, updated_at=now)
    session.add(row)
    session.flush()
    return int(row.id)


def update_rule(*, session: Session, rule_id: int, actor: str, now: datetime,
                **values: Any) -> None:
    """Change some columns of a rule (``name``, ``model_id``, ``kind``, ``severity``,
    ``definition``, ``enabled``, ``webhook_url``, ``webhook_format``)."""
    session.execute(update(AlertRule).where(AlertRule.id == rule_id)
                    .values(updated_by=actor, updated_at=now, **values)
                    .execution_options(synchronize_session=False))


def reset_state(*, session: Session, rule_id: int) -> None:
    """Forget the rule's state: the evaluator judges it afresh (inactive)."""
    session.execute(delete(AlertState).where(AlertState.rule_id == rule_id))


def delete_rule(*, session: Session, rule_id: int) -> None:
    """Delete a rule with its state, events, deliveries and silences (explicitly, so it
    holds whether or not the database enforces foreign keys)."""
    event_ids = select(AlertEvent.id).where(AlertEvent.rule_id == rule_id)
    session.execute(delete(AlertDelivery).where(AlertDelivery.event_id.in_(event_ids)))
    session.execute(delete(AlertEvent).where(AlertEvent.rule_id == rule_id))
    session.execute(delete(AlertSilence).where(AlertSilence.rule_id == rule_id))
    session.execute(delete(AlertState).where(AlertState.rule_id == rule_id))
    session.execute(delete(AlertRule).where(AlertRule.id == rule_id))


def event_rows(*, session: Session, rule_id: int | None, limit: int) -> list[EventRow]:
    """The newest events (of one rule, or all), newest first."""
    stmt = (select(AlertEvent, AlertRule.name, Model.name, AlertRule.severity)
            .join(AlertRule, AlertRule.id == AlertEvent.rule_id)
            .join(Model, Model.id == AlertRule.model_id)
            .order_by(AlertEvent.at.desc(), AlertEvent.id.desc()).limit(limit))
    if rule_id is not None:
        stmt = stmt.where(AlertEvent.rule_id == rule_id)
    return [EventRow(event, str(name), str(model), str(severity))
            for event, name, model, severity in session.execute(stmt)]


def deliveries_of(*, session: Session, event_ids: Sequence[int]) -> list[AlertDelivery]:
    """The deliveries of these events, oldest first."""
    if not event_ids:
        return []
    stmt = (select(AlertDelivery).where(AlertDelivery.event_id.in_(list(event_ids)))
            .order_by(AlertDelivery.id))
    return list(session.scalars(stmt))


def _silences_select() -> Any:
    owner = aliased(AlertRule)
    rule_model = (select(owner.model_id).where(owner.id == AlertSilence.rule_id)
                  .correlate(AlertSilence).scalar_subquery())
    return (select(AlertSilence, AlertRule.name, Model.name)
            .outerjoin(AlertRule, AlertRule.id == AlertSilence.rule_id)
            .join(Model, Model.id == func.coalesce(AlertSilence.model_id, rule_model)))


def silence_rows(*, session: Session, now: datetime, include_ended: bool) -> list[SilenceRow]:
    """Silences in force at ``now`` (soonest end first), or every silence (newest first)."""
    stmt = _silences_select()
    if include_ended:
        stmt = stmt.order_by(AlertSilence.created_at.desc(), AlertSilence.id.desc())
    else:
        stmt = (stmt.where(AlertSilence.ended_at.is_(None), AlertSilence.starts_at <= now,
                           AlertSilence.until > now)
                .order_by(AlertSilence.until, AlertSilence.id))
    return [SilenceRow(silence, None if rule is None else str(rule), str(model))
            for silence, rule, model in session.execute(stmt)]


def silence_row(*, session: Session, silence_id: int) -> SilenceRow | None:
    """One silence (``None``: no such silence)."""
    found = session.execute(_silences_select().where(AlertSilence.id == silence_id)).first()
    if found is None:
        return None
    silence, rule, model = found
    return SilenceRow(silence, None if rule is None else str(rule), str(model))


def insert_silence(*, session: Session, rule_id: int | None, model_id: int | None,
                   until: datetime, reason: str, actor: str, now: datetime) -> int:
    """Insert a silence starting at ``now``; returns its id."""
    row = AlertSilence(rule_id=rule_id, model_id=model_id, starts_at=now, until=until,
                       reason=reason, created_by=actor, created_at=now)
    session.add(row)
    session.flush()
    return int(row.id)


def end_silence(*, session: Session, silence_id: int, actor: str, now: datetime) -> bool:
    """End a silence still in force; whether one was ended."""
    result = session.execute(
        update(AlertSilence)
        .where(AlertSilence.id == silence_id, AlertSilence.ended_at.is_(None),
               AlertSilence.until > now)
        .values(ended_at=now, ended_by=actor)
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0) == 1


def acknowledge(*, session: Session, rule_id: int, actor: str, note: str,
                now: datetime) -> bool:
    """Mark a pending, firing or unknown rule as acknowledged; whether it was one."""
    result = session.execute(
        update(AlertState)
        .where(AlertState.rule_id == rule_id,
               or_(AlertState.status == "pending", AlertState.status == "firing",
                   AlertState.status == "unknown"))
        .values(acknowledged_by=actor, acknowledged_at=now, acknowledged_note=note)
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0) == 1
