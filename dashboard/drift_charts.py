"""Figures of the Drift page: pure plotly builders, keyword arguments in, a Figure out.

Every name that comes from a model (feature, category, class) is escaped here: plotly
renders titles, ticks and hover text as HTML.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date

import numpy as np
import plotly.graph_objects as go

from dashboard.charts import add_band
from dashboard.theme import THEME, Theme
from services.drift.analysis import DayCell
from services.drift.frame import Frame
from services.drift.samples import NUMERIC, Kind

__all__ = [
    "class_mix_figure",
    "distribution_figure",
    "drift_heatmap_figure",
    "top_score_figure",
]

#: Scores above this are drawn in the darkest colour (the hover keeps the real value).
SCORE_CAP = 5.0
_REFERENCE = "#8c8c8c"


def _day(day: date) -> str:
    return f"{day:%a} {day:%b} {day.day}"


def _short_day(day: date) -> str:
    return f"{day:%b} {day.day}"


def distribution_figure(
    *, feature: str, kind: Kind, reference: np.ndarray, current: np.ndarray,
    reference_label: str, current_label: str, new_categories: Sequence[str] = (),
    theme: Theme = THEME,
) -> go.Figure:
    """Reference and current distributions of one feature, as shares of each sample.

    Numbers: overlaid histograms on shared bins (missing values left out). Categories:
    grouped bars, categories new in the current window marked "new".
    """
    fig = go.Figure(layout=theme.layout())
    name = html.escape(feature)
    if kind == NUMERIC:
        ref = reference[np.isfinite(reference)]
        cur = current[np.isfinite(current)]
        both = np.concatenate([ref, cur])
        edges = np.histogram_bin_edges(both, bins=40) if both.size else np.array([0.0, 1.0])
        for values, label, colour in ((ref, reference_label, _REFERENCE),
                                      (cur, current_label, theme.primary)):
            binned, _ = np.histogram(values, edges)
            shares = 100 * binned / max(values.size, 1)
            fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=shares, width=np.diff(edges),
                        name=html.escape(label), marker_color=colour, opacity=0.6,
                        hovertemplate="%{x:.4g}: %{y:.1f} %<extra>" + html.escape(label)
                        + "</extra>")
        fig.update_layout(barmode="overlay", xaxis={"title": {"text": name}})
    else:
        ref_keys, ref_counts = _value_counts(reference)
        cur_keys, cur_counts = _value_counts(current)
        keys = sorted(set(ref_keys) | set(cur_keys))
        new = set(new_categories)
        ticks = [html.escape(k) + (" (new)" if k in new else "") for k in keys]
        for values, counts, label, colour in (
            (ref_keys, ref_counts, reference_label, _REFERENCE),
            (cur_keys, cur_counts, current_label, theme.primary),
        ):
            total = max(sum(counts), 1)
            share = dict(zip(values, counts, strict=True))
            fig.add_bar(x=ticks, y=[100 * share.get(k, 0) / total for k in keys],
                        name=html.escape(label), marker_color=colour,
                        hovertemplate="%{x}: %{y:.1f} %<extra>" + html.escape(label)
                        + "</extra>")
        fig.update_layout(barmode="group",
                          xaxis={"title": {"text": name}, "type": "category"})
    fig.update_layout(
        title={"text": f"{name}: reference and current distributions"},
        yaxis={"title": {"text": "share of the sample (%)"}, "rangemode": "tozero"},
        hovermode="closest", height=360,
    )
    return fig


def _value_counts(values: np.ndarray) -> tuple[list[str], list[int]]:
    present = [v for v in values.tolist() if v is not None]
    if not present:
        return [], []
    keys, counts = np.unique(np.array(present, dtype=str), return_counts=True)
    return [str(k) for k in keys], [int(c) for c in counts]


def drift_heatmap_figure(
    *, model: str, features: Sequence[str], days: Sequence[date],
    cells: dict[str, Sequence[DayCell]], tz: str, theme: Theme = THEME,
) -> go.Figure:
    """Features × days, coloured by drift score (1 = the feature's threshold).

    A day with too few predictions is blank and says so on hover.
    """
    x = [_day(d) for d in days]
    y = [html.escape(f) for f in features]
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    for feature in features:
        row_z: list[float | None] = []
        row_t: list[str] = []
        for cell in cells[feature]:
            if cell.score is None:
                row_z.append(None)
                row_t.append(f"{cell.rows:,} predictions: too few to test")
                continue
            row_z.append(min(cell.score, SCORE_CAP))
            verdict = "drifted" if cell.drifted else "no drift"
            row_t.append(f"{verdict}; score {cell.score:.2f}; {cell.test} "
                         f"{cell.statistic:.3g}; {cell.rows:,} predictions")
        z.append(row_z)
        text.append(row_t)
    fig = go.Figure(layout=theme.layout())
    fig.add_heatmap(
        z=z, x=x, y=y, text=text, zmin=0, zmax=SCORE_CAP,
        colorscale=[[0, "#f7fbff"], [0.199, "#deebf7"], [0.2, "#fdd49e"], [0.6, "#ef6548"],
                    [1, "#7f0000"]],
        colorbar={"title": {"text": "drift score<br>(1 = threshold)"},
                  "tickvals": [0, 1, 2, 3, 4, 5], "ticktext": ["0", "1", "2", "3", "4", "≥5"]},
        hovertemplate="%{y}, %{x}: %{text}<extra></extra>", xgap=1, ygap=1,
    )
    fig.update_layout(
        title={"text": f"{html.escape(model)}: drift of each input, day by day "
                       f"(days in {html.escape(tz)})"},
        xaxis={"title": {"text": f"day ({html.escape(tz)})"}, "type": "category"},
        yaxis={"autorange": "reversed", "type": "category"},
        height=160 + 34 * len(features), hovermode="closest",
    )
    return fig


def class_mix_figure(
    *, model: str, days: Sequence[date], frames: Sequence[Frame], classes: Sequence[str],
    reference: Frame | None, tz: str, theme: Theme = THEME,
) -> go.Figure:
    """Share of each predicted class per day (stacked), the reference's mix first."""
    x = [_short_day(d) for d in days]
    columns = list(frames)
    labels = list(x)
    if reference is not None and reference.predicted.size:
        columns = [reference, *columns]
        labels = ["reference", *labels]
    fig = go.Figure(layout=theme.layout())
    for cls in classes:
        shares = [None if f.predicted.size == 0
                  else 100 * float(np.mean(f.predicted == cls)) for f in columns]
        fig.add_bar(x=labels, y=shares, name=html.escape(cls),
                    hovertemplate="%{y:.1f} %<extra>" + html.escape(cls) + "</extra>")
    _per_day_layout(fig, model=model, what="predicted-class mix", tz=tz,
                    yaxis={"title": {"text": "share of predictions (%)"}, "range": [0, 100]})
    fig.update_layout(barmode="stack")
    return fig


def top_score_figure(
    *, model: str, days: Sequence[date], frames: Sequence[Frame], reference: Frame | None,
    tz: str, theme: Theme = THEME,
) -> go.Figure:
    """Top-class probability per day: median with its 10th–90th percentile band."""
    x = [_short_day(d) for d in days]
    quantiles = [np.quantile(f.top_score, [0.1, 0.5, 0.9]) if f.top_score.size else None
                 for f in frames]
    low = [None if q is None else float(q[0]) for q in quantiles]
    mid = [None if q is None else float(q[1]) for q in quantiles]
    high = [None if q is None else float(q[2]) for q in quantiles]
    fig = go.Figure(layout=theme.layout())
    add_band(fig, x=x, low=low, high=high, name="10th–90th percentile",
             fillcolor="rgba(31,119,180,0.18)", hovertemplate="p10 %{y:.2f}<extra></extra>")
    fig.add_scatter(x=x, y=mid, mode="lines+markers", name="median",
                    line={"color": theme.primary, "width": 3},
                    hovertemplate="median %{y:.2f}<extra></extra>", connectgaps=False)
    if reference is not None and reference.top_score.size:
        ref_mid = float(np.median(reference.top_score))
        fig.add_hline(y=ref_mid, line={"color": _REFERENCE, "dash": "dash"},
                      annotation_text=f"reference median {ref_mid:.2f}")
    _per_day_layout(fig, model=model, what="probability of the predicted class", tz=tz,
                    yaxis={"title": {"text": "top-class probability"}, "range": [0, 1]})
    return fig


def _per_day_layout(fig: go.Figure, *, model: str, what: str, tz: str,
                    yaxis: dict[str, object]) -> None:
    """Title, day axis (in the time zone ``tz``) and height of a chart with one point per
    day."""
    zone = html.escape(tz)
    fig.update_layout(
        title={"text": f"{html.escape(model)}: {what} per day (days in {zone})"},
        xaxis={"type": "category", "title": {"text": f"day ({zone})"}},
        yaxis=yaxis, height=340,
    )
