"""Observations read from the store and backtests over a prepared history, on both engines."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from db.base import utcnow
from services.alerts.backtest import backtest
from services.alerts.observe import observe
from services.alerts.rules import LabelBacklogRule, QualityRule, TrafficStoppedRule
from services.alerts.state import Status, is_breach
from services.quality.metrics import wilson_interval
from tests.factories import log_predictions, make_model

PER_HOUR = 20


def _hours_ago(hours: int) -> datetime:
    return utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)


def _history(engine: Engine, *, base: datetime, good: int, bad: int, again: int) -> None:
    """Hourly labelled predictions: ``good`` hours right 18 of 20, then ``bad`` hours right
    10 of 20, then ``again`` good hours."""
    model_id, version_id = make_model(engine, name="churn")
    rows: list[tuple[datetime, str, str | None]] = []
    for hour in range(good + bad + again):
        right = 10 if good <= hour < good + bad else 18
        for i in range(PER_HOUR):
            truth = "churns" if i % 2 else "stays"
            predicted = truth if i < right else ("stays" if truth == "churns" else "churns")
            rows.append((base + timedelta(hours=hour, minutes=2 * i + 1), predicted, truth))
    log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)


def _rule(**change: object) -> QualityRule:
    fields: dict[str, object] = {
        "name": "churn accuracy", "model": "churn", "metric": "accuracy", "floor": 0.75,
        "resolve_at": 0.80, "window_seconds": 6 * 3600, "min_labels": 60,
        "for_seconds": 2 * 3600}
    return QualityRule(**{**fields, **change})  # type: ignore[arg-type]


def test_quality_observation_counts_the_window_only(engine: Engine) -> None:
    base = _hours_ago(30)
    _history(engine, base=base, good=24, bad=6, again=0)
    at = base + timedelta(hours=30)
    seen = observe(engine=engine, rule=_rule(), at=at)
    assert seen.unavailable is None
    assert seen.sample_size == 6 * PER_HOUR
    assert seen.value == pytest.approx(60 / 120)
    assert seen.interval == wilson_interval(60, 120)
    assert is_breach(_rule(), seen)
    recall = observe(engine=engine, rule=_rule(metric="recall:churns"), at=at)
    assert recall.sample_size == 60  # the churns among the window's labels
    f1 = observe(engine=engine, rule=_rule(metric="macro_f1"), at=at)
    assert f1.value is not None
    assert f1.interval is not None
    assert f1.interval[0] <= f1.value <= f1.interval[1]


def test_traffic_backlog_and_an_unknown_model(engine: Engine) -> None:
    model_id, version_id = make_model(engine, name="churn")
    last = _hours_ago(2)
    log_predictions(engine, model_id=model_id, version_id=version_id, rows=[
        (last - timedelta(minutes=30), "stays", "stays"), (last, "stays", None),
        (last + timedelta(minutes=5), "churns", None)])
    quiet = TrafficStoppedRule(name="quiet", model="churn", silence_seconds=600)
    assert observe(engine=engine, rule=quiet,
                   at=last + timedelta(minutes=25)).value == pytest.approx(20 * 60)
    backlog = LabelBacklogRule(name="queue", model="churn", size=1, resolve_size=0)
    assert observe(engine=engine, rule=backlog, at=utcnow()).value == 2
    assert observe(engine=engine, rule=backlog, at=last + timedelta(minutes=1)).value == 1
    missing = observe(engine=engine, rule=_rule(model="nope"), at=utcnow())
    assert missing.unavailable is not None
    assert "\n" not in missing.unavailable
    assert observe(engine=engine, rule=TrafficStoppedRule(
        name="t", model="churn", silence_seconds=60), at=last - timedelta(hours=1)
    ).unavailable is not None


def test_backtest_fires_after_the_pending_period_and_resolves_at_the_threshold(
        engine: Engine) -> None:
    base = _hours_ago(72)
    _history(engine, base=base, good=24, bad=24, again=24)
    rule = _rule()
    result = backtest(engine=engine, rule=rule, start=base, end=base + timedelta(hours=72))
    assert result.fired == 1
    assert result.resolved == 1
    episode = result.episodes[0]
    assert episode.resolved_at is not None
    assert base + timedelta(hours=24) < episode.fired_at < base + timedelta(hours=48)
    assert base + timedelta(hours=48) < episode.resolved_at < base + timedelta(hours=72)
    # Each step saw what the live evaluation sees at that moment.
    for at, seen, _ in result.steps[::7]:
        live = observe(engine=engine, rule=rule, at=at)
        assert (live.value, live.sample_size) == (seen.value, seen.sample_size)
    first_breach = next(at for at, seen, _ in result.steps if is_breach(rule, seen))
    assert episode.fired_at == first_breach + timedelta(seconds=rule.for_seconds)
    resolved_step = next(s for s in result.steps if s[0] == episode.resolved_at)
    assert resolved_step[1].value is not None
    assert resolved_step[1].value >= rule.resolve_at
    firing = [seen.value for at, seen, status in result.steps if status is Status.FIRING]
    assert any(v is not None and rule.floor < v < rule.resolve_at for v in firing)


def test_backtest_never_fires_on_too_few_labels(engine: Engine) -> None:
    base = _hours_ago(72)
    _history(engine, base=base, good=24, bad=24, again=24)
    result = backtest(engine=engine, rule=_rule(min_labels=6 * PER_HOUR + 1),
                      start=base, end=base + timedelta(hours=72), step_seconds=60)
    assert result.fired == 0
    assert result.step_seconds == 3600  # never finer than an hour
    assert all(status is Status.INACTIVE for _, _, status in result.steps)
