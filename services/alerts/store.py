"""Stored alert rules and what people do with them: save, enable, delete, silence,
acknowledge (:mod:`services.alerts.changes`, re-exported here), and read rules with their
state, events and deliveries (here).

Changes check the actor's role in the service and write their audit entry in the same
transaction; reading needs nothing here (the page checks ``View.ALERTS``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from db.models import AlertDelivery, AlertState
from db.repositories import alerts as repo
from db.session import session_scope
from services.alerts.changes import (
    acknowledge,
    delete_rule,
    end_silence,
    save_rule,
    set_enabled,
    set_webhook,
    silence,
)
from services.alerts.records import (
    AlertStoreError,
    Delivery,
    Event,
    FiringAlert,
    RuleStatus,
    Silence,
    StoredRule,
)
from services.alerts.rules import SEVERITIES, RuleError, rule_from_dict

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


def _status(state: AlertState | None) -> RuleStatus:
    if state is None:
        return RuleStatus()
    return RuleStatus(status=state.status, since=state.since, fired_at=state.fired_at,
                      value=state.value, lower=state.lower, upper=state.upper,
                      sample_size=state.sample_size, message=state.message or "",
                      evaluated_at=state.evaluated_at, acknowledged_by=state.acknowledged_by,
                      acknowledged_at=state.acknowledged_at,
                      acknowledged_note=state.acknowledged_note or "")


def _silenced_until(found: repo.RuleRow, in_force: list[repo.SilenceRow]) -> datetime | None:
    ends = [row.silence.until for row in in_force
            if row.silence.rule_id == found.rule.id
            or (row.silence.rule_id is None and row.model == found.model)]
    return max(ends) if ends else None


def _stored(found: repo.RuleRow, in_force: list[repo.SilenceRow]) -> StoredRule:
    row = found.rule
    try:
        rule = rule_from_dict(dict(row.definition))
    except RuleError as exc:
        # A definition no longer valid (a kind changed since it was saved): shown, never lost.
        raise AlertStoreError(f"rule {row.id} ({row.name}): stored definition is not "
                              f"valid any more: {exc}") from None
    return StoredRule(id=row.id, rule=rule, enabled=row.enabled, webhook_url=row.webhook_url,
                      webhook_format=row.webhook_format, created_by=row.created_by,
                      created_at=row.created_at, updated_by=row.updated_by,
                      updated_at=row.updated_at, state=_status(found.state),
                      silenced_until=_silenced_until(found, in_force))


def list_rules(*, engine: Engine, now: datetime | None = None) -> list[StoredRule]:
    """Every rule whose definition is valid, ordered by model then name, with its state and
    current silence (a rule whose stored definition no longer loads is left out; the
    evaluator reports it *unknown*)."""
    at = now if now is not None else datetime.now(UTC)
    with session_scope(engine) as session:
        rows = repo.rule_rows(session=session)
        in_force = repo.silence_rows(session=session, now=at, include_ended=False)
    out: list[StoredRule] = []
    for found in rows:
        try:
            out.append(_stored(found, in_force))
        except AlertStoreError:
            continue
    return out


def get_rule(*, engine: Engine, rule_id: int, now: datetime | None = None) -> StoredRule:
    """One rule. Raises AlertStoreError when unknown (or its definition does not load)."""
    at = now if now is not None else datetime.now(UTC)
    with session_scope(engine) as session:
        found = repo.rule_row(session=session, rule_id=rule_id)
        in_force = repo.silence_rows(session=session, now=at, include_ended=False)
    if found is None:
        raise AlertStoreError(f"rule: there is no rule {rule_id}")
    return _stored(found, in_force)


def firing(*, engine: Engine, now: datetime | None = None) -> list[FiringAlert]:
    """Enabled rules firing now, most severe first, then oldest first; silenced ones are
    included with ``silenced`` True (the banner leaves them out, the page shows them)."""
    out = []
    for stored in list_rules(engine=engine, now=now):
        state = stored.state
        if not stored.enabled or state.status != "firing":
            continue
        since = state.fired_at or state.since or stored.updated_at
        out.append(FiringAlert(
            rule_id=stored.id, name=stored.rule.name, model=stored.rule.model,
            severity=stored.rule.severity, since=since,
            summary=state.message or stored.rule.name,
            acknowledged_by=state.acknowledged_by,
            silenced=stored.silenced_until is not None))
    out.sort(key=lambda alert: (-SEVERITIES.index(alert.severity), alert.since))
    return out


def _delivery(row: AlertDelivery) -> Delivery:
    return Delivery(id=row.id, target=row.target, format=row.format, status=row.status,
                    attempts=row.attempts, http_status=row.http_status, error=row.error or "",
                    created_at=row.created_at, finished_at=row.finished_at)


def events(*, engine: Engine, rule_id: int | None = None, limit: int = 200) -> list[Event]:
    """The newest events (of one rule or all), newest first, with their deliveries."""
    bounded = max(1, min(limit, 1000))
    with session_scope(engine) as session:
        rows = repo.event_rows(session=session, rule_id=rule_id, limit=bounded)
        sent = repo.deliveries_of(session=session, event_ids=[row.event.id for row in rows])
    by_event: dict[int, list[Delivery]] = {}
    for delivery in sent:
        by_event.setdefault(delivery.event_id, []).append(_delivery(delivery))
    return [Event(id=row.event.id, rule_id=row.event.rule_id, rule_name=row.rule_name,
                  model=row.model, severity=row.severity, event=row.event.event,
                  at=row.event.at, value=row.event.value, lower=row.event.lower,
                  upper=row.event.upper, sample_size=row.event.sample_size,
                  message=row.event.message or "", silenced=row.event.silenced,
                  deliveries=tuple(by_event.get(row.event.id, ())))
            for row in rows]


def silences(*, engine: Engine, now: datetime | None = None,
             include_ended: bool = False) -> list[Silence]:
    """Silences in force at ``now`` (and, with ``include_ended``, ended or expired ones,
    newest first)."""
    at = now if now is not None else datetime.now(UTC)
    with session_scope(engine) as session:
        rows = repo.silence_rows(session=session, now=at, include_ended=include_ended)
    return [Silence(id=row.silence.id, rule_id=row.silence.rule_id, rule_name=row.rule_name,
                    model=row.model, starts_at=row.silence.starts_at,
                    until=row.silence.until, reason=row.silence.reason,
                    created_by=row.silence.created_by, ended_at=row.silence.ended_at,
                    ended_by=row.silence.ended_by)
            for row in rows]
