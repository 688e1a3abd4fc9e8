"""PromQL building: escaping, allow-listed label names, validated windows."""

from __future__ import annotations

import pytest

from services.promql import (
    LATENCY_P95_BY_MODEL,
    REQUEST_RATE_BY_MODEL,
    escape_label_value,
    escape_regex_value,
    selector,
)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("churn", "churn"),
        ('say "hi"', 'say \\"hi\\"'),
        ("back\\slash", "back\\\\slash"),
        ("two\nlines", "two\\nlines"),
        ('\\"', '\\\\\\"'),
    ],
)
def test_label_values_are_escaped_for_double_quotes(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped


def test_regex_values_escape_re2_metacharacters_before_quoting() -> None:
    assert escape_regex_value("v1.0+(beta)") == "v1\\\\.0\\\\+\\\\(beta\\\\)"


def test_injection_attempt_stays_inside_one_label_value() -> None:
    query = selector("m", {"model": '"} or {__name__=~".+"} #'})
    assert query == 'm{model="\\"} or {__name__=~\\".+\\"} #"}'


def test_label_names_outside_the_allow_list_are_refused() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        selector("m", {"__name__": "x"})


def test_templates_render_by_model_with_window() -> None:
    assert REQUEST_RATE_BY_MODEL.render(window="5m") == (
        "sum by (model) (rate(opsdash_predictions_total[5m]))"
    )
    p95 = LATENCY_P95_BY_MODEL.render(matchers={"model": "churn"})
    assert p95.startswith("histogram_quantile(0.95, sum by (model, le)")
    assert 'opsdash_prediction_latency_seconds_bucket{model="churn"}[2m]' in p95


@pytest.mark.parametrize("window", ["5", "5 m", "1m) or vector(1", ""])
def test_windows_that_are_not_durations_are_refused(window: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        REQUEST_RATE_BY_MODEL.render(window=window)
