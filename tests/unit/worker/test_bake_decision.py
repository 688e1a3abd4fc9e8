"""The bake watch's decision on stubbed figures: what breaches, what does not, and why."""

from __future__ import annotations

import pytest

from services.worker.bake import (
    MIN_REQUESTS,
    AccuracyFigures,
    BakeLimits,
    ServingFigures,
    decide,
)

LIMITS = BakeLimits(latency_p95_s=0.25, error_rate=0.01, min_labels=100, accuracy_drop=0.05)
CLEAN = ServingFigures(requests=1000, errors=5, p95_latency_s=0.05)
NO_LABELS = AccuracyFigures(new_labelled=0, new_correct=0, old_labelled=0, old_correct=0)


def _accuracy(new: tuple[int, int], old: tuple[int, int]) -> AccuracyFigures:
    return AccuracyFigures(new_labelled=new[0], new_correct=new[1],
                           old_labelled=old[0], old_correct=old[1])


def test_a_clean_version_does_not_breach() -> None:
    decision = decide(serving=CLEAN, accuracy=_accuracy((200, 180), (200, 182)), limits=LIMITS)

    assert not decision.breach
    assert "within the SLO" in decision.reason
    assert "accuracy within the allowed drop" in decision.reason


def test_an_error_rate_over_the_slo_breaches_with_its_numbers() -> None:
    serving = ServingFigures(requests=400, errors=20, p95_latency_s=0.05)

    decision = decide(serving=serving, accuracy=NO_LABELS, limits=LIMITS)

    assert decision.breach
    assert decision.reason == ("error rate 5.00% (interval 2.45% to 9.92%) over the SLO "
                               "1.00% (20 of 400 requests)")
    assert decision.trigger["error_rate"] == pytest.approx(0.05)
    assert decision.trigger["requests"] == 400
    assert decision.trigger["slo_error_rate"] == 0.01


def test_an_error_rate_over_the_slo_on_few_requests_is_no_breach_until_it_is_clear() -> None:
    """One or two invalid requests among the first few dozen say nothing about a 1 % SLO;
    the 99.9 % interval must lie wholly above it."""
    for errors, requests, breach in ((1, 24, False), (2, 40, False), (3, 60, False),
                                     (5, 100, True), (8, 24, True), (12, 400, True),
                                     (4, 400, False)):
        decision = decide(serving=ServingFigures(requests=requests, errors=errors,
                                                 p95_latency_s=0.05),
                          accuracy=NO_LABELS, limits=LIMITS)
        assert decision.breach is breach, (errors, requests, decision.reason)


def test_an_error_rate_exactly_at_the_slo_does_not_breach() -> None:
    serving = ServingFigures(requests=1000, errors=10, p95_latency_s=0.05)

    assert not decide(serving=serving, accuracy=NO_LABELS, limits=LIMITS).breach


def test_a_p95_latency_over_the_slo_breaches() -> None:
    serving = ServingFigures(requests=400, errors=0, p95_latency_s=0.4)

    decision = decide(serving=serving, accuracy=NO_LABELS, limits=LIMITS)

    assert decision.breach
    assert decision.reason == "p95 latency 400 ms over the SLO 250 ms"
    assert decision.trigger["p95_latency_s"] == 0.4


def test_both_serving_breaches_are_named() -> None:
    serving = ServingFigures(requests=400, errors=40, p95_latency_s=0.4)

    reason = decide(serving=serving, accuracy=NO_LABELS, limits=LIMITS).reason

    assert "error rate 10.00%" in reason
    assert "p95 latency 400 ms" in reason


def test_too_little_traffic_is_not_judged() -> None:
    serving = ServingFigures(requests=MIN_REQUESTS - 1, errors=MIN_REQUESTS - 1,
                             p95_latency_s=9.0)

    decision = decide(serving=serving, accuracy=NO_LABELS, limits=LIMITS)

    assert not decision.breach
    assert "too few to judge" in decision.reason


def test_missing_serving_figures_never_breach() -> None:
    decision = decide(serving=None, accuracy=NO_LABELS, limits=LIMITS)

    assert not decision.breach
    assert "serving figures unavailable" in decision.reason
    assert "requests" not in decision.trigger


def test_an_accuracy_drop_beyond_the_allowed_one_breaches() -> None:
    # 0.80 against 0.90: 10 points below, the allowed drop is 5.
    decision = decide(serving=CLEAN, accuracy=_accuracy((100, 80), (100, 90)), limits=LIMITS)

    assert decision.breach
    assert decision.reason == ("accuracy 80.0% on 100 labels, more than 5.0% below the old "
                               "version's 90.0% on 100")
    assert decision.trigger["new_accuracy"] == pytest.approx(0.8)
    assert decision.trigger["old_accuracy"] == pytest.approx(0.9)


def test_an_accuracy_drop_exactly_at_the_allowed_one_does_not_breach() -> None:
    limits = BakeLimits(latency_p95_s=0.25, error_rate=0.01, min_labels=100, accuracy_drop=0.25)
    # 0.5 against 0.75: exactly the allowed drop (binary fractions: no rounding).
    decision = decide(serving=CLEAN, accuracy=_accuracy((100, 50), (100, 75)), limits=limits)

    assert not decision.breach


@pytest.mark.parametrize(("new", "old"), [((99, 0), (100, 100)), ((100, 0), (99, 99))])
def test_accuracy_is_not_judged_below_the_minimum_labels_of_either_version(
        new: tuple[int, int], old: tuple[int, int]) -> None:
    decision = decide(serving=CLEAN, accuracy=_accuracy(new, old), limits=LIMITS)

    assert not decision.breach
    assert "accuracy not judged yet" in decision.reason
    assert "100 needed" in decision.reason


def test_a_better_new_version_does_not_breach() -> None:
    decision = decide(serving=CLEAN, accuracy=_accuracy((300, 290), (300, 200)), limits=LIMITS)

    assert not decision.breach
