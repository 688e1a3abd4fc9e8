"""Serving and traffic rules as Prometheus alerts, on the inference service's own metrics.

The queries are the active query preset's Serving page panels rendered for the rule's model
over its window, combined as the in-app rule combines them
(:mod:`services.alerts.observe_serving`): the p95 is the largest of the model's versions,
the error rate is failed requests over all requests, the requests in the window are the
rates times the window (rounded, as the app rounds them), and fewer than ``min_requests``
is neither a breach nor a recovery. A traffic rule fires when the request rate over
``silence_seconds`` is 0 or there is no series at all.

Tests are generated only for the built-in ``opsdash`` panels (their metric names are
known here); with another preset the alerts are exported untested.
"""

from __future__ import annotations

import math

from services.alerts.figures import window_label
from services.alerts.promexpr import (
    CannotJudgeError,
    Scenario,
    number,
    phases,
    selector_text,
    with_hysteresis,
)
from services.alerts.rules import ServingRule, TrafficStoppedRule, duration_seconds
from services.prometheus import metric_names as m
from services.prometheus.presets import Preset
from services.prometheus.promql import SERVING_PANELS

__all__ = ["serving_alert", "traffic_alert"]

#: Requests a minute in the generated tests (at least the rule's ``min_requests``).
_PER_MINUTE = 60.0


def _panel(preset: Preset, panel: str, *, model: str, window: str, job: str) -> str | None:
    return preset.render(panel, model=model, versions=None, window=window, job=job)


def _own_panels(preset: Preset, *panels: str) -> bool:
    return all(preset.panels.get(p) == SERVING_PANELS[p] for p in panels)


def _counter(increments: list[float]) -> list[float]:
    total, values = 0.0, []
    for step in increments:
        total += step
        values.append(total)
    return values


def traffic_alert(rule: TrafficStoppedRule, preset: Preset, job: str
                  ) -> tuple[str, dict[str, str], Scenario | None]:
    """No request over the last ``silence_seconds`` (no series at all counts too)."""
    window = window_label(rule.silence_seconds)
    rate = _panel(preset, "request_rate", model=rule.model, window=window, job=job)
    if rate is None:
        raise CannotJudgeError(f"the query preset {preset.name!r} has no request_rate panel")
    expr = f"(sum({rate}) or on() vector(0)) == 0"
    minutes = math.ceil(rule.silence_seconds / 60)
    if not _own_panels(preset, "request_rate") or minutes < 3:
        return expr, {}, None  # a rate needs two samples of the test's one a minute
    timeline, checks = phases(rule.for_seconds, low=False, between=False, settle=minutes)
    series = selector_text(m.PREDICTIONS_TOTAL, {"model": rule.model, "version": "1",
                                                 "predicted_class": "a"})
    counts = _counter([0.0 if p == "breach" else _PER_MINUTE for p in timeline])
    return expr, {}, Scenario({series: counts}, checks)


def serving_alert(name: str, rule: ServingRule, preset: Preset, job: str
                  ) -> tuple[str, dict[str, str], Scenario | None]:
    """The p95 latency or error rate above the threshold, on at least ``min_requests``
    requests in the window; keeps firing until at or below ``resolve_at`` (with enough
    requests)."""
    panels = {p: _panel(preset, p, model=rule.model, window=rule.window, job=job)
              for p in ("request_rate", "error_rate", "latency_p95")}
    needed = "latency_p95" if rule.metric == "p95_latency" else "error_rate"
    for panel in ("request_rate", needed):
        if panels[panel] is None:
            raise CannotJudgeError(f"the query preset {preset.name!r} has no {panel} panel")
    answered = f"(sum({panels['request_rate']}) or on() vector(0))"
    failed = (f"(sum({panels['error_rate']}) or on() vector(0))"
              if panels["error_rate"] is not None else "vector(0)")
    seconds = duration_seconds(rule.window)
    enough = (f"on() ((({answered} + {failed}) * {seconds}) >= "
              f"{number(rule.min_requests - 0.5)})")
    value = (f"max({panels['latency_p95']})" if rule.metric == "p95_latency"
             else f"({failed} / ({answered} + {failed}))")
    expr = with_hysteresis(name, [], f"({value} > {number(rule.threshold)}) and {enough}",
                           f"({value} <= {number(rule.resolve_at)}) and {enough}")
    if not _own_panels(preset, "request_rate", "error_rate", "latency_p95"):
        return expr, {}, None
    scenario = (_latency_scenario(rule) if rule.metric == "p95_latency"
                else _error_scenario(rule))
    return expr, {}, scenario


def _timeline(rule: ServingRule) -> tuple[list[str], list[tuple[int, bool]], float]:
    minutes = math.ceil(duration_seconds(rule.window) / 60)
    per_minute = max(_PER_MINUTE, float(rule.min_requests))
    timeline, checks = phases(rule.for_seconds, low=False,
                              between=rule.resolve_at < rule.threshold, settle=minutes + 1)
    return timeline, checks, per_minute


def _error_scenario(rule: ServingRule) -> Scenario | None:
    """Shares of failed requests 2 % short of or past each threshold."""
    t, r = rule.threshold, rule.resolve_at
    if t >= 1.0:
        return None  # no share of failed requests is above 1
    timeline, checks, per_minute = _timeline(rule)
    share = {"edge": t * 0.98, "breach": t + (1 - t) * 0.02, "between": r + (t - r) * 0.02,
             "clear": r * 0.98}
    answered = selector_text(m.PREDICTIONS_TOTAL, {"model": rule.model, "version": "1",
                                                   "predicted_class": "a"})
    failed = selector_text(m.ERRORS_TOTAL, {"model": rule.model, "version": "1",
                                            "reason": "invalid"})
    return Scenario({
        answered: _counter([per_minute * (1 - share[p]) for p in timeline]),
        failed: _counter([per_minute * share[p] for p in timeline]),
    }, checks)


def _latency_scenario(rule: ServingRule) -> Scenario | None:
    """Every request of a phase in one narrow histogram bucket, so the p95 (interpolated
    in the bucket) lands just short of or just past each threshold: just under the resolve
    threshold when clear, just above it between, just under the threshold at the edge,
    just above it in breach."""
    t, r = rule.threshold, rule.resolve_at
    if r <= 0:
        return None  # no p95 is at or below 0
    gap = t - r if t > r else t
    narrow = 0.05 * gap
    upper = {"clear": r if t > r else t - narrow, "between": r + narrow, "edge": t,
             "breach": t + 0.05 * t}
    lows = {t - narrow, upper["clear"] - narrow}  # the buckets' lower ends
    bounds = sorted({*upper.values(), *(low for low in lows if low > 0)})
    timeline, checks, per_minute = _timeline(rule)
    series = {selector_text(m.PREDICTIONS_TOTAL, {"model": rule.model, "version": "1",
                                                  "predicted_class": "a"}):
              _counter([per_minute] * len(timeline))}
    for le in [*bounds, math.inf]:
        text = "+Inf" if le == math.inf else repr(le)
        key = selector_text(f"{m.LATENCY_SECONDS}_bucket",
                            {"model": rule.model, "version": "1", "le": text})
        series[key] = _counter([per_minute if upper[p] <= le else 0.0 for p in timeline])
    return Scenario(series, checks)
