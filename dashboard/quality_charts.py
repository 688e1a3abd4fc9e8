"""Pure plotly builders of the Model quality page's curves and version comparison.

Keyword-only arguments in, a Figure out, no streamlit. Rates are shown in percent; user
text (model and class names) is escaped here. A chart that has nothing to draw says why
inside the plot instead of showing empty axes.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go

from dashboard.theme import THEME, Theme
from services.quality.compare import VersionComparison
from services.quality.curves import BinaryCurves, ThresholdMetrics
from services.quality.metrics import Interval, QualityReport

__all__ = [
    "curve_gap",
    "precision_recall_figure",
    "roc_figure",
    "version_comparison_figure",
]


def curve_gap(curves: BinaryCurves, *, curve: str) -> str | None:
    """Why ``curve`` ("ROC curve", "precision-recall curve") cannot be drawn, or ``None``."""
    if curves.n_labelled == 0:
        return "no labelled predictions in this window: nothing to draw"
    if not curves.both_classes:
        present = curves.positive if curves.n_positive else curves.negative
        return (f"only one class among the labels ({html.escape(present)}): "
                f"a {curve} needs both")
    return None


def _empty(fig: go.Figure, reason: str, theme: Theme) -> None:
    fig.add_annotation(text=reason, x=0.5, y=0.5, xref="paper", yref="paper",
                       showarrow=False, bgcolor="white", font={"size": 14, "color": theme.muted})


def _square(fig: go.Figure, *, title: str, x: str, y: str) -> None:
    fig.update_layout(
        title={"text": title},
        xaxis={"title": {"text": x}, "range": [0, 100]},
        yaxis={"title": {"text": y}, "range": [0, 102]},
        height=420,
        hovermode="closest",
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
        margin={"b": 110},
    )


def _threshold_texts(curves: BinaryCurves) -> list[str]:
    return ["above every score", *(f"{t:.4g}" for t in curves.thresholds.tolist())]


def roc_figure(
    *,
    model: str,
    curves: BinaryCurves,
    at: ThresholdMetrics | None = None,
    theme: Theme = THEME,
) -> go.Figure:
    """The ROC curve of the positive class with the chance diagonal and the chosen threshold.

    Args:
        model: the model's name (plain text; escaped here).
        curves: the curves (:func:`services.quality.curves.binary_curves`).
        at: the figures at the chosen threshold, marked on the curve.
    """
    pos, neg = html.escape(curves.positive), html.escape(curves.negative)
    fig = go.Figure(layout=theme.layout())
    gap = curve_gap(curves, curve="ROC curve")
    auc = "" if curves.roc_auc is None else f" (AUC {curves.roc_auc:.3f})"
    if gap is None:
        fig.add_scatter(x=[0, 100], y=[0, 100], mode="lines", name="chance (AUC 0.5)",
                        line={"color": theme.muted, "dash": "dash"}, hoverinfo="skip")
        fig.add_scatter(
            x=(100 * curves.fpr).tolist(), y=(100 * curves.tpr).tolist(), mode="lines",
            name=f"ROC, AUC {curves.roc_auc:.3f}", line={"color": theme.primary, "width": 2},
            customdata=_threshold_texts(curves),
            hovertemplate="threshold %{customdata}: false positives %{x:.1f} %, "
                          "true positives %{y:.1f} %<extra></extra>",
        )
        if at is not None and at.fpr is not None and at.recall is not None:
            _threshold_marker(fig, at, x=at.fpr, y=at.recall, x_name="false positives",
                              y_name="true positives", theme=theme)
    else:
        _empty(fig, gap, theme)
    _square(fig, title=f"{html.escape(model)}: ROC curve, positive class '{pos}'{auc}",
            x=f"false positive rate (% of true '{neg}')",
            y=f"true positive rate (% of true '{pos}')")
    return fig


def _threshold_marker(fig: go.Figure, at: ThresholdMetrics, *, x: float, y: float,
                      x_name: str, y_name: str, theme: Theme) -> None:
    """The chosen threshold as a point on a curve (shares drawn as percentages)."""
    fig.add_scatter(
        x=[100 * x], y=[100 * y], mode="markers", name=f"threshold {at.threshold:.2f}",
        marker={"color": theme.bad, "size": 11, "symbol": "circle"},
        hovertemplate=f"threshold {at.threshold:.2f}: {x_name} %{{x:.1f}} %, "
                      f"{y_name} %{{y:.1f}} %<extra></extra>",
    )


def precision_recall_figure(
    *,
    model: str,
    curves: BinaryCurves,
    at: ThresholdMetrics | None = None,
    theme: Theme = THEME,
) -> go.Figure:
    """Precision against recall of the positive class, the chance level and the threshold.

    The curve is the step function average precision sums: each threshold's precision
    over the recall it adds. Chance is the share of positives among the labels.
    """
    pos = html.escape(curves.positive)
    fig = go.Figure(layout=theme.layout())
    gap = curve_gap(curves, curve="precision-recall curve")
    ap = ("" if curves.average_precision is None
          else f" (average precision {curves.average_precision:.3f})")
    if gap is None:
        prevalence = 100 * curves.n_positive / curves.n_labelled
        fig.add_scatter(x=[0, 100], y=[prevalence, prevalence], mode="lines",
                        name=f"chance (share of '{pos}': {prevalence:.1f} %)",
                        line={"color": theme.muted, "dash": "dash"}, hoverinfo="skip")
        fig.add_scatter(
            x=[0.0, *(100 * curves.recall).tolist()],
            y=[100.0, *(100 * curves.precision).tolist()], mode="lines", line_shape="vh",
            name=f"precision-recall, AP {curves.average_precision:.3f}",
            line={"color": theme.primary, "width": 2}, customdata=_threshold_texts(curves),
            hovertemplate="threshold %{customdata}: recall %{x:.1f} %, "
                          "precision %{y:.1f} %<extra></extra>",
        )
        if at is not None and at.recall is not None and at.precision is not None:
            _threshold_marker(fig, at, x=at.recall, y=at.precision, x_name="recall",
                              y_name="precision", theme=theme)
    else:
        _empty(fig, gap, theme)
    _square(fig, title=f"{html.escape(model)}: precision and recall of '{pos}'{ap}",
            x=f"recall (% of true '{pos}' found)",
            y=f"precision (% of '{pos}' calls right)")
    return fig


def _bar(report: QualityReport) -> tuple[list[float | None], list[float], list[float]]:
    """Values (%) and error bars of accuracy, macro F1 and each class's F1."""
    items: list[tuple[float | None, Interval | None]] = [
        (report.accuracy, report.accuracy_interval),
        (report.macro_f1, report.macro_f1_interval),
        *((c.f1, c.f1_interval) for c in report.per_class),
    ]
    values = [None if v is None else 100 * v for v, _ in items]
    plus = [0.0 if v is None or i is None else 100 * (i[1] - v) for v, i in items]
    minus = [0.0 if v is None or i is None else 100 * (v - i[0]) for v, i in items]
    return values, plus, minus


