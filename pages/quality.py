"""Model quality: how good a model's answers are on labelled feedback, and how sure we are."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import format as fmt
from dashboard.auth import guard
from dashboard.charts import accuracy_trend_figure, confusion_figure
from dashboard.components import registered_models, version_label
from dashboard.data import (
    current_minute,
    quality_comparison,
    quality_curves,
    quality_figures,
    quality_trend,
)
from dashboard.quality_charts import (
    precision_recall_figure,
    roc_figure,
    version_comparison_figure,
)
from dashboard.resources import engine_for, settings
from services.access import View
from services.quality.curves import threshold_metrics
from services.quality.metrics import (
    ClassMetrics,
    Interval,
    QualityReport,
)

guard(View.QUALITY)
config = settings()
engine = engine_for(config.resolved_database_url)
RANGES = {"Last 7 days": timedelta(days=7), "Last 30 days": timedelta(days=30),
          "All time": None}
ALL = "all versions"

by_name = registered_models(engine, nothing_to="measure")
with st.container(horizontal=True, vertical_alignment="bottom"):
    model = st.selectbox("Model", list(by_name), key="quality-model")
    choice = by_name[model]
    version = st.selectbox(
        "Version", [ALL, *choice.versions], key=f"quality-version-{model}",
        format_func=lambda v: v if v == ALL else version_label(choice, v),
    )
    span = st.selectbox("Predictions made in", list(RANGES), key="quality-range")
    normalise = st.toggle("Normalise by true class", value=False, key="quality-normalise",
                          help="Each row as shares of its true class: recall on the diagonal.")


window = RANGES[span]
window_days = None if window is None else window.total_seconds() / 86400
minute = current_minute()
chosen = None if version == ALL else int(version)
report = quality_figures(config.resolved_database_url, model, chosen, window_days, minute)


def trend_figure() -> go.Figure:
    days = 30 if window is None else max(1, round(window.total_seconds() / 86400))
    bucket = "hour" if days <= 2 else "day"
    buckets = quality_trend(config.resolved_database_url, model, chosen, days, bucket,
                            config.timezone, config.quality_min_labels, minute)
    return accuracy_trend_figure(model=model, buckets=buckets, bucket=bucket,
                                 tz=config.timezone, min_labels=config.quality_min_labels)


def _pct(value: float | None) -> str:
    return fmt.share(value)


def _ci(interval: Interval | None) -> str:
    if interval is None:
        return "—"
    low, high = interval
    return f"{100 * low:.1f}–{100 * high:.1f} %"


def _overall(report: QualityReport) -> None:
    """Accuracy, F1, the trend, the confusion matrix and the per-class table."""
    cols = st.columns(4)
    cols[0].metric("Accuracy", _pct(report.accuracy),
                   help=f"95 % interval {_ci(report.accuracy_interval)} (Wilson), on "
                        f"{report.n_labelled:,} labelled predictions.")
    cols[1].metric("Labelled predictions", fmt.count(report.n_labelled))
    cols[2].metric("Macro F1", _pct(report.macro_f1),
                   help=f"95 % interval {_ci(report.macro_f1_interval)} (bootstrap, "
                        f"{report.bootstrap:,} resamples). Every class counts the same.")
    cols[3].metric("Weighted F1", _pct(report.weighted_f1),
                   help="Classes weighted by how many labels they have.")
    st.caption(f"Accuracy {_pct(report.accuracy)}, 95 % interval "
               f"{_ci(report.accuracy_interval)}; macro F1 interval "
               f"{_ci(report.macro_f1_interval)}.")

    st.plotly_chart(trend_figure(), key="trend")
    st.plotly_chart(confusion_figure(model=model, labels=report.labels,
                                     matrix=report.matrix.tolist(), normalise=normalise),
                    key="confusion")
    st.dataframe(_table(report), hide_index=True, width="stretch")
    st.caption(
        "Intervals are 95 %: Wilson for accuracy, precision and recall (each on its own "
        f"denominator), bootstrap over the confusion matrix ({report.bootstrap:,} resamples) "
        "for F1. A class without predictions or labels scores 0, as scikit-learn does with "
        "zero_division=0. Windows are by prediction time; labels count whenever they "
        f"arrived. Figures refresh every {config.cache_ttl_seconds} s."
    )


def _row(name: str, metrics: ClassMetrics) -> dict[str, object]:
    return {
        "Class": name,
        "Labels (support)": metrics.support,
        "Precision": _pct(metrics.precision),
        "Precision 95 %": _ci(metrics.precision_interval),
        "Recall": _pct(metrics.recall),
        "Recall 95 %": _ci(metrics.recall_interval),
        "F1": _pct(metrics.f1),
        "F1 95 %": _ci(metrics.f1_interval),
    }


def _table(report: QualityReport) -> pd.DataFrame:
    table = pd.DataFrame([_row(m.label, m) for m in report.per_class])
    averages = pd.DataFrame([
        {"Class": "macro average", "Labels (support)": report.n_labelled,
         "Precision": _pct(report.macro_precision), "Recall": _pct(report.macro_recall),
         "F1": _pct(report.macro_f1), "F1 95 %": _ci(report.macro_f1_interval)},
        {"Class": "weighted average", "Labels (support)": report.n_labelled,
         "Precision": _pct(report.weighted_precision), "Recall": _pct(report.weighted_recall),
         "F1": _pct(report.weighted_f1)},
    ])
    return pd.concat([table, averages], ignore_index=True).fillna("—")


def _threshold(labels: tuple[str, ...]) -> None:
    """A binary model's ROC and precision-recall curves, and its figures at a threshold."""
    st.subheader("Decision threshold", anchor=False)
    with st.container(horizontal=True, vertical_alignment="bottom"):
        positive = st.selectbox("Positive class", labels, index=1,
                                key=f"quality-positive-{model}",
                                help="The class the curves and the threshold are about.")
        threshold = st.slider(
            "Threshold", min_value=0.0, max_value=1.0, value=0.5, step=0.01,
            key=f"quality-threshold-{model}",
            help="A prediction counts as the positive class when its probability of that "
                 "class is at least this. At 0.50 that is the model's own answer (ties "
                 "aside).")
    curves = quality_curves(config.resolved_database_url, model, chosen, positive,
                            window_days, minute)
    at = threshold_metrics(curves, threshold=threshold)
    name = fmt.md_text(positive)
    cols = st.columns(4)
    cols[0].metric("Accuracy at threshold", _pct(at.accuracy))
    cols[1].metric(f"Precision of {name}", _pct(at.precision),
                   help="Of the predictions called positive, the share that are.")
    cols[2].metric(f"Recall of {name}", _pct(at.recall),
                   help="Of the true positives, the share called positive.")
    cols[3].metric(f"F1 of {name}", _pct(at.f1))
    left, right = st.columns(2)
    left.plotly_chart(roc_figure(model=model, curves=curves, at=at), key="roc")
    right.plotly_chart(precision_recall_figure(model=model, curves=curves, at=at), key="pr")
    st.plotly_chart(confusion_figure(model=f"{model} at threshold {threshold:.2f}",
                                     labels=labels, matrix=at.matrix.tolist(),
                                     normalise=normalise), key="threshold-confusion")
    grid = ("every score is its own threshold" if curves.exact else
            "scores are grouped on a grid of 0.001, so the curves are exact at thresholds "
            "on that grid and as fine as the grid in between")
    st.caption(f"From {curves.n_labelled:,} labelled predictions: {curves.n_positive:,} "
               f"{name}, {curves.n_negative:,} {fmt.md_text(curves.negative)}. The score of "
               f"a prediction is its probability of {name}; {grid}.")


