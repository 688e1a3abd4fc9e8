"""Changes people make to alerting: save, enable, delete a rule, point it at a webhook,
silence, end a silence, acknowledge.

Each checks the actor's role here (the page hiding a button is not the check) and writes
its audit entry in the same transaction as the change: editing rules needs
``EDIT_ALERT_RULES``, silencing and acknowledging ``HANDLE_ALERTS`` (operators and
admins), a rule's webhook ``MANAGE_ALERT_WEBHOOKS`` (admins), and its URL must pass the
allow-list (:func:`services.alerts.targets.check_target`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.repositories import alerts as repo
from db.repositories import registry
from db.session import session_scope
from services import audit
from services.access.principal import Principal, require
from services.access.roles import Action
from services.alerts.records import AlertStoreError
from services.alerts.rules import Rule, rule_to_dict
from services.alerts.targets import TargetError, check_target

__all__ = [
    "MAX_REASON",
    "MAX_SILENCE",
    "acknowledge",
    "delete_rule",
    "end_silence",
    "save_rule",
    "set_enabled",
    "set_webhook",
    "silence",
]

#: Longest silence: a silence is a pause, not a way to switch a rule off for good.
MAX_SILENCE = timedelta(days=30)
#: Longest reason or note kept.
MAX_REASON = 500
_FORMATS = ("json", "alertmanager")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _model_id(session: Session, name: str) -> int:
    try:
        return int(registry.get_model(session=session, name=name).id)
    except registry.RegistryError:
        raise AlertStoreError(f"model: no model called {name!r} is registered") from None


def _existing(session: Session, rule_id: int) -> repo.RuleRow:
    found = repo.rule_row(session=session, rule_id=rule_id)
    if found is None:
        raise AlertStoreError(f"rule: there is no rule {rule_id} (deleted meanwhile?)")
    return found


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
    who = require(actor, Action.EDIT_ALERT_RULES)
    at = _now(now)
    definition = rule_to_dict(rule)
    try:
        with session_scope(engine, write=True) as session:
            model_id = _model_id(session, rule.model)
            if repo.name_taken(session=session, name=rule.name, other_than=rule_id):
                raise AlertStoreError(f"name: a rule called {rule.name!r} exists already")
            columns: dict[str, Any] = {"name": rule.name, "model_id": model_id,
                                       "kind": rule.kind, "severity": rule.severity,
                                       "definition": definition, "enabled": enabled}
            if rule_id is None:
                rule_id = repo.insert_rule(session=session, actor=who.username, now=at,
                                           **columns)
                details: dict[str, Any] = {"definition": definition, "enabled": enabled}
                action = "alert_rule_created"
            else:
                before = _existing(session, rule_id).rule
                repo.update_rule(session=session, rule_id=rule_id, actor=who.username,
                                 now=at, **columns)
                if before.definition != definition or not enabled:
                    repo.reset_state(session=session, rule_id=rule_id)
                details = {"definition": definition, "previous": before.definition,
                           "enabled": enabled}
                action = "alert_rule_updated"
            audit.record(session=session, actor=who.username, action=action,
                         object_type="alert_rule", object_id=str(rule_id), details=details,
                         at=at)
    except IntegrityError:  # a concurrent save took the name between check and insert
        raise AlertStoreError(f"name: a rule called {rule.name!r} exists already") from None
    return rule_id


def set_enabled(*, engine: Engine, actor: Principal | None, rule_id: int, enabled: bool,
                now: datetime | None = None) -> None:
    """Enable or disable a rule (a disabled rule is not evaluated and its state is reset).
    Audited. Raises PermissionDenied / AlertStoreError as :func:`save_rule`."""
    who = require(actor, Action.EDIT_ALERT_RULES)
    at = _now(now)
    with session_scope(engine, write=True) as session:
        found = _existing(session, rule_id)
        repo.update_rule(session=session, rule_id=rule_id, actor=who.username, now=at,
                         enabled=enabled)
        if not enabled:
            repo.reset_state(session=session, rule_id=rule_id)
        audit.record(session=session, actor=who.username,
                     action="alert_rule_enabled" if enabled else "alert_rule_disabled",
                     object_type="alert_rule", object_id=str(rule_id),
                     details={"name": found.rule.name}, at=at)


def delete_rule(*, engine: Engine, actor: Principal | None, rule_id: int) -> None:
    """Delete a rule with its state, events, deliveries and silences. Audited (with the
    definition). Raises PermissionDenied / AlertStoreError as :func:`save_rule`."""
    who = require(actor, Action.EDIT_ALERT_RULES)
    with session_scope(engine, write=True) as session:
        found = _existing(session, rule_id)
        repo.delete_rule(session=session, rule_id=rule_id)
        audit.record(session=session, actor=who.username, action="alert_rule_deleted",
                     object_type="alert_rule", object_id=str(rule_id),
                     details={"definition": found.rule.definition})


def _shown_url(url: str) -> str:
    """The URL as the audit log keeps it: no user info, no query (it may hold a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def set_webhook(*, engine: Engine, actor: Principal | None, rule_id: int, url: str | None,
                fmt: str, allowed_hosts: str, now: datetime | None = None) -> None:
    """Point a rule at its own webhook (``url`` None or empty: back to the global one).
    Admins only; the URL must pass :func:`services.alerts.targets.check_target` against
    ``allowed_hosts`` (``OPSDASH_ALERT_WEBHOOK_HOSTS``). Audited (the URL without user
    info or query).

    Raises:
        PermissionDenied: the actor is not an admin.
        AlertStoreError: unknown rule, format not ``json``/``alertmanager``, or the target
            is refused (the message says why, starting with ``webhook:``).
    """
    who = require(actor, Action.MANAGE_ALERT_WEBHOOKS)
    at = _now(now)
    if fmt not in _FORMATS:
        raise AlertStoreError(f"format: must be json or alertmanager, not {fmt!r}")
    target = (url or "").strip() or None
    if target is not None:
        try:
            check_target(target, allowed_hosts)
        except TargetError as exc:
            raise AlertStoreError(str(exc)) from None
    with session_scope(engine, write=True) as session:
        found = _existing(session, rule_id)
        repo.update_rule(session=session, rule_id=rule_id, actor=who.username, now=at,
                         webhook_url=target, webhook_format=fmt)
        audit.record(session=session, actor=who.username, action="alert_webhook_set",
                     object_type="alert_rule", object_id=str(rule_id),
                     details={"name": found.rule.name, "format": fmt,
                              "url": None if target is None else _shown_url(target)}, at=at)


def _reason(text: str, field: str) -> str:
    clean = text.strip()
    if len(clean) > MAX_REASON:
        raise AlertStoreError(f"{field}: at most {MAX_REASON} characters")
    return clean


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
    who = require(actor, Action.HANDLE_ALERTS)
    at = _now(now)
    if (rule_id is None) == (model is None):
        raise AlertStoreError("target: silence either one rule or one model")
    if until.tzinfo is None:
        raise AlertStoreError("until: must carry a time zone")
    if until <= at:
        raise AlertStoreError("until: must be in the future")
    if until - at > MAX_SILENCE:
        raise AlertStoreError(f"until: at most {MAX_SILENCE.days} days ahead")
    why = _reason(reason, "reason")
    if not why:
        raise AlertStoreError("reason: say why (it is shown to everyone and audited)")
    with session_scope(engine, write=True) as session:
        if rule_id is not None:
            found = _existing(session, rule_id)
            model_id, what = None, {"rule": found.rule.name, "model": found.model}
        else:
            assert model is not None
            model_id, what = _model_id(session, model), {"model": model}
        silence_id = repo.insert_silence(session=session, rule_id=rule_id, model_id=model_id,
                                         until=until, reason=why, actor=who.username, now=at)
        audit.record(session=session, actor=who.username, action="alert_silenced",
                     object_type="alert_silence", object_id=str(silence_id),
                     details={**what, "until": until.isoformat(), "reason": why}, at=at)
    return silence_id


def end_silence(*, engine: Engine, actor: Principal | None, silence_id: int,
                now: datetime | None = None) -> None:
    """End a silence early. Audited. Raises PermissionDenied / AlertStoreError (unknown
    silence, or one already over)."""
    who = require(actor, Action.HANDLE_ALERTS)
    at = _now(now)
    with session_scope(engine, write=True) as session:
        if not repo.end_silence(session=session, silence_id=silence_id, actor=who.username,
                                now=at):
            raise AlertStoreError(f"silence: silence {silence_id} is not in force "
                                  "(ended or expired already)")
        audit.record(session=session, actor=who.username, action="alert_silence_ended",
                     object_type="alert_silence", object_id=str(silence_id), at=at)


def acknowledge(*, engine: Engine, actor: Principal | None, rule_id: int, note: str = "",
                now: datetime | None = None) -> None:
    """Say who is on a pending, firing or unknown rule (cleared when it resolves). Audited.

    Raises:
        PermissionDenied: the actor may not handle alerts.
        AlertStoreError: unknown rule, or the rule is inactive (nothing to acknowledge).
    """
    who = require(actor, Action.HANDLE_ALERTS)
    at = _now(now)
    text = _reason(note, "note")
    with session_scope(engine, write=True) as session:
        found = _existing(session, rule_id)
        if not repo.acknowledge(session=session, rule_id=rule_id, actor=who.username,
                                note=text, now=at):
            raise AlertStoreError(f"rule: {found.rule.name!r} is not pending, firing or "
                                  "unknown: nothing to acknowledge")
        audit.record(session=session, actor=who.username, action="alert_acknowledged",
                     object_type="alert_rule", object_id=str(rule_id),
                     details={"name": found.rule.name, "note": text}, at=at)
