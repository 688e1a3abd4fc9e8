"""The evaluator with rules saved, silenced and acknowledged through the alert store, on
both engines: what it writes is what the page and the banner read back."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from db.base import utcnow
from services.access.principal import Principal
from services.alerts import store
from services.alerts.evaluate import evaluate_due
from services.alerts.rules import LabelBacklogRule
from services.settings import Settings
from tests.alert_rows import label
from tests.factories import log_predictions, make_model

OPERATOR = Principal("otto", "operator")


def _round(engine: Engine, settings: Settings, at: datetime) -> None:
    assert evaluate_due(engine=engine, settings=settings, holder="w", now=at,
                        force=True).held


def test_the_store_reads_back_what_the_evaluator_wrote(
        engine: Engine, settings: Settings) -> None:
    t0 = utcnow().replace(microsecond=0)
    model_id, version_id = make_model(engine, name="churn")
    ids = log_predictions(engine, model_id=model_id, version_id=version_id,
                          rows=[(t0 - timedelta(minutes=5), "stays", None)] * 3)
    hooked = settings.model_copy(update={"alert_webhook_url": "http://127.0.0.1:9/hook"})
    rule = LabelBacklogRule(name="churn backlog", model="churn", size=2, resolve_size=0,
                            severity="critical")
    rid = store.save_rule(engine=engine, actor=OPERATOR, rule=rule, now=t0)
    _round(engine, hooked, t0)
    [alert] = store.firing(engine=engine, now=t0)
    assert (alert.rule_id, alert.since, alert.silenced) == (rid, t0, False)
    assert alert.summary == store.get_rule(engine=engine, rule_id=rid).state.message
    store.acknowledge(engine=engine, actor=OPERATOR, rule_id=rid, note="looking", now=t0)
    assert store.firing(engine=engine, now=t0)[0].acknowledged_by == "otto"
    store.silence(engine=engine, actor=OPERATOR, rule_id=rid, reason="relabelling",
                  until=t0 + timedelta(hours=1), now=t0)
    label(engine, ids, "stays", t0)
    _round(engine, hooked, t0 + timedelta(minutes=1))
    resolved = store.get_rule(engine=engine, rule_id=rid)
    assert (resolved.state.status, resolved.state.acknowledged_by) == ("inactive", None)
    assert store.firing(engine=engine, now=t0 + timedelta(minutes=1)) == []
    newest, first = store.events(engine=engine, rule_id=rid)
    assert (first.event, first.value, first.silenced, len(first.deliveries)) == (
        "firing", 3.0, False, 1)
    assert (newest.event, newest.value, newest.silenced, newest.deliveries) == (
        "resolved", 0.0, True, ())


def test_an_edited_rule_is_judged_afresh(engine: Engine, settings: Settings) -> None:
    t0 = utcnow().replace(microsecond=0)
    model_id, version_id = make_model(engine, name="churn")
    log_predictions(engine, model_id=model_id, version_id=version_id,
                    rows=[(t0 - timedelta(minutes=5), "stays", None)] * 3)
    rule = LabelBacklogRule(name="churn backlog", model="churn", size=2, resolve_size=0)
    rid = store.save_rule(engine=engine, actor=OPERATOR, rule=rule, now=t0)
    _round(engine, settings, t0)
    assert store.get_rule(engine=engine, rule_id=rid).state.status == "firing"
    store.save_rule(engine=engine, actor=OPERATOR, rule_id=rid, now=t0 + timedelta(seconds=5),
                    rule=LabelBacklogRule(name="churn backlog", model="churn", size=2,
                                          resolve_size=0, for_seconds=600))
    _round(engine, settings, t0 + timedelta(seconds=10))
    assert store.get_rule(engine=engine, rule_id=rid).state.status == "pending"
