"""PromQL building: escaping, allow-listed label names, validated windows, range steps."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.prometheus.promql import (
    LATENCY_P95_BY_MODEL,
    MATCH_NOTHING,
    PANEL_NAMES,
    REQUEST_RATE_BY_MODEL,
    SERVING_PANELS,
    clamp_range,
    duration_seconds,
    escape_label_value,
    escape_regex_value,
    fill_placeholders,
    matcher_list,
    placeholders_in,
    selector,
    validate_window,
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


# --- control characters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("tab\there", "tab\\u0009here"), ("nul\x00", "nul\\u0000"), ("\ufffd", "\\ufffd"),
     ("naïve 日本", "naïve 日本")],
)
def test_control_characters_and_the_replacement_character_are_written_as_escapes(
    raw: str, escaped: str
) -> None:
    # PromQL's lexer rejects a literal U+FFFD ("invalid UTF-8 rune"); \ufffd is fine.
    assert escape_label_value(raw) == escaped


def test_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        escape_label_value("bad\ud800")


# --- regex matchers --------------------------------------------------------------------------


def test_regex_matchers_join_escaped_literals() -> None:
    assert selector("m", {"model": "churn"}, {"version": ["2", "1", "1"]}) == (
        'm{model="churn",version=~"1|2"}'
    )
    assert selector("m", regex_matchers={"model": ["a.b", "x|y", 'q"']}) == (
        'm{model=~"a\\\\.b|q\\"|x\\\\|y"}'
    )


def test_an_empty_value_list_matches_nothing_rather_than_everything() -> None:
    assert selector("m", regex_matchers={"version": []}) == f'm{{version=~"{MATCH_NOTHING}"}}'
    assert re.fullmatch(f"(?:{MATCH_NOTHING})", "") is None
    assert re.fullmatch(f"(?:{MATCH_NOTHING})", "a") is None


def test_regex_matchers_check_names_and_conflicts() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        selector("m", regex_matchers={"__name__": ["x"]})
    with pytest.raises(ValueError, match="both"):
        selector("m", {"version": "1"}, {"version": ["2"]})
    with pytest.raises(ValueError, match="list of strings"):
        selector("m", regex_matchers={"version": "12"})


def test_no_matchers_is_the_bare_metric() -> None:
    assert selector("m") == "m"
    assert matcher_list() == ""


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("90s", 90), ("1h30m", 5400), ("2d", 172800), ("1w", 604800),
     ("500ms", 0.5), ("1m30s500ms", 90.5), ("1y", 31536000)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "0m0s", "5", "m", "30m1h", "5 m", "1.5m", "-5m",
                                  "5M", "1h-1m"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        validate_window(text)


# --- clamp_range -----------------------------------------------------------------------------

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _points(start: datetime, end: datetime, step: float) -> int:
    return int((end - start).total_seconds() // step) + 1


def test_clamp_range_picks_about_300_points_by_default() -> None:
    start, end, step = clamp_range(T0, T0 + timedelta(days=7))
    assert (start, end) == (T0, T0 + timedelta(days=7))
    assert step == 2023.0  # ceil(604800 / 299)
    assert 290 <= _points(start, end, step) <= 300


def test_clamp_range_default_step_is_not_below_the_minimum() -> None:
    assert clamp_range(T0, T0 + timedelta(seconds=30))[2] == 1.0
    assert clamp_range(T0, T0 + timedelta(seconds=30), min_step_s=15)[2] == 15.0


def test_clamp_range_rounds_up_and_raises_an_explicit_step_to_the_point_limit() -> None:
    assert clamp_range(T0, T0 + timedelta(hours=1), 14.2)[2] == 15.0
    assert clamp_range(T0, T0 + timedelta(hours=1), 0.2)[2] == 1.0
    # 30 days at 1 s would be 2.6 million points; Prometheus refuses more than 11,000.
    step = clamp_range(T0, T0 + timedelta(days=30), 1)[2]
    assert _points(T0, T0 + timedelta(days=30), step) <= 11_000
    assert _points(T0, T0 + timedelta(days=30), step - 1) > 11_000


def test_clamp_range_at_exactly_the_limit() -> None:
    # 10,999 s at 1 s is exactly 11,000 points: allowed; one second more is not.
    assert clamp_range(T0, T0 + timedelta(seconds=10_999), 1)[2] == 1.0
    assert clamp_range(T0, T0 + timedelta(seconds=11_000), 1)[2] == 2.0


@pytest.mark.parametrize(
    ("start", "end", "step", "message"),
    [
        (T0.replace(tzinfo=None), T0 + timedelta(hours=1), None, "timezone-aware"),
        (T0, (T0 + timedelta(hours=1)).replace(tzinfo=None), None, "timezone-aware"),
        (T0, T0, None, "before"),
        (T0 + timedelta(hours=1), T0, None, "before"),
        (T0, T0 + timedelta(hours=1), 0, "positive"),
        (T0, T0 + timedelta(hours=1), -5, "positive"),
        (T0, T0 + timedelta(hours=1), math.nan, "positive"),
        (T0, T0 + timedelta(hours=1), math.inf, "positive"),
    ],
)
def test_clamp_range_refuses(start: datetime, end: datetime, step: float | None,
                             message: str) -> None:
    with pytest.raises(ValueError, match=message):
        clamp_range(start, end, step)


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                  timezone(timedelta(hours=-8))])),
    span_us=st.integers(min_value=1, max_value=400 * 86400 * 10**6),
    step=st.one_of(st.none(), st.floats(min_value=1e-3, max_value=1e6)),
    max_points=st.integers(min_value=1, max_value=20_000),
)
def test_clamp_range_properties(start: datetime, span_us: int, step: float | None,
                                max_points: int) -> None:
    end = start + timedelta(microseconds=span_us)
    got_start, got_end, got = clamp_range(start, end, step, max_points=max_points)
    assert (got_start, got_end) == (start, end)
    assert got == int(got) >= 1  # whole seconds
    span = timedelta(microseconds=span_us)
    points = span // timedelta(seconds=got) + 1
    assert points <= max_points
    wanted = step if step is not None else max(span / timedelta(seconds=299), 1.0)
    assert got >= wanted
    if got > max(math.ceil(wanted), 1):  # raised for the limit: one second less is too many
        assert span // timedelta(seconds=got - 1) + 1 > max_points
    if step is None and max_points >= 300:
        assert points <= 300


# --- panel templates -------------------------------------------------------------------------


def test_placeholders_are_found_but_dollar_digits_and_doubled_dollars_are_not() -> None:
    text = 'label_replace(x{$selector}[$window], "v", "$1", "l", "(.*)") $$literal $job'
    assert placeholders_in(text) == {"selector", "window", "job"}
    filled = fill_placeholders(text, {"selector": 'a="b"', "window": "5m", "job": 'job="j"'})
    assert filled == 'label_replace(x{a="b"}[5m], "v", "$1", "l", "(.*)") $literal job="j"'


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("m{$selector}", "m{}"),
        ('m{$selector,code="500"}', 'm{code="500"}'),
        ('m{code="500", $selector}', 'm{code="500"}'),
        ('m{code="500",$selector,x="y"}', 'm{code="500",x="y"}'),
    ],
)
def test_an_empty_selector_takes_its_comma_along(template: str, expected: str) -> None:
    assert fill_placeholders(template, {"selector": ""}) == expected


def test_serving_panels_group_so_one_query_serves_every_version() -> None:
    assert set(PANEL_NAMES) >= {"request_rate", "error_rate", "latency_p50", "latency_p95",
                                "latency_p99", "class_mix", "top_score", "cpu", "memory"}
    for name in ("request_rate", "latency_p50", "latency_p95", "latency_p99", "model_info"):
        assert "by (version" in SERVING_PANELS[name], name
    assert "by (reason)" in SERVING_PANELS["error_rate"]
    assert "by (predicted_class)" in SERVING_PANELS["class_mix"]
    assert SERVING_PANELS["top_score"].count("histogram_quantile") == 3
    assert "$job" in SERVING_PANELS["cpu"]
    assert "$job" in SERVING_PANELS["memory"]
    for template in SERVING_PANELS.values():
        assert placeholders_in(template) <= {"selector", "window", "job"}
