"""The alert store: rules, silences and acknowledgements checked by role, audited, and read
back with their state, events and deliveries; on both engines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from db.base import utcnow
from db.models import AlertDelivery, AlertEvent, AlertState
from db.session import session_scope
from services.access.principal import PermissionDenied, Principal
from services.alerts import store
from services.alerts.rules import LabelBacklogRule, QualityRule
from services.audit import query_audit
from tests.factories import make_model

ADMIN = Principal("ada", "admin")
OPERATOR = Principal("otto", "operator")
ANALYST = Principal("ann", "analyst")
LABELER = Principal("lea", "labeler")
HOSTS = "hooks.example.com, 127.0.0.1:9093"


def _quality(**change: object) -> QualityRule:
    fields: dict[str, object] = {"name": "churn accuracy", "model": "churn",
                                 "metric": "accuracy", "floor": 0.75, "resolve_at": 0.8}
    return QualityRule(**{**fields, **change})  # type: ignore[arg-type]


def _state(engine: Engine, rule_id: int, status: str, message: str = "") -> None:
    now = utcnow()
    with session_scope(engine) as session:
        session.merge(AlertState(rule_id=rule_id, status=status, since=now,
                                 fired_at=now if status == "firing" else None,
                                 message=message, acknowledged_note=""))


@pytest.fixture
def churn(engine: Engine) -> Engine:
    make_model(engine, name="churn")
    make_model(engine, name="tickets")
    return engine


def test_only_operators_and_admins_edit_and_every_change_is_audited(churn: Engine) -> None:
    for who in (ANALYST, LABELER, None):
        with pytest.raises(PermissionDenied):
            store.save_rule(engine=churn, actor=who, rule=_quality())
    rule_id = store.save_rule(engine=churn, actor=OPERATOR, rule=_quality())
    store.save_rule(engine=churn, actor=ADMIN, rule=_quality(floor=0.7), rule_id=rule_id)
    store.set_enabled(engine=churn, actor=OPERATOR, rule_id=rule_id, enabled=False)
    stored = store.get_rule(engine=churn, rule_id=rule_id)
    assert stored.rule == _quality(floor=0.7)
    assert (stored.enabled, stored.created_by, stored.updated_by) == (False, "otto", "otto")
    actions = [e.action for e in query_audit(engine=churn, actor=ADMIN)]
    assert actions[:3] == ["alert_rule_disabled", "alert_rule_updated", "alert_rule_created"]
    updated = query_audit(engine=churn, actor=ADMIN, action="alert_rule_updated")[0]
    assert updated.details["previous"]["floor"] == 0.75
    assert updated.details["definition"]["floor"] == 0.7
    store.delete_rule(engine=churn, actor=OPERATOR, rule_id=rule_id)
    assert store.list_rules(engine=churn) == []
    assert query_audit(engine=churn, actor=ADMIN)[0].action == "alert_rule_deleted"


def test_a_taken_name_an_unknown_model_and_an_unknown_rule_are_refused(churn: Engine) -> None:
    store.save_rule(engine=churn, actor=OPERATOR, rule=_quality())
    with pytest.raises(store.AlertStoreError, match=r"^name: "):
        store.save_rule(engine=churn, actor=OPERATOR, rule=_quality(model="tickets"))
    with pytest.raises(store.AlertStoreError, match=r"^model: "):
        store.save_rule(engine=churn, actor=OPERATOR, rule=_quality(name="x", model="nope"))
    with pytest.raises(store.AlertStoreError, match=r"^rule: "):
        store.save_rule(engine=churn, actor=OPERATOR, rule=_quality(name="y"), rule_id=999)
    assert [r.rule.name for r in store.list_rules(engine=churn)] == ["churn accuracy"]


def test_a_changed_definition_starts_the_rule_afresh(churn: Engine) -> None:
    rule_id = store.save_rule(engine=churn, actor=OPERATOR, rule=_quality())
    _state(churn, rule_id, "firing", "churn accuracy 64 % < 75 % (1,920 labels)")
    store.save_rule(engine=churn, actor=OPERATOR, rule=_quality(), rule_id=rule_id)
    assert store.get_rule(engine=churn, rule_id=rule_id).state.status == "firing"
    store.save_rule(engine=churn, actor=OPERATOR, rule=_quality(floor=0.6), rule_id=rule_id)
    assert store.get_rule(engine=churn, rule_id=rule_id).state.status == "inactive"


def test_webhooks_are_for_admins_and_allowed_hosts_only(churn: Engine) -> None:
    rule_id = store.save_rule(engine=churn, actor=OPERATOR, rule=_quality())
    with pytest.raises(PermissionDenied):
        store.set_webhook(engine=churn, actor=OPERATOR, rule_id=rule_id,
                          url="https://hooks.example.com/x", fmt="json", allowed_hosts=HOSTS)
    for url, why in (("https://internal.example.com/x", "not in"),
                     ("http://169.254.169.254/latest", "not in"),
                     ("https://user:pw@hooks.example.com/x", "user name"),
                     ("ftp://hooks.example.com/x", "http or https"),
                     ("http://127.0.0.1:9094/x", "not in")):
        with pytest.raises(store.AlertStoreError, match=f"^webhook: .*{why}"):
            store.set_webhook(engine=churn, actor=ADMIN, rule_id=rule_id, url=url,
                              fmt="json", allowed_hosts=HOSTS)
    store.set_webhook(engine=churn, actor=ADMIN, rule_id=rule_id,
                      url="http://127.0.0.1:9093/api/v2/alerts?token=abc", fmt="alertmanager",
                      allowed_hosts=HOSTS)
    stored = store.get_rule(engine=churn, rule_id=rule_id)
    assert (stored.webhook_url, stored.webhook_format) == (
        "http://127.0.0.1:9093/api/v2/alerts?token=abc", "alertmanager")
    entry = query_audit(engine=churn, actor=ADMIN, action="alert_webhook_set")[0]
    assert entry.details["url"] == "http://127.0.0.1:9093/api/v2/alerts"  # no token kept
    store.set_webhook(engine=churn, actor=ADMIN, rule_id=rule_id, url="", fmt="json",
                      allowed_hosts=HOSTS)
    assert store.get_rule(engine=churn, rule_id=rule_id).webhook_url is None


def test_silences_cover_a_rule_or_a_model_until_they_end(churn: Engine) -> None:
    now = utcnow()
    quality = store.save_rule(engine=churn, actor=OPERATOR, rule=_quality(), now=now)
    backlog = store.save_rule(engine=churn, actor=OPERATOR, now=now, rule=LabelBacklogRule(
        name="tickets backlog", model="tickets", size=100, resolve_size=50))
    with pytest.raises(PermissionDenied):
        store.silence(engine=churn, actor=ANALYST, rule_id=quality, reason="x",
                      until=now + timedelta(hours=1))
    for kwargs, field in (({"rule_id": quality, "model": "churn"}, "target"), ({}, "target"),
                          ({"rule_id": quality, "until": now}, "until"),
                          ({"rule_id": quality, "until": now + timedelta(days=31)}, "until"),
                          ({"rule_id": quality, "reason": "  "}, "reason"),
                          ({"model": "nope"}, "model"), ({"rule_id": 999}, "rule")):
        args = {"until": now + timedelta(hours=1), "reason": "deploying", **kwargs}
        with pytest.raises(store.AlertStoreError, match=f"^{field}: "):
            store.silence(engine=churn, actor=OPERATOR, now=now, **args)  # type: ignore[arg-type]
    one = store.silence(engine=churn, actor=OPERATOR, rule_id=quality, reason="deploying",
                        until=now + timedelta(hours=1), now=now)
    store.silence(engine=churn, actor=ADMIN, model="tickets", reason="migrating",
                  until=now + timedelta(hours=2), now=now)
    rules = {r.id: r for r in store.list_rules(engine=churn, now=now + timedelta(minutes=1))}
    assert rules[quality].silenced_until == now + timedelta(hours=1)
    assert rules[backlog].silenced_until == now + timedelta(hours=2)
    later = {r.id: r for r in store.list_rules(engine=churn, now=now + timedelta(minutes=61))}
    assert later[quality].silenced_until is None
    in_force = store.silences(engine=churn, now=now + timedelta(minutes=1))
    assert [(s.rule_name, s.model) for s in in_force] == [("churn accuracy", "churn"),
                                                          (None, "tickets")]
    store.end_silence(engine=churn, actor=OPERATOR, silence_id=one,
                      now=now + timedelta(minutes=2))
    with pytest.raises(store.AlertStoreError, match=r"^silence: "):
        store.end_silence(engine=churn, actor=OPERATOR, silence_id=one,
                          now=now + timedelta(minutes=3))
    assert [s.model for s in store.silences(engine=churn, now=now + timedelta(minutes=3))] \
        == ["tickets"]
    everything = store.silences(engine=churn, now=now, include_ended=True)
    assert {s.ended_by for s in everything} == {"otto", None}
    actions = {e.action for e in query_audit(engine=churn, actor=ADMIN)}
    assert {"alert_silenced", "alert_silence_ended"} <= actions


def test_acknowledge_a_firing_rule_and_the_banner_list(churn: Engine) -> None:
    quality = store.save_rule(engine=churn, actor=OPERATOR, rule=_quality())
    critical = store.save_rule(engine=churn, actor=OPERATOR, rule=_quality(
        name="churn recall", metric="recall:churns", severity="critical"))
    quiet = store.save_rule(engine=churn, actor=OPERATOR, rule=_quality(name="quiet"))
    with pytest.raises(store.AlertStoreError, match="nothing to acknowledge"):
        store.acknowledge(engine=churn, actor=OPERATOR, rule_id=quality)
    _state(churn, quality, "firing", "churn accuracy 64 % < 75 % (1,920 labels)")
    _state(churn, critical, "firing", "churn recall 40 % < 75 % (900 labels)")
    _state(churn, quiet, "firing", "quiet")
    store.silence(engine=churn, actor=OPERATOR, rule_id=quiet, reason="known",
                  until=utcnow() + timedelta(hours=1))
    with pytest.raises(PermissionDenied):
        store.acknowledge(engine=churn, actor=ANALYST, rule_id=quality)
    store.acknowledge(engine=churn, actor=OPERATOR, rule_id=quality, note="retraining")
    alerts = store.firing(engine=churn)
    assert [(a.name, a.silenced) for a in alerts] == [
        ("churn recall", False), ("churn accuracy", False), ("quiet", True)]
    assert alerts[1].summary == "churn accuracy 64 % < 75 % (1,920 labels)"
    assert alerts[1].acknowledged_by == "otto"
    state = store.get_rule(engine=churn, rule_id=quality).state
    assert (state.acknowledged_by, state.acknowledged_note) == ("otto", "retraining")
    store.set_enabled(engine=churn, actor=OPERATOR, rule_id=critical, enabled=False)
    assert [a.name for a in store.firing(engine=churn)] == ["churn accuracy", "quiet"]


def test_events_come_back_newest_first_with_their_deliveries(churn: Engine) -> None:
    rule_id = store.save_rule(engine=churn, actor=OPERATOR, rule=_quality())
    now = utcnow()
    with session_scope(churn) as session:
        fired = AlertEvent(rule_id=rule_id, event="firing", at=now - timedelta(hours=1),
                           value=0.64, lower=0.62, upper=0.66, sample_size=1920,
                           message="fired", silenced=False)
        resolved = AlertEvent(rule_id=rule_id, event="resolved", at=now, value=0.85,
                              message="resolved", silenced=True)
        session.add_all([fired, resolved])
        session.flush()
        session.add(AlertDelivery(event_id=fired.id, target="https://hooks.example.com/x",
                                  format="json", status="failed", attempts=4,
                                  http_status=503, error="answered 503",
                                  next_attempt_at=now))
    found = store.events(engine=churn)
    assert [(e.event, e.silenced) for e in found] == [("resolved", True), ("firing", False)]
    assert found[1].sample_size == 1920
    assert [(d.status, d.attempts, d.http_status) for d in found[1].deliveries] == [
        ("failed", 4, 503)]
    assert found[0].deliveries == ()
    store.delete_rule(engine=churn, actor=ADMIN, rule_id=rule_id)
    assert store.events(engine=churn) == []
