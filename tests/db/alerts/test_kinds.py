"""Every store-based kind against a prepared store and a fake clock: quality scoped to the
version in production, traffic and backlog backtests agreeing with the live evaluation, a
failed retrain job until a later one succeeds, a bake-watch rollback within its window."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from db.base import utcnow
from db.lifecycle_models import RetrainJob
from db.repositories import promotions, registry
from db.repositories.predictions import insert_feedback, insert_predictions
from db.session import session_scope
from services.alerts.backtest import backtest
from services.alerts.describe import summary
from services.alerts.observe import observe
from services.alerts.rules import (
    BakeRollbackRule,
    LabelBacklogRule,
    QualityRule,
    RetrainFailedRule,
    TrafficStoppedRule,
)
from services.alerts.state import RuleState, Status, is_breach, step
from tests.factories import log_predictions, make_model

PER_HOUR = 20


def _hour(hours_ago: int) -> datetime:
    return utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)


def _hourly(base: datetime, hours: int, right: int) -> list[tuple[datetime, str, str | None]]:
    """``PER_HOUR`` labelled predictions an hour, ``right`` of them right."""
    rows: list[tuple[datetime, str, str | None]] = []
    for hour in range(hours):
        for i in range(PER_HOUR):
            truth = "churns" if i % 2 else "stays"
            wrong = "stays" if truth == "churns" else "churns"
            rows.append((base + timedelta(hours=hour, minutes=2 * i + 1),
                         truth if i < right else wrong, truth))
    return rows


def _second_version(engine: Engine, model_id: int, at: datetime) -> int:
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(session=session, model_id=model_id,
                                  artifact_path="/nonexistent/churn-v2.pkl",
                                  artifact_sha256="1" * 64, created_by="test",
                                  holdout_metrics={"accuracy": 0.9})
        registry.set_production(session=session, model_id=model_id, version_id=v2.id,
                                actor="tester", reason="better", at=at)
        return v2.id


def test_a_production_scoped_rule_judges_the_version_in_production_then(
        engine: Engine) -> None:
    base = _hour(48)
    promoted = base + timedelta(hours=24)
    model_id, v1 = make_model(engine, name="churn", at=base - timedelta(hours=1))
    log_predictions(engine, model_id=model_id, version_id=v1,
                    rows=_hourly(base, 30, right=10))  # v1 is bad, and answers until +30h
    v2 = _second_version(engine, model_id, promoted)
    log_predictions(engine, model_id=model_id, version_id=v2,
                    rows=_hourly(promoted, 24, right=19))
    rule = QualityRule(name="acc", model="churn", metric="accuracy", floor=0.75,
                       resolve_at=0.85, window_seconds=12 * 3600, min_labels=100,
                       for_seconds=3600)
    mixed = QualityRule(**{**rule.__dict__, "name": "acc all", "scope": "all"})
    at = promoted + timedelta(hours=6)
    own = observe(engine=engine, rule=rule, at=at)
    assert own.sample_size == 6 * PER_HOUR  # v2's only
    assert own.value == pytest.approx(19 / 20)
    every = observe(engine=engine, rule=mixed, at=at)
    assert every.sample_size == (12 + 6) * PER_HOUR  # v1 answered six more hours
    assert observe(engine=engine, rule=rule, at=promoted - timedelta(hours=1)).value == (
        pytest.approx(10 / 20))
    replay = backtest(engine=engine, rule=rule, start=base, end=base + timedelta(hours=48))
    assert replay.fired == 1
    episode = replay.episodes[0]
    assert episode.resolved_at is not None
    # Resolved as soon as v2 had min_labels labels (5 hours of 20), not after v1 stopped.
    assert episode.resolved_at == promoted + timedelta(hours=5)
    for at_step, seen, _ in replay.steps[::5]:
        live = observe(engine=engine, rule=rule, at=at_step)
        assert (live.value, live.sample_size) == (seen.value, seen.sample_size)
    assert backtest(engine=engine, rule=mixed, start=base,
                    end=base + timedelta(hours=48)).episodes[0].resolved_at != (
        episode.resolved_at)


def test_traffic_and_backlog_backtests_see_what_the_live_evaluation_sees(
        engine: Engine) -> None:
    base = _hour(30)
    model_id, v1 = make_model(engine, name="churn", at=base - timedelta(hours=1))
    rows: list[tuple[datetime, str, str | None]] = []
    for hour in [h for h in range(30) if not 10 <= h < 16]:  # six quiet hours
        for i in range(6):
            rows.append((base + timedelta(hours=hour, minutes=10 * i + 3), "stays",
                         "stays" if i % 3 == 0 else None))
    log_predictions(engine, model_id=model_id, version_id=v1, rows=rows)
    quiet = TrafficStoppedRule(name="quiet", model="churn", silence_seconds=2 * 3600,
                               for_seconds=3600)
    queue = LabelBacklogRule(name="queue", model="churn", size=60, resolve_size=50)
    for rule in (quiet, queue):
        replay = backtest(engine=engine, rule=rule, start=base, end=base + timedelta(hours=30))
        for at_step, seen, _ in replay.steps:
            live = observe(engine=engine, rule=rule, at=at_step)
            assert (live.value, live.unavailable is None) == (
                seen.value, seen.unavailable is None), (rule.name, at_step)
    replay = backtest(engine=engine, rule=quiet, start=base, end=base + timedelta(hours=30))
    assert replay.fired == 1
    episode = replay.episodes[0]
    # Last prediction at 9:53; more than two hours quiet from 12:00, firing an hour later.
    assert episode.fired_at == base + timedelta(hours=13)
    assert episode.resolved_at == base + timedelta(hours=17)
    backlog = backtest(engine=engine, rule=queue, start=base, end=base + timedelta(hours=30))
    assert backlog.fired == 1  # four of six await a label each hour: 60 passed at hour 16
    assert backlog.episodes[0].resolved_at is None


def _job(engine: Engine, model_id: int, status: str, finished: datetime, error: str = "") -> int:
    with session_scope(engine, write=True) as session:
        job = RetrainJob(model_id=model_id, status=status, requested_by="tester",
                         finished_at=finished, error=error, created_at=finished)
        session.add(job)
        session.flush()
        return job.id


def test_a_failed_retrain_fires_until_a_later_one_succeeds(engine: Engine) -> None:
    now = _hour(0)
    model_id, _ = make_model(engine, name="churn")
    _job(engine, model_id, "failed", now - timedelta(days=3), "too old to count")
    failed = _job(engine, model_id, "failed", now - timedelta(hours=5),
                  "out of memory\nTraceback ...")
    rule = RetrainFailedRule(name="retrain", model="churn", window_seconds=86_400)
    seen = observe(engine=engine, rule=rule, at=now)
    assert seen.value == 1
    assert is_breach(rule, seen)
    assert summary(rule, seen) == f"churn retrain job {failed} failed: out of memory"
    assert observe(engine=engine, rule=rule, at=now - timedelta(hours=6)).value == 0
    _job(engine, model_id, "succeeded", now - timedelta(hours=2))
    cleared = observe(engine=engine, rule=rule, at=now)
    assert cleared.value == 0
    move = step(rule, RuleState(Status.FIRING, now, now), cleared, now)
    assert move.event == "resolved"
    replay = backtest(engine=engine, rule=rule, start=now - timedelta(hours=12), end=now)
    assert [(e.fired_at, e.resolved_at) for e in replay.episodes] == [
        (now - timedelta(hours=5), now - timedelta(hours=2))]


def test_a_bake_rollback_fires_within_its_window(engine: Engine) -> None:
    now = _hour(0)
    model_id, v1 = make_model(engine, name="churn", at=now - timedelta(days=2))
    v2 = _second_version(engine, model_id, now - timedelta(hours=10))
    with session_scope(engine, write=True) as session:
        promotions.move_production(session=session, model_id=model_id, version_id=v1,
                                   expected=v2, actor="system", kind="rollback",
                                   reason="bake watch: error rate 9 % > 1 %",
                                   at=now - timedelta(hours=8),
                                   trigger={"error_rate": 0.09})
    rule = BakeRollbackRule(name="rollback", model="churn", window_seconds=6 * 3600)
    assert observe(engine=engine, rule=rule, at=now - timedelta(hours=7)).value == 1
    seen = observe(engine=engine, rule=rule, at=now - timedelta(hours=7))
    assert summary(rule, seen) == "churn rolled back v2 → v1 by the bake watch"
    assert observe(engine=engine, rule=rule, at=now).value == 0  # out of the window
    replay = backtest(engine=engine, rule=rule, start=now - timedelta(hours=12), end=now)
    assert [(e.fired_at, e.resolved_at) for e in replay.episodes] == [
        (now - timedelta(hours=8), now - timedelta(hours=2))]


def test_the_quality_backtest_counts_only_the_labels_that_had_arrived(engine: Engine) -> None:
    base = _hour(48)
    model_id, v1 = make_model(engine, name="churn", at=base - timedelta(hours=1))
    rows, labels = [], []
    for ts, predicted, truth in _hourly(base, 24, right=10):
        pid = uuid.uuid4().hex
        rows.append({"id": pid, "model_id": model_id, "version_id": v1, "ts": ts,
                     "features": {"tenure_months": 3.0, "plan": "basic"},
                     "predicted_class": predicted, "scores": {predicted: 0.8},
                     "top_score": 0.8, "latency_ms": 5.0})
        labels.append({"prediction_id": pid, "label": truth, "labeler": "tester",
                       "source": "ui", "created_at": ts + timedelta(hours=12)})
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=rows)
        insert_feedback(session=session, rows=labels)
    short = QualityRule(name="six hours", model="churn", metric="accuracy", floor=0.75,
                        resolve_at=0.8, window_seconds=6 * 3600, min_labels=60)
    end = base + timedelta(hours=30)
    # Every label is in by now, so the last six hours of predictions read as bad ...
    assert is_breach(short, observe(engine=engine, rule=short, at=base + timedelta(hours=24)))
    # ... but twelve hours after each prediction, a six-hour window never had a label.
    replay = backtest(engine=engine, rule=short, start=base, end=end)
    assert replay.fired == 0
    assert all(seen.sample_size == 0 for _, seen, _ in replay.steps)
    day = QualityRule(name="a day", model="churn", metric="accuracy", floor=0.75,
                      resolve_at=0.8, window_seconds=24 * 3600, min_labels=60)
    fired = backtest(engine=engine, rule=day, start=base, end=end)
    # Three hours of labels (60) are in 12 hours after the third hour's predictions.
    assert [e.fired_at for e in fired.episodes] == [base + timedelta(hours=15)]
