"""Stored alert rules, silences and labels for the evaluator's and the outbox's tests,
written straight into the tables (the store's own functions are tested on their own)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from db.alert_models import AlertDelivery, AlertEvent, AlertRule, AlertSilence, AlertState
from db.models import Model
from db.repositories.predictions import insert_feedback
from db.session import session_scope
from services.alerts.rules import Rule, rule_to_dict


def store_rule(engine: Engine, rule: Rule, *, webhook_url: str | None = None,
               webhook_format: str = "json", enabled: bool = True,
               definition: dict[str, Any] | None = None) -> int:
    """Store ``rule`` (or a raw ``definition`` in its place); returns its id."""
    with session_scope(engine, write=True) as session:
        model_id = session.scalar(select(Model.id).where(Model.name == rule.model))
        row = AlertRule(name=rule.name, model_id=model_id, kind=rule.kind,
                        severity=rule.severity,
                        definition=definition if definition is not None else rule_to_dict(rule),
                        enabled=enabled, webhook_url=webhook_url,
                        webhook_format=webhook_format, created_by="test", updated_by="test")
        session.add(row)
        session.flush()
        return row.id


def store_silence(engine: Engine, *, until: datetime, starts_at: datetime,
                  rule_id: int | None = None, model_id: int | None = None) -> None:
    """A silence of a rule or of a model from ``starts_at`` to ``until``."""
    with session_scope(engine, write=True) as session:
        session.add(AlertSilence(rule_id=rule_id, model_id=model_id, starts_at=starts_at,
                                 until=until, reason="maintenance", created_by="test"))


def acknowledge(engine: Engine, rule_id: int, who: str) -> None:
    """Mark the rule's state as acknowledged by ``who``."""
    with session_scope(engine, write=True) as session:
        state = session.get(AlertState, rule_id)
        assert state is not None
        state.acknowledged_by = who
        state.acknowledged_note = "on it"


def label(engine: Engine, prediction_ids: list[str], value: str, at: datetime) -> None:
    """Label predictions, stored at ``at``."""
    with session_scope(engine, write=True) as session:
        insert_feedback(session=session, rows=[
            {"prediction_id": pid, "label": value, "labeler": "tester", "source": "ui",
             "created_at": at} for pid in prediction_ids])


def state(engine: Engine, rule_id: int) -> AlertState | None:
    """The rule's stored state."""
    with session_scope(engine) as session:
        return session.get(AlertState, rule_id)


def events(engine: Engine, rule_id: int) -> list[AlertEvent]:
    """The rule's events, oldest first."""
    with session_scope(engine) as session:
        return list(session.scalars(
            select(AlertEvent).where(AlertEvent.rule_id == rule_id).order_by(AlertEvent.id)))


def deliveries(engine: Engine) -> list[AlertDelivery]:
    """Every delivery, oldest first."""
    with session_scope(engine) as session:
        return list(session.scalars(select(AlertDelivery).order_by(AlertDelivery.id)))
