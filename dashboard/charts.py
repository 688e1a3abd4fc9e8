"""Pure plotly figure builders: keyword-only arguments in, a Figure out, no streamlit."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date

import plotly.graph_objects as go

from dashboard.theme import THEME, Theme
from services.overview import MIN_LABELS_PER_DAY, DailyAccuracy

__all__ = ["daily_accuracy_figure"]


def _day(day: date) -> str:
    return f"{day:%b} {day.day}"


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
    sparse = [_day(d.day) for d in days if d.accuracy is None]
    if sparse:
        fig.add_scatter(
            x=sparse,
            y=[0] * len(sparse),
            mode="markers",
            name=f"fewer than {MIN_LABELS_PER_DAY} labels",
            marker={"symbol": "x", "color": theme.muted, "size": 9},
            yaxis="y2",
            hovertemplate=f"not enough labels (< {MIN_LABELS_PER_DAY})<extra></extra>",
        )
    fig.update_layout(
        # Plotly renders a subset of HTML (links, styles) in titles: escape the user's text.
        title={"text": f"{html.escape(model)}: daily accuracy on labelled predictions "
               f"(days in {tz})"},
        # Bars use the lower part of the plot so they never hide the accuracy line.
        yaxis={
            "title": {"text": "labels per day"},
            "side": "right",
            "showgrid": False,
            "range": [0, max([*labels, 1]) * 2.5],
        },
        yaxis2={
            "title": {"text": "accuracy (%)"},
            "overlaying": "y",
            "side": "left",
            "range": [0, 100],
            # Overlaying axes would otherwise sync to the bars' ticks (0, 19, 37.9, ...).
            "tickmode": "array",
            "tickvals": [0, 20, 40, 60, 80, 100],
            "gridcolor": theme.grid,
        },
        xaxis={"title": {"text": f"prediction day ({tz})"}, "type": "category",
               "tickangle": 0},
        height=340,
    )
    return fig
