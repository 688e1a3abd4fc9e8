"""The evaluator's rounds on a prepared store and a fake clock, on both engines: a rule
fires after its pending period, stays, resolves at its resolve threshold; events carry the
value that caused them; notifications are queued with firing and resolved events only,
never while silenced; a rule that cannot be read or whose source fails is unknown."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from db.alert_models import AlertRule
from db.base import utcnow
from db.models import ModelVersion
from db.repositories.registry import get_model
from db.session import session_scope
from services.alerts.evaluate import evaluate_due
from services.alerts.rules import LabelBacklogRule, QualityRule
from services.settings import Settings
from tests.alert_rows import (
    acknowledge,
    deliveries,
    events,
    label,
    state,
    store_rule,
    store_silence,
)
from tests.factories import log_predictions, make_model

HOOK = "http://127.0.0.1:9/hook"


def _start() -> datetime:
    return utcnow().replace(microsecond=0) - timedelta(hours=1)


def _with_hook(settings: Settings) -> Settings:
    return settings.model_copy(update={"alert_webhook_url": HOOK,
                                       "alert_webhook_format": "alertmanager"})


def _backlog(engine: Engine, t0: datetime, waiting: int) -> tuple[int, list[str]]:
    model_id, _version_id = make_model(engine, name="churn")
    return model_id, _more(engine, t0, waiting)


def _more(engine: Engine, t0: datetime, waiting: int) -> list[str]:
    """``waiting`` more unlabelled predictions of churn, made before ``t0``."""
    with session_scope(engine) as session:
        model_id = get_model(session=session, name="churn").id
        version_id = session.scalar(select(ModelVersion.id).where(
            ModelVersion.model_id == model_id))
    assert version_id is not None
    return log_predictions(engine, model_id=model_id, version_id=version_id,
                           rows=[(t0 - timedelta(minutes=10), "stays", None)] * waiting)


def _round(engine: Engine, settings: Settings, at: datetime, **extra: object) -> list[str]:
    """Evaluate at ``at``; the events written, as ``"<rule id>:<event>"``."""
    result = evaluate_due(engine=engine, settings=settings, holder="w1", now=at,
                          **extra)  # type: ignore[arg-type]
    assert result.held, result.note
    return [f"{o.rule_id}:{o.event}" for o in result.outcomes if o.event is not None]


def test_fires_after_for_stays_and_resolves_at_the_resolve_threshold(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    _model_id, ids = _backlog(engine, t0, waiting=4)
    rule = LabelBacklogRule(name="churn backlog", model="churn", size=3, resolve_size=1,
                            for_seconds=120, severity="critical")
    rid = store_rule(engine, rule)
    hooked = _with_hook(settings)
    assert _round(engine, hooked, t0) == [f"{rid}:pending"]
    assert _round(engine, hooked, t0 + timedelta(seconds=60)) == []  # 60 s < for
    assert _round(engine, hooked, t0 + timedelta(seconds=120)) == [f"{rid}:firing"]
    firing = state(engine, rid)
    assert firing is not None
    assert (firing.status, firing.fired_at, firing.value) == (
        "firing", t0 + timedelta(seconds=120), 4.0)
    acknowledge(engine, rid, "olivia")
    label(engine, ids[:2], "stays", t0)  # 2 waiting: below the size, above resolve_size
    assert _round(engine, hooked, t0 + timedelta(seconds=180)) == []
    kept = state(engine, rid)
    assert kept is not None
    assert (kept.status, kept.value, kept.acknowledged_by) == ("firing", 2.0, "olivia")
    label(engine, ids[2:3], "stays", t0)  # 1 waiting: resolved
    assert _round(engine, hooked, t0 + timedelta(seconds=240)) == [f"{rid}:resolved"]
    resolved = state(engine, rid)
    assert resolved is not None
    assert (resolved.status, resolved.fired_at, resolved.acknowledged_by) == (
        "inactive", None, None)
    assert resolved.evaluated_at == t0 + timedelta(seconds=240)
    history = events(engine, rid)
    assert [(e.event, e.value, e.at - t0) for e in history] == [
        ("pending", 4.0, timedelta(0)), ("firing", 4.0, timedelta(seconds=120)),
        ("resolved", 1.0, timedelta(seconds=240))]
    assert all(e.message and not e.silenced for e in history)
    sent = deliveries(engine)
    assert [(d.event_id, d.target, d.format, d.status) for d in sent] == [
        (history[1].id, HOOK, "alertmanager", "queued"),
        (history[2].id, HOOK, "alertmanager", "queued")]


def test_a_breach_that_ends_while_pending_notifies_nobody(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    _model_id, ids = _backlog(engine, t0, waiting=2)
    rid = store_rule(engine, LabelBacklogRule(name="b", model="churn", size=1,
                                              resolve_size=0, for_seconds=600))
    assert _round(engine, _with_hook(settings), t0) == [f"{rid}:pending"]
    label(engine, ids, "stays", t0)
    assert _round(engine, _with_hook(settings), t0 + timedelta(minutes=1)) == [
        f"{rid}:inactive"]
    assert deliveries(engine) == []


def test_the_rules_own_webhook_wins_and_no_webhook_queues_nothing(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    _backlog(engine, t0, waiting=2)
    own = store_rule(engine, LabelBacklogRule(name="own", model="churn", size=1,
                                              resolve_size=0),
                     webhook_url="http://127.0.0.1:9/own", webhook_format="json")
    store_rule(engine, LabelBacklogRule(name="global", model="churn", size=1, resolve_size=0))
    _round(engine, _with_hook(settings), t0)
    assert sorted((d.target, d.format) for d in deliveries(engine)) == [
        ("http://127.0.0.1:9/hook", "alertmanager"), ("http://127.0.0.1:9/own", "json")]
    assert own in [e.rule_id for e in events(engine, own)]
    store_rule(engine, LabelBacklogRule(name="quiet", model="churn", size=1, resolve_size=0))
    _round(engine, settings, t0 + timedelta(minutes=1))  # no global webhook configured
    assert len(deliveries(engine)) == 2


@pytest.mark.parametrize("target", ["rule", "model"])
def test_silenced_events_are_recorded_and_queue_nothing(
        engine: Engine, settings: Settings, target: str) -> None:
    t0 = _start()
    model_id, ids = _backlog(engine, t0, waiting=2)
    rid = store_rule(engine, LabelBacklogRule(name="b", model="churn", size=1,
                                              resolve_size=0))
    store_silence(engine, starts_at=t0 - timedelta(minutes=5), until=t0 + timedelta(minutes=2),
                  rule_id=rid if target == "rule" else None,
                  model_id=model_id if target == "model" else None)
    hooked = _with_hook(settings)
    assert _round(engine, hooked, t0) == [f"{rid}:firing"]
    label(engine, ids, "stays", t0)
    assert _round(engine, hooked, t0 + timedelta(minutes=1)) == [f"{rid}:resolved"]
    assert [(e.event, e.silenced) for e in events(engine, rid)] == [
        ("firing", True), ("resolved", True)]
    assert deliveries(engine) == []
    # Once the silence is over, the next firing notifies again.
    _more(engine, t0, 2)
    assert _round(engine, hooked, t0 + timedelta(minutes=3)) == [f"{rid}:firing"]
    assert events(engine, rid)[-1].silenced is False
    assert len(deliveries(engine)) == 1


def test_a_rule_that_cannot_be_read_or_whose_source_fails_is_unknown(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    _backlog(engine, t0, waiting=3)
    broken = store_rule(engine, LabelBacklogRule(name="broken", model="churn", size=1,
                                                 resolve_size=0),
                        definition={"kind": "gone_kind", "name": "broken", "model": "churn"})
    no_class = store_rule(engine, QualityRule(
        name="recall", model="churn", metric="recall:nobody", floor=0.5, resolve_at=0.6,
        min_labels=1))
    assert sorted(_round(engine, settings, t0)) == sorted(
        [f"{broken}:unknown", f"{no_class}:unknown"])
    read = state(engine, broken)
    assert read is not None
    assert read.status == "unknown"
    assert "kind" in read.message
    assert "\n" not in read.message
    other = state(engine, no_class)
    assert other is not None
    assert (other.status, other.value) == ("unknown", None)
    assert "nobody" in other.message
    # Unknown stays unknown without a new event.
    assert _round(engine, settings, t0 + timedelta(minutes=16)) == []


def test_a_firing_rule_whose_source_fails_is_unknown_never_resolved(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    _backlog(engine, t0, waiting=3)
    rule = LabelBacklogRule(name="b", model="churn", size=1, resolve_size=0)
    rid = store_rule(engine, rule)
    hooked = _with_hook(settings)
    assert _round(engine, hooked, t0) == [f"{rid}:firing"]
    # The same rule's definition made unreadable (as a failing source): unknown.
    with session_scope(engine, write=True) as session:
        row = session.get(AlertRule, rid)
        assert row is not None
        row.definition = {**row.definition, "model": "retired"}
    assert _round(engine, hooked, t0 + timedelta(minutes=1), force=True) == [
        f"{rid}:unknown"]
    unknown = state(engine, rid)
    assert unknown is not None
    assert (unknown.status, unknown.fired_at) == ("unknown", t0)
    assert "retired" in unknown.message
    assert [e.event for e in events(engine, rid)] == ["firing", "unknown"]
    assert len(deliveries(engine)) == 1  # the firing only


def test_disabled_rules_are_not_evaluated(engine: Engine, settings: Settings) -> None:
    t0 = _start()
    _backlog(engine, t0, waiting=3)
    rid = store_rule(engine, LabelBacklogRule(name="b", model="churn", size=1,
                                              resolve_size=0), enabled=False)
    assert _round(engine, settings, t0, force=True) == []
    assert state(engine, rid) is None


def test_a_firing_rule_is_sent_again_to_an_alertmanager_until_it_resolves(
        engine: Engine, settings: Settings) -> None:
    """Alertmanager resolves an alert it stops hearing about: while the rule fires, its
    firing notification is queued again every 20 minutes (not to a JSON webhook, not
    while silenced); each says it holds for an hour."""
    t0 = _start()
    model_id, ids = _backlog(engine, t0, waiting=2)
    rid = store_rule(engine, LabelBacklogRule(name="b", model="churn", size=1,
                                              resolve_size=0))
    hooked = _with_hook(settings)
    assert _round(engine, hooked, t0) == [f"{rid}:firing"]
    _round(engine, hooked, t0 + timedelta(minutes=10), force=True)
    assert len(deliveries(engine)) == 1
    _round(engine, hooked, t0 + timedelta(minutes=21), force=True)
    again = deliveries(engine)
    assert len(again) == 2
    assert again[0].event_id == again[1].event_id  # the same firing, re-sent
    store_silence(engine, starts_at=t0, until=t0 + timedelta(hours=1), model_id=model_id)
    _round(engine, hooked, t0 + timedelta(minutes=45), force=True)
    assert len(deliveries(engine)) == 2
    plain = settings.model_copy(update={"alert_webhook_url": HOOK})
    _round(engine, plain, t0 + timedelta(minutes=90), force=True)
    assert len(deliveries(engine)) == 2  # a JSON webhook hears of a firing once
    label(engine, ids, "stays", t0)
    assert _round(engine, hooked, t0 + timedelta(minutes=91)) == [f"{rid}:resolved"]
    _round(engine, hooked, t0 + timedelta(minutes=130), force=True)
    assert len(deliveries(engine)) == 3  # the resolution, and no more firing