def version_comparison_figure(
    *,
    model: str,
    comparison: VersionComparison,
    names: Sequence[str] | None = None,
    theme: Theme = THEME,
) -> go.Figure:
    """Accuracy, macro F1 and per-class F1 of two versions on the same labelled predictions.

    Args:
        model: the model's name (plain text; escaped here).
        comparison: the two reports (:func:`services.quality.compare.compare_versions`).
        names: legend names of the two versions (default ``v1`` / ``v2``).
    """
    first, second = names or (f"v{comparison.a}", f"v{comparison.b}")
    categories = ["accuracy", "macro F1",
                  *(f"F1 {html.escape(label)}" for label in comparison.report_a.labels)]
    fig = go.Figure(layout=theme.layout())
    if comparison.shared:
        for name, report, colour in ((first, comparison.report_a, theme.series[0]),
                                     (second, comparison.report_b, theme.series[1])):
            values, plus, minus = _bar(report)
            fig.add_bar(x=categories, y=values, name=html.escape(name), marker_color=colour,
                        error_y={"type": "data", "array": plus, "arrayminus": minus,
                                 "color": theme.text, "thickness": 1},
                        hovertemplate=f"{html.escape(name)}: %{{x}} %{{y:.1f}} %<extra></extra>")
    else:
        _empty(fig, "no labelled prediction was answered by both versions: nothing to compare",
               theme)
    fig.update_layout(
        title={"text": f"{html.escape(model)}: {html.escape(first)} and "
                       f"{html.escape(second)} on the same {comparison.shared:,} labelled "
                       "predictions"},
        barmode="group",
        xaxis={"title": {"text": "measure (on the shared predictions)"}, "type": "category"},
        yaxis={"title": {"text": "score (%), 95 % interval"}, "range": [0, 100]},
        height=380,
        hovermode="closest",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        margin={"t": 90},
    )
    return fig
