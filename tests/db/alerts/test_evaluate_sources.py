"""The evaluator with rules that read outside the store, on both engines: a serving rule
fires from a Prometheus played by a loopback stub, goes *unknown* (never resolved, nobody
notified) while Prometheus is down, and resolves once it answers with the rate back down;
a drift rule is evaluated at most every 15 minutes unless forced; a worker whose lease ran
out while Prometheus held its query writes nothing more."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import Engine

from db.alert_models import WorkerLease
from db.base import utcnow
from db.session import session_scope
from devstack.processes import free_loopback_port
from services.alerts.evaluate import LEASE_NAME, EvaluationRound, evaluate_due
from services.alerts.rules import DriftShareRule, ServingRule
from services.prometheus import metric_names as m
from services.settings import Settings
from tests.alert_rows import deliveries, events, state, store_rule
from tests.factories import make_model
from tests.unit.alerts.test_serving import Stub, stub  # noqa: F401  (the stub fixture)

HOOK = "http://127.0.0.1:9/hook"


def _round(engine: Engine, settings: Settings, at: datetime, *,
           force: bool = False) -> list[str | None]:
    result = evaluate_due(engine=engine, settings=settings, holder="w", now=at, force=force)
    assert result.held, result.note
    return [o.event for o in result.outcomes]


def test_a_serving_rule_is_unknown_while_prometheus_is_down_never_resolved(
        engine: Engine, settings: Settings, stub: tuple[str, Stub]) -> None:  # noqa: F811
    url, answers = stub
    t0 = utcnow().replace(microsecond=0)
    make_model(engine, name="churn")
    rid = store_rule(engine, ServingRule(
        name="churn errors", model="churn", metric="error_rate", threshold=0.01,
        resolve_at=0.005, window="5m", min_requests=20))
    up = settings.model_copy(update={"prometheus_url": url, "prometheus_timeout": 0.5,
                                     "alert_webhook_url": HOOK})
    down = up.model_copy(update={
        "prometheus_url": f"http://127.0.0.1:{free_loopback_port()}"})
    assert _round(engine, up, t0) == ["firing"]  # 0.1 errors a second of 2.1 requests
    assert _round(engine, down, t0 + timedelta(minutes=1)) == ["unknown"]
    unknown = state(engine, rid)
    assert unknown is not None
    assert (unknown.status, unknown.fired_at, unknown.value) == ("unknown", t0, None)
    assert "Prometheus" in unknown.message
    assert _round(engine, down, t0 + timedelta(minutes=2)) == [None]  # still unknown
    answers.values[m.ERRORS_TOTAL] = 0.0
    assert _round(engine, up, t0 + timedelta(minutes=3)) == ["resolved"]
    assert [e.event for e in events(engine, rid)] == ["firing", "unknown", "resolved"]
    notified = [d.event_id for d in deliveries(engine)]
    assert notified == [e.id for e in events(engine, rid) if e.event != "unknown"]


def test_a_drift_rule_is_evaluated_at_most_every_15_minutes_unless_forced(
        engine: Engine, settings: Settings) -> None:
    t0 = utcnow().replace(microsecond=0)
    make_model(engine, name="churn")
    rid = store_rule(engine, DriftShareRule(name="churn drift", model="churn", level=0.3,
                                            resolve_level=0.2))

    def evaluated(at: datetime, force: bool = False) -> bool:
        result = evaluate_due(engine=engine, settings=settings, holder="w", now=at,
                              force=force)
        return rid in [o.rule_id for o in result.outcomes]

    assert evaluated(t0)
    assert not evaluated(t0 + timedelta(minutes=5))
    assert evaluated(t0 + timedelta(minutes=5), force=True)
    assert not evaluated(t0 + timedelta(minutes=19))
    assert evaluated(t0 + timedelta(minutes=20))
    judged = state(engine, rid)
    assert judged is not None
    assert judged.evaluated_at == t0 + timedelta(minutes=20)


def test_a_worker_whose_lease_ran_out_mid_round_writes_nothing_more(
        engine: Engine, settings: Settings, stub: tuple[str, Stub]) -> None:  # noqa: F811
    url, answers = stub
    answers.delay = 60.0  # Prometheus holds the first rule's query until released
    make_model(engine, name="churn")
    slow = store_rule(engine, ServingRule(
        name="churn errors", model="churn", metric="error_rate", threshold=0.01,
        resolve_at=0.005, window="5m", min_requests=20))
    later = store_rule(engine, DriftShareRule(name="churn drift", model="churn", level=0.3,
                                              resolve_level=0.2))
    slow_prometheus = settings.model_copy(update={"prometheus_url": url,
                                                  "prometheus_timeout": 30.0})
    result: list[EvaluationRound] = []
    round_ = threading.Thread(target=lambda: result.append(evaluate_due(
        engine=engine, settings=slow_prometheus, holder="worker-a")))
    round_.start()
    deadline = time.monotonic() + 30
    while not answers.queries:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Meanwhile the lease ran out and another worker took it.
    with session_scope(engine, write=True) as session:
        lease = session.get(WorkerLease, LEASE_NAME)
        assert lease is not None
        lease.holder, lease.lease_until = "worker-b", utcnow() + timedelta(minutes=5)
    answers.release.set()
    round_.join(60)
    [stopped] = result
    assert not stopped.held
    assert "lease" in stopped.note
    assert stopped.outcomes == ()
    assert state(engine, slow) is None
    assert state(engine, later) is None
