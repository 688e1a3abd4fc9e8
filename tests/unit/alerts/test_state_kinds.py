"""The state machine for the kinds added with drift, serving, retrain and rollback rules,
on a fake clock: fires after its pending period, stays between the thresholds, resolves
at the resolve threshold, and never fires on too little to judge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.alerts.rules import (
    BakeRollbackRule,
    DriftShareRule,
    PredictionDriftRule,
    RetrainFailedRule,
    ServingRule,
)
from services.alerts.state import Observation, RuleState, Status, step

T0 = datetime(2027, 1, 4, 9, tzinfo=UTC)


def _run(rule: Any, values: list[Observation], every: timedelta) -> list[tuple[str | None,
                                                                              Status]]:
    state, clock, out = RuleState(), T0, []
    for obs in values:
        move = step(rule, state, obs, clock)
        state = move.state
        out.append((move.event, state.status))
        clock += every
    return out


def _share(v: float | None, rows: int = 500) -> Observation:
    return Observation(v, sample_size=rows)


@pytest.mark.parametrize("rule", [
    DriftShareRule(name="d", model="m", level=0.5, resolve_level=0.3, for_seconds=1800),
    PredictionDriftRule(name="p", model="m", level=0.5, resolve_level=0.3, for_seconds=1800),
])
def test_drift_fires_at_the_level_after_for_and_resolves_below_the_resolve_level(
        rule: Any) -> None:
    seen = [_share(0.25), _share(0.5), _share(0.625), _share(0.75), _share(0.4),
            _share(0.3), _share(0.125)]
    assert _run(rule, seen, timedelta(minutes=15)) == [
        (None, Status.INACTIVE), ("pending", Status.PENDING), (None, Status.PENDING),
        ("firing", Status.FIRING), (None, Status.FIRING), (None, Status.FIRING),
        ("resolved", Status.INACTIVE)]


def test_a_drift_window_with_too_few_rows_neither_fires_nor_resolves() -> None:
    rule = DriftShareRule(name="d", model="m", level=0.5, resolve_level=0.3)
    assert _run(rule, [_share(None, 10)] * 3, timedelta(minutes=15)) == [
        (None, Status.INACTIVE)] * 3
    firing = RuleState(Status.FIRING, T0, T0)
    assert step(rule, firing, _share(None, 10), T0).state.status is Status.FIRING


def test_serving_needs_enough_requests_to_fire_or_resolve() -> None:
    rule = ServingRule(name="s", model="m", metric="error_rate", threshold=0.05,
                       resolve_at=0.02, min_requests=100, for_seconds=120)
    seen = [Observation(0.5, sample_size=10), Observation(0.08, sample_size=400),
            Observation(0.09, sample_size=400), Observation(0.10, sample_size=400),
            Observation(0.0, sample_size=50), Observation(0.03, sample_size=400),
            Observation(0.02, sample_size=400)]
    assert _run(rule, seen, timedelta(minutes=1)) == [
        (None, Status.INACTIVE), ("pending", Status.PENDING), (None, Status.PENDING),
        ("firing", Status.FIRING), (None, Status.FIRING), (None, Status.FIRING),
        ("resolved", Status.INACTIVE)]


@pytest.mark.parametrize("rule", [RetrainFailedRule(name="r", model="m"),
                                  BakeRollbackRule(name="b", model="m")])
def test_counted_events_fire_at_one_and_resolve_at_zero(rule: Any) -> None:
    seen = [Observation(0.0), Observation(1.0), Observation(2.0), Observation(0.0)]
    assert _run(rule, seen, timedelta(minutes=1)) == [
        (None, Status.INACTIVE), ("firing", Status.FIRING), (None, Status.FIRING),
        ("resolved", Status.INACTIVE)]
    down = Observation(None, unavailable="the store could not be read: locked")
    move = step(rule, RuleState(Status.FIRING, T0, T0), down, T0)
    assert (move.event, move.state.status) == ("unknown", Status.UNKNOWN)
