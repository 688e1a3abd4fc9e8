"""The backtest figure of the rule editor: what a rule watched over time, the level it
breaches and the one it resolves at, and the periods it would have been firing.

Pure plotly, no streamlit. A rule's figure is drawn in its own unit (a quality metric in
percent, seconds, a count); the time axis is in the display time zone, named in its title.
User text (rule and model names) is escaped here.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from dashboard.theme import THEME, Theme
from services.alerts.backtest import Backtest
from services.alerts.rules import Rule

__all__ = ["Scale", "backtest_figure", "backtest_words", "rule_scale"]

#: Fields that hold the level a rule breaches, and the one it resolves at, by kind-neutral
#: name (the first present wins).
_LEVEL_FIELDS = ("floor", "level", "slo", "threshold", "size", "silence_seconds",
                 "max_seconds", "limit")
_RESOLVE_FIELDS = ("resolve_at", "resolve_level", "resolve_below", "resolve_size",
                   "resolve_threshold")


@dataclass(frozen=True)
class Scale:
    """How a rule's figure is drawn: multiplied by ``factor``, in ``unit``."""

    factor: float
    unit: str
    #: The axis title (with the unit).
    title: str


def rule_scale(rule: Rule) -> Scale:
    """The unit of the figure ``rule`` watches."""
    metric = getattr(rule, "metric", None)
    if rule.kind == "quality_below" and isinstance(metric, str):
        words = (metric.replace("recall:", "recall of ").replace("macro_f1", "macro F1"))
        return Scale(100.0, "%", f"{words} (%)")
    if metric == "p95_latency":
        return Scale(1000.0, "ms", "p95 latency (ms)")
    if metric == "error_rate":
        return Scale(100.0, "%", "error rate (%)")
    if rule.kind == "traffic_stopped":
        return Scale(1 / 60, "min", "minutes since the last prediction")
    if rule.kind == "label_backlog_above":
        return Scale(1.0, "", "predictions awaiting a label")
    if rule.kind == "drift_share_above":
        return Scale(100.0, "%", "share of drifted features (%)")
    if rule.kind.startswith("prediction_drift"):
        return Scale(1.0, "", "prediction drift score (1 is the test's threshold)")
    return Scale(1.0, "", rule.kind.replace("_", " ") + " (count)")


def _first(rule: Rule, names: tuple[str, ...]) -> float | None:
    for name in names:
        value = getattr(rule, name, None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _levels(rule: Rule) -> tuple[float | None, float | None]:
    """The breach level and the resolve level, in the rule's own unit."""
    return _first(rule, _LEVEL_FIELDS), _first(rule, _RESOLVE_FIELDS)


def backtest_words(result: Backtest, tz: str) -> str:
    """``Would have fired 1 time and resolved 0 times in the last 14 days …`` (plain text)."""
    days = (result.end - result.start).total_seconds() / 86_400
    fired = "1 time" if result.fired == 1 else f"{result.fired} times"
    resolved = "1 time" if result.resolved == 1 else f"{result.resolved} times"
    step = result.step_seconds / 3600
    text = (f"Would have fired {fired} and resolved {resolved} over the last {days:.0f} days "
            f"(evaluated every {step:g} h).")
    if result.episodes:
        zone = ZoneInfo(tz)
        spans = []
        for episode in result.episodes:
            start = f"{episode.fired_at.astimezone(zone):%Y-%m-%d %H:%M}"
            end = ("still firing at the end" if episode.resolved_at is None else
                   f"resolved {episode.resolved_at.astimezone(zone):%Y-%m-%d %H:%M}")
            spans.append(f"fired {start}, {end}")
        text += f" Times in {tz}: " + "; ".join(spans) + "."
    return text


def _minimum(rule: Rule) -> int:
    """The sample a figure needs to be judged (labels, requests, rows), else 0."""
    for name in ("min_labels", "min_requests", "min_rows"):
        value = getattr(rule, name, None)
        if isinstance(value, int):
            return value
    return 0


def _series(rule: Rule, result: Backtest, scale: Scale, zone: ZoneInfo
            ) -> dict[str, list[Any]]:
    """Per step: the judged figure and its interval, and the figure on too small a sample
    (drawn apart: it is never judged)."""
    least = _minimum(rule)
    out: dict[str, list[Any]] = {k: [] for k in ("x", "value", "lower", "upper", "thin")}
    for at, obs, _status in result.steps:
        out["x"].append(at.astimezone(zone))
        seen = (obs.value * scale.factor if obs.unavailable is None and obs.value is not None
                else None)
        judged = seen is not None and (obs.sample_size is None or obs.sample_size >= least)
        out["value"].append(seen if judged else None)
        out["thin"].append(None if judged else seen)
        band = obs.interval if judged else None
        out["lower"].append(band[0] * scale.factor if band else None)
        out["upper"].append(band[1] * scale.factor if band else None)
    return out


def backtest_figure(*, rule: Rule, result: Backtest, tz: str, theme: Theme = THEME) -> go.Figure:
    """What ``rule`` watched at each step of ``result``, its interval (quality rules), the
    breach and resolve levels, and each firing period shaded."""
    zone = ZoneInfo(tz)
    scale = rule_scale(rule)
    data = _series(rule, result, scale, zone)
    fig = go.Figure(layout=theme.layout())
    if any(v is not None for v in data["upper"]):
        fig.add_scatter(x=data["x"], y=data["upper"], mode="lines", line={"width": 0},
                        showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=data["x"], y=data["lower"], mode="lines", line={"width": 0},
                        fill="tonexty", fillcolor="rgba(37, 99, 235, 0.15)",
                        name="interval", hoverinfo="skip")
    fig.add_scatter(x=data["x"], y=data["value"], mode="lines", name="watched figure",
                    line={"color": theme.primary, "width": 2})
    if any(v is not None for v in data["thin"]):
        fig.add_scatter(x=data["x"], y=data["thin"], mode="lines",
                        name=f"on fewer than {_minimum(rule):,}: not judged",
                        line={"color": theme.muted, "width": 1, "dash": "dot"})
    level, resolve = _levels(rule)
    if level is not None:
        fig.add_hline(y=level * scale.factor, line={"color": theme.bad, "dash": "dash"},
                      annotation_text="breach level", annotation_position="bottom left")
    if resolve is not None and resolve != level:
        fig.add_hline(y=resolve * scale.factor, line={"color": theme.good, "dash": "dot"},
                      annotation_text="resolves at", annotation_position="top left")
    for episode in result.episodes:
        fig.add_vrect(x0=episode.fired_at.astimezone(zone),
                      x1=(episode.resolved_at or result.end).astimezone(zone),
                      fillcolor=theme.bad, opacity=0.12, line_width=0)
    if not any(v is not None for v in data["value"]):
        why = ("too small a sample at every step" if any(v is not None for v in data["thin"])
               else "no data at any step")
        fig.add_annotation(text=f"nothing to judge in these 14 days ({why})",
                           x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           font={"size": 14, "color": theme.muted})
    name = html.escape(f"{rule.model}: {rule.name}")
    fig.update_layout(
        title={"text": f"Backtest of {name} (firing shaded)"},
        xaxis={"title": {"text": f"time ({html.escape(tz)})"}},
        yaxis={"title": {"text": html.escape(scale.title)}},
        height=320, margin={"t": 50, "b": 40, "l": 60, "r": 20},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    )
    return fig
