"""Model quality: how good a model's answers are on labelled feedback, and how sure we are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import format as fmt
from dashboard.auth import guard
from dashboard.charts import accuracy_trend_figure, confusion_figure
from dashboard.components import registered_models, version_label
from dashboard.resources import engine_for, settings
from services.auth import View
from services.quality import (
    ClassMetrics,
    Interval,
    QualityReport,
    TrendBucket,
    accuracy_trend,
    quality_report,
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


@st.cache_data(ttl=config.cache_ttl_seconds, show_spinner=False)
def _report(database_url: str, model: str, version: int | None, days: float | None,
            minute: str) -> QualityReport:
    del minute  # part of the cache key only: "last N days" moves with the clock
    since = None if days is None else datetime.now(UTC) - timedelta(days=days)
    return quality_report(engine=engine_for(database_url), model=model, version=version,
                          since=since)


window = RANGES[span]
report = _report(config.resolved_database_url, model, None if version == ALL else int(version),
                 None if window is None else window.total_seconds() / 86400,
                 datetime.now(UTC).strftime("%Y%m%d%H%M"))

if report.n_labelled == 0:
    st.info(
        f"No labelled predictions of {fmt.md_text(model)} "
        f"{'in any version' if version == ALL else 'v' + version} in this window, so there "
        "is nothing to measure yet. Ground truth arrives from labelers, label imports and the "
        "feedback API.", icon=":material/label_off:")
    st.stop()


def trend_figure() -> go.Figure:
    days = 30 if window is None else max(1, round(window.total_seconds() / 86400))
    bucket = "hour" if days <= 2 else "day"
    buckets = _trend(config.resolved_database_url, model,
                     None if version == ALL else int(version), days, bucket,
                     datetime.now(UTC).strftime("%Y%m%d%H%M"))
    return accuracy_trend_figure(model=model, buckets=buckets, bucket=bucket,
                                 tz=config.timezone, min_labels=config.quality_min_labels)


@st.cache_data(ttl=config.cache_ttl_seconds, show_spinner=False)
def _trend(database_url: str, model: str, version: int | None, days: int, bucket: str,
           minute: str) -> list[TrendBucket]:
    del minute  # cache key only
    return accuracy_trend(engine=engine_for(database_url), model=model, version=version,
                          since=datetime.now(UTC) - timedelta(days=days), tz=config.timezone,
                          bucket=bucket, min_labels=config.quality_min_labels)


def _pct(value: float | None) -> str:
    return fmt.share(value)


def _ci(interval: Interval | None) -> str:
    if interval is None:
        return "—"
    low, high = interval
    return f"{100 * low:.1f}–{100 * high:.1f} %"


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
st.caption(f"Accuracy {_pct(report.accuracy)}, 95 % interval {_ci(report.accuracy_interval)}; "
           f"macro F1 interval {_ci(report.macro_f1_interval)}.")

st.plotly_chart(trend_figure(), key="trend")
st.plotly_chart(confusion_figure(model=model, labels=report.labels,
                                 matrix=report.matrix.tolist(), normalise=normalise),
                key="confusion")


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


table = pd.DataFrame([_row(m.label, m) for m in report.per_class])
averages = pd.DataFrame([
    {"Class": "macro average", "Labels (support)": report.n_labelled,
     "Precision": _pct(report.macro_precision), "Recall": _pct(report.macro_recall),
     "F1": _pct(report.macro_f1), "F1 95 %": _ci(report.macro_f1_interval)},
    {"Class": "weighted average", "Labels (support)": report.n_labelled,
     "Precision": _pct(report.weighted_precision), "Recall": _pct(report.weighted_recall),
     "F1": _pct(report.weighted_f1)},
])
st.dataframe(pd.concat([table, averages], ignore_index=True).fillna("—"), hide_index=True,
             width="stretch")
st.caption(
    "Intervals are 95 %: Wilson for accuracy, precision and recall (each on its own "
    f"denominator), bootstrap over the confusion matrix ({report.bootstrap:,} resamples) for "
    "F1. A class without predictions or labels scores 0, as scikit-learn does with "
    "zero_division=0. Windows are by prediction time; labels count whenever they arrived. "
    f"Figures refresh every {config.cache_ttl_seconds} s."
)
