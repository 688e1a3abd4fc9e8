"""The rule state machine against a fake clock: pending, firing, hysteresis, unknown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.alerts.rules import LabelBacklogRule, QualityRule, TrafficStoppedRule
from services.alerts.state import Observation, RuleState, Status, step

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RULE = QualityRule(name="churn accuracy", model="churn", metric="accuracy", floor=0.75,
                   resolve_at=0.80, min_labels=200, for_seconds=7200)


def low(value: float = 0.60, n: int = 500) -> Observation:
    """A breach: the whole interval below the floor."""
    return Observation(value, (value - 0.05, value + 0.05), n)


def run(rule: QualityRule | TrafficStoppedRule | LabelBacklogRule,
        observations: list[Observation], every: timedelta = timedelta(hours=1)
        ) -> list[tuple[Status, str | None]]:
    """Feed observations one step apart; the status and event after each."""
    state = RuleState()
    out = []
    for i, obs in enumerate(observations):
        move = step(rule, state, obs, T0 + i * every)
        state = move.state
        out.append((state.status, move.event))
    return out


def test_a_breach_is_pending_until_it_held_for_the_pending_period_then_fires_and_stays() -> None:
    assert run(RULE, [low(), low(), low(), low()]) == [
        (Status.PENDING, "pending"), (Status.PENDING, None),
        (Status.FIRING, "firing"), (Status.FIRING, None)]


def test_a_breach_that_ends_before_the_pending_period_never_fires() -> None:
    ok = Observation(0.9, (0.88, 0.92), 500)
    assert run(RULE, [low(), ok, low(), ok]) == [
        (Status.PENDING, "pending"), (Status.INACTIVE, "inactive"),
        (Status.PENDING, "pending"), (Status.INACTIVE, "inactive")]


def test_no_pending_period_fires_at_once() -> None:
    rule = QualityRule(name="r", model="churn", metric="accuracy", floor=0.75,
                       resolve_at=0.8, min_labels=10)
    assert run(rule, [low()]) == [(Status.FIRING, "firing")]


def test_it_resolves_at_the_resolve_threshold_only() -> None:
    between = Observation(0.78, (0.76, 0.80), 500)  # above the floor, below resolve
    at_resolve = Observation(0.80, (0.70, 0.90), 500)  # wide interval: the estimate counts
    steps = run(RULE, [low(), low(), low(), between, between, at_resolve])
    assert steps[3:] == [(Status.FIRING, None), (Status.FIRING, None),
                         (Status.INACTIVE, "resolved")]


def test_fewer_labels_than_the_minimum_never_breach_nor_resolve() -> None:
    few = Observation(0.10, (0.01, 0.30), 199)
    assert run(RULE, [few] * 5) == [(Status.INACTIVE, None)] * 5
    recovered_on_few = Observation(0.95, (0.5, 0.99), 20)
    steps = run(RULE, [low(), low(), low(), recovered_on_few])
    assert steps[-1] == (Status.FIRING, None)


def test_an_interval_straddling_the_floor_is_not_a_breach() -> None:
    straddling = Observation(0.70, (0.62, 0.78), 250)  # estimate below, upper bound above
    assert run(RULE, [straddling] * 4) == [(Status.INACTIVE, None)] * 4


def test_a_dead_source_is_unknown_never_resolved_and_firing_comes_back() -> None:
    dead = Observation(None, unavailable="Prometheus did not answer")
    steps = run(RULE, [low(), low(), low(), dead, dead, low()])
    assert steps[3:] == [(Status.UNKNOWN, "unknown"), (Status.UNKNOWN, None),
                         (Status.FIRING, "firing")]
    assert run(RULE, [dead, Observation(0.9, (0.88, 0.92), 500)]) == [
        (Status.UNKNOWN, "unknown"), (Status.INACTIVE, "inactive")]


def test_a_firing_rule_whose_source_dies_then_recovers_resolves() -> None:
    dead = Observation(None, unavailable="store down")
    steps = run(RULE, [low(), low(), low(), dead, Observation(0.85, (0.8, 0.9), 500)])
    assert steps[-1] == (Status.INACTIVE, "resolved")


def test_the_pending_period_is_measured_on_the_clock_not_in_steps() -> None:
    steps = run(RULE, [low()] * 5, every=timedelta(minutes=30))
    assert [s for s, _ in steps] == [Status.PENDING] * 4 + [Status.FIRING]


def test_traffic_stopped_and_backlog_rules() -> None:
    traffic = TrafficStoppedRule(name="quiet", model="churn", silence_seconds=600)
    assert run(traffic, [Observation(30.0), Observation(900.0), Observation(10.0)]) == [
        (Status.INACTIVE, None), (Status.FIRING, "firing"), (Status.INACTIVE, "resolved")]
    backlog = LabelBacklogRule(name="queue", model="churn", size=100, resolve_size=50,
                               for_seconds=3600)
    values = [120.0, 130.0, 80.0, 50.0]
    assert run(backlog, [Observation(v) for v in values]) == [
        (Status.PENDING, "pending"), (Status.FIRING, "firing"), (Status.FIRING, None),
        (Status.INACTIVE, "resolved")]
