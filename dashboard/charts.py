"""Pure plotly figure builders: keyword-only arguments in, a Figure out, no streamlit."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from dashboard.theme import THEME, Theme
from services.prometheus.results import RangeSeries
from services.quality.trend import TrendBucket
from services.views.overview import MIN_LABELS_PER_DAY, DailyAccuracy
from services.views.serving import Marker

__all__ = [
    "accuracy_trend_figure",
    "add_band",
    "confusion_figure",
    "daily_accuracy_figure",
    "time_series_figure",
]


def _day(day: date) -> str:
    return f"{day:%b} {day.day}"


def add_band(fig: go.Figure, *, x: Sequence[object], low: Sequence[float | None],
             high: Sequence[float | None], name: str, fillcolor: str,
             hovertemplate: str | None = None) -> None:
    """A shaded band between ``low`` and ``high`` (gaps where either is ``None``): an
    invisible upper line, then the lower one filled up to it. Without ``hovertemplate``
    the band has no hover text."""
    hover: dict[str, str] = ({"hoverinfo": "skip"} if hovertemplate is None
                             else {"hovertemplate": hovertemplate})
    fig.add_scatter(x=x, y=high, mode="lines", line={"width": 0}, showlegend=False,
                    hoverinfo="skip", connectgaps=False)
    fig.add_scatter(x=x, y=low, mode="lines", line={"width": 0}, fill="tonexty",
                    fillcolor=fillcolor, name=name, connectgaps=False, **hover)


def daily_accuracy_figure(
    *, model: str, days: Sequence[DailyAccuracy], tz: str, theme: Theme = THEME
) -> go.Figure:
    """Daily accuracy (line, left axis) over the number of labels it rests on (bars, right).

    Days with fewer than the minimum labels have no accuracy point and say so on hover.
    """
    # Short day names ("Nov 26") stay readable without rotating; a window of two weeks
    # never repeats one.
    x = [_day(d.day) for d in days]
    acc = [None if d.accuracy is None else round(100 * d.accuracy, 1) for d in days]
    fig = go.Figure(layout=theme.layout())
    # Bars on the first axis and the line on the overlaying one, so the line is drawn on top.
    labels = [d.labelled for d in days]
    fig.add_bar(
        x=x,
        y=labels,
        name="labelled predictions",
        marker_color=theme.grid,
        hovertemplate="%{y:,} labels<extra></extra>",
    )
    fig.add_scatter(
        x=x,
        y=acc,
        name="accuracy",
        mode="lines+markers",
        line={"color": theme.primary, "width": 3},
        connectgaps=False,
        yaxis="y2",
        hovertemplate="accuracy %{y:.1f} %<extra></extra>",
    )
    _mark_sparse_days(fig, [_day(d.day) for d in days if d.accuracy is None], theme)
    fig.update_layout(**_daily_layout(model=model, tz=tz, most_labels=max([*labels, 1]),
                                      theme=theme))
    return fig


def _mark_sparse_days(fig: go.Figure, sparse: Sequence[str], theme: Theme) -> None:
    """A cross at the foot of each day with too few labels for an accuracy."""
    if not sparse:
        return
    fig.add_scatter(
        x=sparse,
        y=[0] * len(sparse),
        mode="markers",
        name=f"fewer than {MIN_LABELS_PER_DAY} labels",
        marker={"symbol": "x", "color": theme.muted, "size": 9},
        yaxis="y2",
        hovertemplate=f"not enough labels (< {MIN_LABELS_PER_DAY})<extra></extra>",
    )


def _daily_layout(*, model: str, tz: str, most_labels: int, theme: Theme) -> dict[str, Any]:
    """Title and axes of the daily accuracy chart."""
    return {
        # Plotly renders a subset of HTML (links, styles) in titles: escape the user's text.
        "title": {"text": f"{html.escape(model)}: daily accuracy on labelled predictions "
                  f"(days in {tz})"},
        # Bars use the lower part of the plot so they never hide the accuracy line.
        "yaxis": {
            "title": {"text": "labels per day"},
            "side": "right",
            "showgrid": False,
            "range": [0, most_labels * 2.5],
        },
        "yaxis2": {
            "title": {"text": "accuracy (%)"},
            "overlaying": "y",
            "side": "left",
            "range": [0, 100],
            # Overlaying axes would otherwise sync to the bars' ticks (0, 19, 37.9, ...).
            "tickmode": "array",
            "tickvals": [0, 20, 40, 60, 80, 100],
            "gridcolor": theme.grid,
        },
        "xaxis": {"title": {"text": f"prediction day ({tz})"}, "type": "category",
                  "tickangle": 0},
        "height": 340,
    }


#: How a panel's unit is shown: (axis unit, factor applied to values, hover format).
_DISPLAY: dict[str, tuple[str, float, str]] = {
    "s": ("ms", 1000.0, ".1f"),
    "bytes": ("MiB", 1 / 2**20, ".1f"),
    "requests/s": ("req/s", 1.0, ".3g"),
    "errors/s": ("errors/s", 1.0, ".3g"),
    "share of predictions": ("%", 100.0, ".1f"),
    "probability": ("probability", 1.0, ".3f"),
    "CPU cores": ("CPU cores", 1.0, ".3f"),
}


def time_series_figure(
    *,
    title: str,
    unit: str,
    series: Sequence[RangeSeries],
    label_key: str,
    tz: str,
    markers: Sequence[Marker] = (),
    label_prefix: str = "",
    names: Mapping[str, str] | None = None,
    window: tuple[datetime, datetime] | None = None,
    target: float | None = None,
    theme: Theme = THEME,
) -> go.Figure:
    """Lines over time, one per series, with deployment markers and an optional target.

    Args:
        title: chart title (plain text; escaped here).
        unit: the panel's unit (see ``services.views.serving.PANELS``); converted for reading
            (seconds to ms, bytes to MiB, shares to %).
        series: the series from Prometheus.
        label_key: the label that names each series in the legend.
        tz: display time zone (the x axis says which).
        markers: promotions and rollbacks, drawn as labelled vertical lines.
        label_prefix: put before each legend entry (``v`` for versions).
        names: legend names for label values (``0.5`` -> ``median``).
        window: the chosen time range; the x axis spans it even where data is missing, so
            every chart of a page covers the same time.
        target: a horizontal objective line, in the panel's unit.
    """
    shown_unit, factor, fmt = _DISPLAY.get(unit, (unit, 1.0, ".3g"))
    zone = ZoneInfo(tz)
    fig = go.Figure(layout=theme.layout())
    _add_lines(fig, series, label_key=label_key, label_prefix=label_prefix, names=names or {},
               zone=zone, factor=factor,
               hovertemplate=f"%{{y:{fmt}}} {html.escape(shown_unit)}")
    _add_markers(fig, markers, zone, theme)
    if target is not None:
        fig.add_hline(y=target * factor, line={"color": theme.bad, "dash": "dash"},
                      annotation_text=f"target {target * factor:{fmt}} {shown_unit}",
                      annotation_position="top left")
    fig.update_layout(
        title={"text": html.escape(title)},
        xaxis={"title": {"text": f"time ({tz})"}, "type": "date",
               **({"range": [w.astimezone(zone) for w in window]} if window else {})},
        yaxis={"title": {"text": shown_unit}, "rangemode": "tozero"},
        height=340,
        showlegend=True,
        # Above the plot, under the title: below it the legend would hide the axis title.
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        margin={"t": 90},
    )
    return fig


def _add_lines(fig: go.Figure, series: Sequence[RangeSeries], *, label_key: str,
               label_prefix: str, names: Mapping[str, str], zone: ZoneInfo, factor: float,
               hovertemplate: str) -> None:
    """One line per series, in legend order, its values scaled by ``factor``; gaps stay."""
    for s in sorted(series, key=lambda s: s.labels.get(label_key, "")):
        raw = s.labels.get(label_key, "")
        name = names.get(raw, raw) or "(none)"
        values = [v * factor if math.isfinite(v) else None for v in s.values]
        fig.add_scatter(
            x=[datetime.fromtimestamp(t, zone) for t in s.times],
            y=values,
            mode="lines",
            name=html.escape(f"{label_prefix}{name}"),
            connectgaps=False,
            hovertemplate=hovertemplate,
        )


def _add_markers(fig: go.Figure, markers: Sequence[Marker], zone: ZoneInfo, theme: Theme
                 ) -> None:
    """Each promotion or rollback as a dotted vertical line with its text at the top."""
    for marker in markers:
        at = marker.at.astimezone(zone)
        fig.add_vline(x=at.timestamp() * 1000, line={"color": theme.muted, "dash": "dot"})
        fig.add_annotation(
            x=at, y=1, yref="paper", yanchor="top", xanchor="left", showarrow=False,
            bgcolor="rgba(255,255,255,0.8)",
            text=html.escape(marker.text), font={"size": 11, "color": theme.muted},
        )


def confusion_figure(
    *,
    model: str,
    labels: Sequence[str],
    matrix: Sequence[Sequence[int]],
    normalise: bool,
    theme: Theme = THEME,
) -> go.Figure:
    """The confusion matrix as a heatmap: rows are true classes, columns predicted ones.

    Args:
        model: the model's name (plain text; escaped here).
        labels: class labels in matrix order (escaped here).
        matrix: counts, ``matrix[true][predicted]``.
        normalise: show each row as shares of its true class (recall on the diagonal).
    """
    names = [html.escape(label) for label in labels]
    rows = [list(map(int, row)) for row in matrix]
    if normalise:
        values: list[list[float | None]] = [
            [100 * c / sum(row) if sum(row) else None for c in row] for row in rows
        ]
        text = [["—" if v is None else f"{v:.1f} %" for v in row] for row in values]
        colour_title = "% of true class"
    else:
        values = [[float(c) for c in row] for row in rows]
        text = [[f"{c:,}" for c in row] for row in rows]
        colour_title = "predictions"
    fig = go.Figure(layout=theme.layout())
    fig.add_heatmap(
        z=values, x=names, y=names, text=text, texttemplate="%{text}",
        colorscale=[[0, "#ffffff"], [1, theme.primary]], colorbar={"title": colour_title},
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
        zmin=0, zmax=100 if normalise else None,
    )
    what = "share of each true class" if normalise else "counts"
    fig.update_layout(
        title={"text": f"{html.escape(model)}: confusion matrix ({what})"},
        xaxis={"title": {"text": "predicted class"}, "side": "bottom", "type": "category"},
        yaxis={"title": {"text": "true class (label)"}, "autorange": "reversed",
               "type": "category"},
        height=140 + 60 * len(labels),
        hovermode="closest",
    )
    return fig


def accuracy_trend_figure(
    *,
    model: str,
    buckets: Sequence[TrendBucket],
    bucket: str,
    tz: str,
    min_labels: int,
    theme: Theme = THEME,
) -> go.Figure:
    """Accuracy per bucket with its 95 % band; sparse buckets marked, never drawn as points."""
    x = [b.start for b in buckets]
    low = [None if b.interval is None else 100 * b.interval[0] for b in buckets]
    high = [None if b.interval is None else 100 * b.interval[1] for b in buckets]
    fig = go.Figure(layout=theme.layout())
    add_band(fig, x=x, low=low, high=high, name="95 % interval",
             fillcolor="rgba(37,99,235,0.15)")
    fig.add_scatter(
        x=x, y=[None if b.accuracy is None else 100 * b.accuracy for b in buckets],
        customdata=[[b.labelled] for b in buckets], mode="lines+markers", name="accuracy",
        line={"color": theme.primary, "width": 2}, connectgaps=False,
        hovertemplate="accuracy %{y:.1f} % on %{customdata[0]:,} labels<extra></extra>",
    )
    sparse = [b for b in buckets if b.accuracy is None]
    if sparse:
        fig.add_scatter(
            x=[b.start for b in sparse], y=[0] * len(sparse), mode="markers",
            name=f"not enough labels (< {min_labels})",
            customdata=[[b.labelled] for b in sparse],
            marker={"symbol": "x", "color": theme.muted, "size": 8},
            hovertemplate="not enough labels: %{customdata[0]:,}<extra></extra>",
        )
    fig.update_layout(
        title={"text": f"{html.escape(model)}: accuracy per {bucket} of prediction time"},
        xaxis={"title": {"text": f"{bucket} ({tz})"}, "type": "date"},
        yaxis={"title": {"text": "accuracy (%)"}, "range": [0, 100]},
        height=340,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        margin={"t": 90},
    )
    return fig