def _compare() -> None:
    """Two versions on the labelled predictions both answered (logged or in the shadow)."""
    st.subheader("Compare two versions", anchor=False)
    versions = list(choice.versions)
    if len(versions) < 2:
        st.caption(f"{fmt.md_text(model)} has one version, so there is nothing to compare "
                   "it with yet.")
        return
    base = version if version != ALL else (choice.production or versions[0])
    others = [v for v in versions if v != base]
    other = st.selectbox(
        f"Compare {version_label(choice, base)} with", others, index=0,
        key=f"quality-compare-{model}-{base}", format_func=lambda v: version_label(choice, v),
        help="Both versions are measured on the same labelled predictions: those each of "
             "them answered, by serving them or by scoring them in the shadow.")
    comparison = quality_comparison(config.resolved_database_url, model, int(base),
                                    int(other), window_days, minute)
    first, second = version_label(choice, base), version_label(choice, other)
    if comparison.shared == 0:
        st.info(
            f"No labelled prediction of {fmt.md_text(model)} in this window has an answer "
            f"from both {first} and {second}, so there is nothing to compare yet. A version "
            "answers the predictions it served; to have it answer the others, score them in "
            "the shadow (operators and admins), then wait for their labels:",
            icon=":material/compare_arrows:")
        st.code(f"python -m services.cli shadow-score --model {model} --version {other}",
                language="bash")
        return
    a, b = comparison.report_a, comparison.report_b
    cols = st.columns(4)
    cols[0].metric("Shared labelled predictions", fmt.count(comparison.shared))
    cols[1].metric("They disagree on", fmt.count(comparison.disagreements),
                   help=f"{_pct(comparison.disagreements / comparison.shared)} of them.")
    cols[2].metric(f"Accuracy of {first}", _pct(a.accuracy),
                   help=f"95 % interval {_ci(a.accuracy_interval)}.")
    delta = None if a.accuracy is None or b.accuracy is None else (
        f"{100 * (b.accuracy - a.accuracy):+.1f} points")
    cols[3].metric(f"Accuracy of {second}", _pct(b.accuracy), delta=delta,
                   help=f"95 % interval {_ci(b.accuracy_interval)}.")
    st.plotly_chart(version_comparison_figure(model=model, comparison=comparison,
                                              names=(first, second)), key="compare")
    left, right = st.columns(2)
    for column, label, report, key in ((left, first, a, "compare-a"),
                                       (right, second, b, "compare-b")):
        column.plotly_chart(confusion_figure(model=f"{model} {label}", labels=report.labels,
                                             matrix=report.matrix.tolist(),
                                             normalise=normalise), key=key)
    st.caption(
        f"Of the {comparison.shared:,} labelled predictions both answered, only {first} was "
        f"right on {comparison.only_a_right:,} and only {second} on "
        f"{comparison.only_b_right:,}. Unlabelled predictions where they disagree are the "
        "most useful ones to label next.")


if report.n_labelled == 0:
    st.info(
        f"No labelled predictions of {fmt.md_text(model)} "
        f"{'in any version' if version == ALL else 'v' + version} in this window, so there "
        "is nothing to measure yet. Ground truth arrives from labelers, label imports and the "
        "feedback API.", icon=":material/label_off:")
else:
    _overall(report)
    if len(report.labels) == 2:
        _threshold(report.labels)
    else:
        st.caption(f"ROC and precision-recall curves and the decision threshold are for "
                   f"binary models; {fmt.md_text(model)} has {len(report.labels)} classes "
                   "and answers with the most probable one.")
_compare()
