"""Every SQL of the alert evaluator and its outbox: the named lease, the rules due, their
stored state, events, silences in force, and queueing, claiming and finishing deliveries.

The lease is a compare-and-set ``UPDATE`` of its ``worker_leases`` row (taken when it is
this holder's or has run out), or an ``INSERT`` of the first row, which fails on the
primary key when another worker inserted it first: on SQLite (one writer at a time,
``BEGIN IMMEDIATE``) and on PostgreSQL (the ``UPDATE`` re-reads its condition after the
other writer's commit) exactly one holder wins. A delivery is claimed the same way: a
conditional ``UPDATE`` that moves its ``next_attempt_at`` past the attempt and counts the
attempt, whose row count says who sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.alert_models import (
    AlertDelivery,
    AlertEvent,
    AlertRule,
    AlertSilence,
    AlertState,
    WorkerLease,
)
from db.models import Feedback, Model

__all__ = [
    "DeliveryRow",
    "RuleRow",
    "claim_delivery",
    "delivery",
    "due_deliveries",
    "enabled_rules",
    "finish_delivery",
    "firing_began",
    "hold_lease",
    "insert_event",
    "last_firing_sent",
    "lease_holder",
    "locked_rule",
    "newest_label_at",
    "queue_delivery",
    "silenced",
    "state_of",
    "take_lease",
    "write_state",
]


def take_lease(*, session: Session, name: str, holder: str, now: datetime,
               until: datetime) -> bool:
    """Take or renew the lease ``name`` for ``holder`` until ``until``: whether it is now
    this holder's (``False``: another holder's lease runs past ``now``)."""
    taken = session.execute(
        update(WorkerLease)
        .where(WorkerLease.name == name,
               or_(WorkerLease.holder == holder, WorkerLease.lease_until <= now))
        .values(holder=holder, lease_until=until)
        .execution_options(synchronize_session=False))
    if getattr(taken, "rowcount", 0) == 1:
        return True
    if session.get(WorkerLease, name) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(WorkerLease(name=name, holder=holder, lease_until=until))
    except IntegrityError:
        return False  # another worker inserted it first
    return True


def hold_lease(*, session: Session, name: str, holder: str, now: datetime,
               until: datetime) -> bool:
    """Extend ``holder``'s unexpired lease to ``until``: whether it still held it (a lease
    that ran out may be another worker's already, so it is never taken back here)."""
    held = session.execute(
        update(WorkerLease)
        .where(WorkerLease.name == name, WorkerLease.holder == holder,
               WorkerLease.lease_until > now)
        .values(lease_until=until)
        .execution_options(synchronize_session=False))
    return getattr(held, "rowcount", 0) == 1


def lease_holder(*, session: Session, name: str) -> tuple[str, datetime] | None:
    """Who holds the lease ``name`` and until when (``None``: nobody ever took it)."""
    row = session.get(WorkerLease, name)
    return None if row is None else (row.holder, row.lease_until)


@dataclass(frozen=True)
class RuleRow:
    """An enabled rule as the evaluator needs it: the row, its model and its stored state
    (``None``: never evaluated)."""

    id: int
    name: str
    model_id: int
    model: str
    definition: dict[str, Any]
    webhook_url: str | None
    webhook_format: str
    updated_at: datetime
    evaluated_at: datetime | None


def enabled_rules(*, session: Session) -> list[RuleRow]:
    """Every enabled rule with its model's name and last evaluation, by id."""
    stmt = (
        select(AlertRule, Model.name, AlertState.evaluated_at)
        .join(Model, Model.id == AlertRule.model_id)
        .outerjoin(AlertState, AlertState.rule_id == AlertRule.id)
        .where(AlertRule.enabled.is_(True))
        .order_by(AlertRule.id))
    return [RuleRow(id=rule.id, name=rule.name, model_id=rule.model_id, model=str(model),
                    definition=dict(rule.definition), webhook_url=rule.webhook_url,
                    webhook_format=rule.webhook_format, updated_at=rule.updated_at,
                    evaluated_at=evaluated)
            for rule, model, evaluated in session.execute(stmt)]


def locked_rule(*, session: Session, rule_id: int) -> AlertRule | None:
    """The rule's row, locked until the transaction ends (on PostgreSQL; SQLite's write
    transaction locks the whole store), so an edit waits for the evaluation or goes first."""
    return session.scalar(select(AlertRule).where(AlertRule.id == rule_id).with_for_update())


def newest_label_at(*, session: Session, model_id: int) -> datetime | None:
    """When a label of the model was last stored or changed (``None``: never)."""
    value: datetime | None = session.scalar(
        select(func.max(Feedback.updated_at)).where(Feedback.model_id == model_id))
    return value


def silenced(*, session: Session, rule_id: int, model_id: int, now: datetime) -> bool:
    """Whether a silence of the rule or of its model is in force at ``now``."""
    stmt = select(func.count()).select_from(AlertSilence).where(
        or_(AlertSilence.rule_id == rule_id, AlertSilence.model_id == model_id),
        AlertSilence.starts_at <= now, AlertSilence.until > now,
        or_(AlertSilence.ended_at.is_(None), AlertSilence.ended_at > now))
    return bool(session.scalar(stmt))


def state_of(*, session: Session, rule_id: int) -> AlertState | None:
    """The rule's stored state (``None``: never evaluated)."""
    return session.get(AlertState, rule_id)


