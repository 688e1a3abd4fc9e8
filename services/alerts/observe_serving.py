"""Serving rules' figures from Prometheus: the model's p95 latency or error rate.

The queries are the active query preset's Serving page panels (``latency_p95``,
``request_rate``, ``error_rate``), rendered for the rule's model over its window (label
values escaped by the preset). The p95 is the largest of the model's versions; the error
rate is failed requests over all requests, as the Serving page's objective counts it; the
requests in the window are the rates times the window. Prometheus down, slow or answering
an error makes the observation unavailable (the rule goes *unknown*); too few requests is
nothing to judge (value ``None``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from services.alerts.rules import ServingRule, duration_seconds
from services.alerts.sources import Sources
from services.alerts.state import Observation
from services.prometheus.presets import Preset
from services.prometheus.source import MetricsSource, MetricsSourceError

__all__ = ["serving_history", "serving_observation", "serving_queries"]

_PANELS = {"latency": "latency_p95", "answered": "request_rate", "failed": "error_rate"}


def serving_queries(rule: ServingRule, preset: Preset) -> dict[str, str] | str:
    """The PromQL for ``latency``, ``answered`` and ``failed``, or why the preset cannot
    answer the rule (it lacks a panel)."""
    queries: dict[str, str] = {}
    for role, panel in _PANELS.items():
        query = preset.render(panel, model=rule.model, versions=None, window=rule.window)
        if query is not None:
            queries[role] = query
    needed = ("answered", "latency") if rule.metric == "p95_latency" else ("answered", "failed")
    missing = [role for role in needed if role not in queries]
    if missing:
        panel = _PANELS[missing[0]]
        return f"the query preset {preset.name!r} has no {panel} panel"
    return queries


def _usable(sources: Sources | None) -> tuple[MetricsSource, Preset] | str:
    if sources is None:
        return "serving rules need Prometheus (no sources given)"
    if sources.prometheus is None or sources.preset is None:
        return sources.prometheus_problem or "Prometheus is not configured"
    return sources.prometheus, sources.preset


def serving_observation(*, rule: ServingRule, sources: Sources | None) -> Observation:
    """What a serving rule sees now (Prometheus answers instant queries at its own now)."""
    usable = _usable(sources)
    if isinstance(usable, str):
        return Observation(None, unavailable=usable)
    prometheus, preset = usable
    queries = serving_queries(rule, preset)
    if isinstance(queries, str):
        return Observation(None, unavailable=queries)
    try:
        values = {role: [s.value for s in prometheus.instant(query)]
                  for role, query in queries.items()}
    except (MetricsSourceError, ValueError) as exc:
        return Observation(None, unavailable=f"Prometheus could not be read: {_line(exc)}")
    return judge(rule, values)


def serving_history(*, rule: ServingRule, sources: Sources | None, start: datetime,
                    end: datetime, step_seconds: int
                    ) -> list[tuple[datetime, Observation]] | str:
    """What the rule saw at every step of ``[start, end]`` (range queries), or why
    Prometheus cannot say."""
    usable = _usable(sources)
    if isinstance(usable, str):
        return usable
    prometheus, preset = usable
    queries = serving_queries(rule, preset)
    if isinstance(queries, str):
        return queries
    by_time: dict[float, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    try:
        for role, query in queries.items():
            answer = prometheus.range(query, start=start, end=end, step_s=step_seconds)
            for series in answer.series:
                for t, value in zip(series.times, series.values, strict=True):
                    by_time[t][role].append(value)
    except (MetricsSourceError, ValueError) as exc:
        return f"Prometheus could not be read: {_line(exc)}"
    return [(datetime.fromtimestamp(t, tz=start.tzinfo), judge(rule, by_time[t]))
            for t in sorted(by_time)]


def judge(rule: ServingRule, values: dict[str, list[float]]) -> Observation:
    """The rule's figure from the panels' values at one moment."""
    window = duration_seconds(rule.window)
    answered = _total(values.get("answered", ()))
    failed = _total(values.get("failed", ()))
    requests = round((answered + failed) * window)
    if requests < rule.min_requests:
        return Observation(None, sample_size=requests)
    if rule.metric == "error_rate":
        return Observation(failed / (answered + failed), sample_size=requests)
    latencies = [v for v in values.get("latency", ()) if math.isfinite(v)]
    return Observation(max(latencies) if latencies else None, sample_size=requests)


def _total(values: Iterable[float]) -> float:
    return sum(v for v in values if math.isfinite(v))


def _line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
