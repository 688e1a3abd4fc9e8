"""Which rules a round evaluates and who evaluates, on both engines: each kind's cadence
(a quality rule only when labels arrived, or 15 minutes later; ``force`` ignores
cadences), and the evaluator's lease (one holder at a time, taken over once it runs out,
never both when two workers ask at the same moment)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import Engine

from db.base import utcnow
from services.alerts.evaluate import LEASE_SECONDS, evaluate_due
from services.alerts.rules import LabelBacklogRule, QualityRule, TrafficStoppedRule
from services.settings import Settings
from tests.alert_rows import label, state, store_rule
from tests.factories import log_predictions, make_model


def _start() -> datetime:
    return utcnow().replace(microsecond=0) - timedelta(hours=2)


def _evaluated(engine: Engine, settings: Settings, at: datetime, *,
               force: bool = False) -> list[int]:
    result = evaluate_due(engine=engine, settings=settings, holder="w1", now=at, force=force)
    assert result.held, result.note
    return [o.rule_id for o in result.outcomes]


def test_a_quality_rule_is_judged_when_labels_arrive_or_every_15_minutes(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    model_id, version_id = make_model(engine, name="churn")
    log_predictions(engine, model_id=model_id, version_id=version_id,
                    rows=[(t0 - timedelta(minutes=50 - i), "stays", "stays")
                          for i in range(20)])
    quality = store_rule(engine, QualityRule(
        name="acc", model="churn", metric="accuracy", floor=0.5, resolve_at=0.6,
        window_seconds=6 * 3600, min_labels=10))
    assert _evaluated(engine, settings, t0) == [quality]
    assert _evaluated(engine, settings, t0 + timedelta(minutes=2)) == []  # no new label
    late = log_predictions(engine, model_id=model_id, version_id=version_id,
                           rows=[(t0 - timedelta(minutes=5), "stays", None)] * 3)
    label(engine, late, "churns", t0 + timedelta(minutes=3))
    assert _evaluated(engine, settings, t0 + timedelta(minutes=4)) == [quality]
    judged = state(engine, quality)
    assert judged is not None
    assert judged.sample_size == 23  # the late labels are counted
    assert _evaluated(engine, settings, t0 + timedelta(minutes=6)) == []
    assert _evaluated(engine, settings, t0 + timedelta(minutes=6), force=True) == [quality]
    assert _evaluated(engine, settings, t0 + timedelta(minutes=20)) == []
    assert _evaluated(engine, settings, t0 + timedelta(minutes=21)) == [quality]


def test_traffic_and_backlog_rules_every_minute(engine: Engine, settings: Settings) -> None:
    t0 = _start()
    model_id, version_id = make_model(engine, name="churn")
    log_predictions(engine, model_id=model_id, version_id=version_id,
                    rows=[(t0 - timedelta(minutes=1), "stays", None)])
    traffic = store_rule(engine, TrafficStoppedRule(name="t", model="churn",
                                                    silence_seconds=600))
    backlog = store_rule(engine, LabelBacklogRule(name="b", model="churn", size=5,
                                                  resolve_size=1))
    assert _evaluated(engine, settings, t0) == [traffic, backlog]
    assert _evaluated(engine, settings, t0 + timedelta(seconds=45)) == []
    assert _evaluated(engine, settings, t0 + timedelta(seconds=60)) == [traffic, backlog]
    seen = state(engine, traffic)
    assert seen is not None
    assert seen.value == 120.0  # seconds since the newest prediction


def test_one_evaluator_holds_the_lease_and_another_takes_over_when_it_runs_out(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    model_id, version_id = make_model(engine, name="churn")
    log_predictions(engine, model_id=model_id, version_id=version_id,
                    rows=[(t0 - timedelta(minutes=1), "stays", None)])
    rid = store_rule(engine, LabelBacklogRule(name="b", model="churn", size=5,
                                              resolve_size=1))

    def run(holder: str, seconds: float) -> list[int] | None:
        result = evaluate_due(engine=engine, settings=settings, holder=holder,
                              now=t0 + timedelta(seconds=seconds), force=True)
        return [o.rule_id for o in result.outcomes] if result.held else None

    assert run("worker-a", 0) == [rid]
    refused = evaluate_due(engine=engine, settings=settings, holder="worker-b",
                           now=t0 + timedelta(seconds=10), force=True)
    assert not refused.held
    assert refused.outcomes == ()
    assert "worker-a" in refused.note
    assert run("worker-a", 20) == [rid]  # renewed until 20 + LEASE_SECONDS
    assert run("worker-b", 20 + LEASE_SECONDS - 1) is None
    assert run("worker-b", 20 + LEASE_SECONDS) == [rid]  # a stopped worker is replaced
    assert run("worker-a", 21 + LEASE_SECONDS) is None
    latest = state(engine, rid)
    assert latest is not None
    assert latest.evaluated_at == t0 + timedelta(seconds=20 + LEASE_SECONDS)


def test_two_workers_asking_at_once_never_both_evaluate(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    make_model(engine, name="churn")
    store_rule(engine, LabelBacklogRule(name="b", model="churn", size=5, resolve_size=1))
    for trial in range(4):  # the first race inserts the lease, the others update it
        at = t0 + timedelta(seconds=trial * (LEASE_SECONDS + 1))
        start = threading.Barrier(2)
        held: dict[str, bool] = {}

        def ask(holder: str, at: datetime = at, start: threading.Barrier = start,
                held: dict[str, bool] = held) -> None:
            start.wait()
            held[holder] = evaluate_due(engine=engine, settings=settings, holder=holder,
                                        now=at, force=True).held

        threads = [threading.Thread(target=ask, args=(f"worker-{n}",)) for n in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(held.values()) == [False, True], (trial, held)