def write_state(*, session: Session, rule_id: int, values: dict[str, Any],
                clear_acknowledgement: bool) -> None:
    """Store the rule's state (``status``, ``since``, ``fired_at``, figures, ``message``,
    ``evaluated_at``), creating its row on the first evaluation."""
    row = session.get(AlertState, rule_id)
    if row is None:
        row = AlertState(rule_id=rule_id, acknowledged_note="")
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    if clear_acknowledgement:
        row.acknowledged_by = None
        row.acknowledged_at = None
        row.acknowledged_note = ""
    session.flush()


def insert_event(*, session: Session, rule_id: int, event: str, at: datetime,
                 figures: dict[str, Any], message: str, silenced: bool) -> int:
    """Append an event (``figures``: ``value``, ``lower``, ``upper``, ``sample_size``);
    returns its id."""
    row = AlertEvent(rule_id=rule_id, event=event, at=at, message=message,
                     silenced=silenced, **figures)
    session.add(row)
    session.flush()
    return row.id


def firing_began(*, session: Session, rule_id: int, event_id: int) -> datetime | None:
    """When the firing that event ``event_id`` belongs to began: the first ``firing``
    event of the rule after its last ``resolved`` one before ``event_id``."""
    last_resolved = (
        select(func.max(AlertEvent.id))
        .where(AlertEvent.rule_id == rule_id, AlertEvent.event == "resolved",
               AlertEvent.id < event_id)
        .scalar_subquery())
    stmt = select(func.min(AlertEvent.at)).where(
        AlertEvent.rule_id == rule_id, AlertEvent.event == "firing",
        AlertEvent.id <= event_id,
        AlertEvent.id > func.coalesce(last_resolved, 0))
    value: datetime | None = session.scalar(stmt)
    return value


def queue_delivery(*, session: Session, event_id: int, target: str, fmt: str,
                   now: datetime) -> int:
    """Queue a notification of the event to ``target``, due at once; returns its id."""
    row = AlertDelivery(event_id=event_id, target=target, format=fmt, status="queued",
                        attempts=0, error="", created_at=now, next_attempt_at=now)
    session.add(row)
    session.flush()
    return row.id


def last_firing_sent(*, session: Session, rule_id: int, target: str
                     ) -> tuple[int, datetime | None] | None:
    """The rule's newest ``firing`` event and when a delivery of it to ``target`` was last
    queued (``None``: never); ``None`` when the rule never fired."""
    event_id = session.scalar(
        select(AlertEvent.id).where(AlertEvent.rule_id == rule_id, AlertEvent.event == "firing")
        .order_by(AlertEvent.at.desc(), AlertEvent.id.desc()).limit(1))
    if event_id is None:
        return None
    last = session.scalar(select(func.max(AlertDelivery.created_at))
                          .where(AlertDelivery.event_id == event_id,
                                 AlertDelivery.target == target))
    return int(event_id), last


def due_deliveries(*, session: Session, now: datetime, limit: int) -> list[int]:
    """Ids of queued deliveries due at ``now``, the longest waiting first."""
    stmt = (select(AlertDelivery.id)
            .where(AlertDelivery.status == "queued", AlertDelivery.next_attempt_at <= now)
            .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
            .limit(limit))
    return list(session.scalars(stmt))


def claim_delivery(*, session: Session, delivery_id: int, now: datetime,
                   until: datetime) -> int | None:
    """Take a due delivery for one attempt: count the attempt and hold it until ``until``
    (a sender that dies mid-attempt leaves it to be tried again then). The attempt's
    number, or ``None`` when it is not due any more (another sender took it)."""
    claimed = session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id == delivery_id, AlertDelivery.status == "queued",
               AlertDelivery.next_attempt_at <= now)
        .values(attempts=AlertDelivery.attempts + 1, next_attempt_at=until)
        .execution_options(synchronize_session=False))
    if getattr(claimed, "rowcount", 0) != 1:
        return None
    attempts: int | None = session.scalar(
        select(AlertDelivery.attempts).where(AlertDelivery.id == delivery_id))
    return attempts


@dataclass(frozen=True)
class DeliveryRow:
    """A delivery with its event, rule and model: what its notification says."""

    id: int
    target: str
    format: str
    attempts: int
    event: AlertEvent
    rule: AlertRule
    model: str


def delivery(*, session: Session, delivery_id: int) -> DeliveryRow | None:
    """The delivery with what its notification needs (``None``: gone with its rule)."""
    stmt = (select(AlertDelivery, AlertEvent, AlertRule, Model.name)
            .join(AlertEvent, AlertEvent.id == AlertDelivery.event_id)
            .join(AlertRule, AlertRule.id == AlertEvent.rule_id)
            .join(Model, Model.id == AlertRule.model_id)
            .where(AlertDelivery.id == delivery_id))
    found = session.execute(stmt).first()
    if found is None:
        return None
    row, event, rule, model = found
    return DeliveryRow(id=row.id, target=row.target, format=row.format,
                       attempts=row.attempts, event=event, rule=rule, model=str(model))


def finish_delivery(*, session: Session, delivery_id: int, attempt: int,
                    values: dict[str, Any]) -> bool:
    """Record the outcome of attempt ``attempt`` (``status``, ``http_status``, ``error``,
    ``next_attempt_at``, ``finished_at``); whether the delivery was still at that attempt
    (not taken again by another sender after this one's hold ran out)."""
    done = session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id == delivery_id, AlertDelivery.status == "queued",
               AlertDelivery.attempts == attempt)
        .values(**values)
        .execution_options(synchronize_session=False))
    return getattr(done, "rowcount", 0) == 1
