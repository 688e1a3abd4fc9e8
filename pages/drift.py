"""Drift: which inputs of a model changed, how much, since when, and whether it matters."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard import format as fmt
from dashboard.auth import guard
from dashboard.components import registered_models
from dashboard.data import (
    current_minute,
    drift_history,
    drift_subject,
    drift_training_reference,
)
from dashboard.drift_charts import (
    class_mix_figure,
    distribution_figure,
    drift_heatmap_figure,
    top_score_figure,
)
from dashboard.resources import engine_for, settings
from services.access import View
from services.drift.analysis import MIN_DAY_ROWS, DriftAnalysis, analyse, day_bounds
from services.drift.compare import ColumnDrift
from services.drift.config import DriftConfigError, load_drift_config
from services.drift.frame import Frame, feature_kinds
from services.drift.registry import STAT_TESTS
from services.drift.summary import summary

guard(View.DRIFT)
config = settings()
url = config.resolved_database_url
engine = engine_for(url)
zone = ZoneInfo(config.timezone)
TRAINING = "Training sample of the production version"
EARLIER = "An earlier window"
WINDOWS = {"Last 24 hours": timedelta(hours=24), "Last 7 days": timedelta(days=7),
           "Custom days": None}

by_name = registered_models(engine, nothing_to="check for drift")
try:
    overrides = load_drift_config(config.drift_config_file)
except DriftConfigError as exc:
    st.error(f"The drift configuration cannot be used, so drift is not computed: "
             f"{fmt.md_text(str(exc))}. Fix the file named by OPSDASH_DRIFT_CONFIG_FILE.",
             icon=":material/error:")
    st.stop()

with st.container(horizontal=True, vertical_alignment="bottom"):
    model = st.selectbox("Model", list(by_name), key="drift-model")
    reference_kind = st.selectbox("Reference", [TRAINING, EARLIER], key="drift-reference",
                                  help="What the current window is compared with.")
    span = st.selectbox("Current window", list(WINDOWS), index=1, key="drift-window")

subject = drift_subject(url, model, current_minute())
if subject is None:
    st.warning("This model was removed while the page was open. Pick another model.")
    st.stop()
name = fmt.md_text(model)
if subject.first_at is None or subject.last_at is None:
    st.info(f"{name} has no logged predictions yet, so there is nothing to compare with its "
            "reference. Predictions appear here as soon as the inference service (or "
            "`import-predictions`) logs them.", icon=":material/info:")
    st.stop()

kinds = feature_kinds(subject.feature_schema)
kind_items = tuple(kinds.items())
names = list(kinds)
now = datetime.now(UTC)
first_day = subject.first_at.astimezone(zone).date()
today = now.astimezone(zone).date()


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def _pick_days(label: str, key: str, default: tuple[date, date]) -> tuple[date, date]:
    picked = st.date_input(label, value=default, min_value=first_day, max_value=today,
                           key=key, help=f"Whole days in {config.timezone}, both included.")
    if isinstance(picked, tuple) and len(picked) == 2:
        return picked[0], picked[1]
    st.caption("Pick the last day of the range too.")
    st.stop()
    raise AssertionError  # st.stop() does not return


window = WINDOWS[span]
with st.container(horizontal=True, vertical_alignment="bottom"):
    if window is None:
        cur_from, cur_to = _pick_days("Current days", "drift-current-days",
                                      (max(first_day, today - timedelta(days=6)), today))
        current_start, current_end = _local_midnight(cur_from), _local_midnight(
            cur_to + timedelta(days=1))
        current_label = f"{cur_from:%d %b} to {cur_to:%d %b %Y}"
    else:
        current_start, current_end = now - window, now + timedelta(seconds=1)
        current_label = "the " + span.lower()
    if reference_kind == EARLIER:
        # By default the first three days of history, ending before the current window.
        before_current = current_start.astimezone(zone).date() - timedelta(days=1)
        default_to = max(first_day, min(first_day + timedelta(days=2), before_current))
        ref_from, ref_to = _pick_days("Reference days", "drift-reference-days",
                                      (first_day, default_to))
        reference_start, reference_end = _local_midnight(ref_from), _local_midnight(
            ref_to + timedelta(days=1))
        reference_label = f"the predictions of {ref_from:%d %b} to {ref_to:%d %b %Y}"

# ---------------------------------------------------------------- read what is drawn
bounds = day_bounds(subject.first_at, now, config.timezone)
days = [b.astimezone(zone).date() for b in bounds[:-1]]
frames = drift_history(url, subject.model_id, bounds, kind_items)


def _window(start: datetime, end: datetime) -> Frame:
    """The logged rows in ``[start, end)``, from the days that overlap it only."""
    overlapping = [frame for day_start, day_end, frame
                   in zip(bounds[:-1], bounds[1:], frames, strict=True)
                   if day_end > start and day_start < end]
    return Frame.concat(overlapping, names).between(start, end)


training = None
if subject.version_id is not None and subject.artifact_path and subject.artifact_sha256:
    training = drift_training_reference(url, subject.version_id, subject.artifact_path,
                                        subject.artifact_sha256, kind_items)
if reference_kind == TRAINING:
    if training is None or training.frame.rows == 0:
        what = ("has no production version" if subject.version_id is None
                else f"v{subject.version} stored no training sample")
        st.info(f"{name} {what}, so there is no training reference. Compare with an earlier "
                "window instead (Reference above).", icon=":material/info:")
        st.stop()
    reference = training.frame
    reference_label = f"the training sample of v{subject.version}"
else:
    reference = _window(reference_start, reference_end)
current = _window(current_start, current_end)
if reference.rows == 0 or current.rows == 0:
    empty = "reference" if reference.rows == 0 else "current window"
    st.info(f"The {empty} holds no predictions of {name}, so there is nothing to compare. "
            "Pick other days.", icon=":material/info:")
    st.stop()

share = overrides.share_for(model, config.drift_share)
analysis: DriftAnalysis = analyse(
    kinds=kinds, reference=reference, current=current,
    history=list(zip(days, frames, strict=True)),
    weights=training.weights if training is not None else {},
    config=overrides.columns_for(model), drift_share=share,
)
result = analysis.result

# ---------------------------------------------------------------- verdict
cols = st.columns(4)
cols[0].metric("Inputs", "drifted" if result.drifted else "no dataset drift",
               help=f"The inputs have drifted when at least {100 * share:.0f} % of the "
                    "tested features did.")
cols[1].metric("Drifted features", f"{result.drifted_columns} of {result.tested}",
               help=f"{100 * result.drifted_share:.0f} % of the tested features; the alarm "
                    f"is at {100 * share:.0f} %.")
cols[2].metric("Current predictions", fmt.count(current.rows))
cols[3].metric("Reference rows", fmt.count(reference.rows))
for line in summary(analysis, model=model, reference=reference_label, window=current_label):
    st.markdown(fmt.md_text(line))
if training is not None and training.problem:
    st.warning(fmt.md_text(training.problem), icon=":material/warning:")


def _statistic(column: ColumnDrift) -> str:
    if column.statistic is None:
        return "—"
    if STAT_TESTS[column.test].p_value:
        return f"p = {column.statistic:.3g}"
    return f"{column.statistic:.4f}"


def _threshold(column: ColumnDrift) -> str:
    """The side of the threshold that is drift, e.g. ``p ≤ 0.05`` or ``≥ 0.1``."""
    spec = STAT_TESTS.get(column.test)
    if spec is None:  # not tested, and no test configured
        return f"≥ {column.threshold:g}"
    return f"{'p ' if spec.p_value else ''}{spec.sign} {column.threshold:g}"


rows = []
for ranked in analysis.ranked:
    c = ranked.drift
    rows.append({
        "Feature": c.column,
        "Drifted": "not tested" if not c.tested else ("yes" if c.drifted else "no"),
        "Test": c.test,
        "Statistic": _statistic(c),
        "Threshold": _threshold(c),
        "Score": None if c.score is None else round(c.score, 2),
        "Weight": round(100 * ranked.weight, 1),
        "PSI": None if c.psi is None else round(c.psi, 3),
        "New values": ", ".join(c.new_categories),
        "Notes": c.note,
    })
st.subheader("Features, most important drift first", anchor=False)
st.dataframe(
    pd.DataFrame(rows), hide_index=True, width="stretch",
    column_config={
        "Score": st.column_config.NumberColumn(
            help="1 at the test's threshold; above 1 is drift. Distances: statistic ÷ "
                 "threshold; p-values: log p ÷ log threshold."),
        "Weight": st.column_config.NumberColumn(
            "Weight (%)", help="How much the model's answers move when this input is "
                               "shuffled, as a share of all inputs."),
        "PSI": st.column_config.NumberColumn(
            help="Population stability index over ten quantile bins of the reference "
                 "(0.1: moderate shift, 0.25: large)."),
    },
)
st.caption(
    f"Reference: {fmt.md_text(reference_label)} ({reference.rows:,} rows); current: "
    f"{fmt.md_text(current_label)} ({current.rows:,} predictions). Tests as Evidently "
    "chooses them: up to 1,000 reference rows Kolmogorov–Smirnov, chi-square or Z-test "
    "p-values; above, Wasserstein distance (÷ reference std) or Jensen–Shannon distance. "
    "Ordered by score × weight.")

# ---------------------------------------------------------------- one feature
st.subheader("Distribution of a feature", anchor=False)
ranked_names = [r.drift.column for r in analysis.ranked]
feature = st.selectbox("Feature", ranked_names, key=f"drift-feature-{model}",
                       help="The most important drift first.")
chosen = result.column(feature)
st.plotly_chart(distribution_figure(
    feature=feature, kind=kinds[feature], reference=reference.columns[feature],
    current=current.columns[feature], reference_label="reference",
    current_label=current_label, new_categories=chosen.new_categories), key="distribution")
if chosen.new_categories:
    st.caption(f"New in the current window: {fmt.md_text(', '.join(chosen.new_categories))} "
               "(marked \"new\"); the reference never had them.")

# ---------------------------------------------------------------- over time
st.subheader("Drift over time", anchor=False)
st.plotly_chart(drift_heatmap_figure(model=model, features=ranked_names, days=days,
                                     cells=analysis.cells, tz=config.timezone), key="heatmap")
start_note = (f" The inputs have been drifting since {analysis.episode_start:%a %d %b %Y}."
              if analysis.episode_start else "")
st.caption(f"Each day of {name}'s history against {fmt.md_text(reference_label)}, with "
           f"the same tests (KS p-values from the asymptotic distribution). Days with fewer "
           f"than {MIN_DAY_ROWS} predictions are left blank.{start_note}")

st.subheader("Prediction drift", anchor=False)
if analysis.prediction is not None:
    st.dataframe(pd.DataFrame([{
        "Output": c.column, "Drifted": "yes" if c.drifted else "no", "Test": c.test,
        "Statistic": _statistic(c), "PSI": None if c.psi is None else round(c.psi, 3),
    } for c in analysis.prediction.columns]), hide_index=True, width="stretch")
else:
    st.caption("The reference has no model answers to compare with (an earlier window "
               "without predictions, or a model that could not be loaded); the charts "
               "show the answers day by day.")
reference_for_charts = reference if reference.predicted.size else None
st.plotly_chart(class_mix_figure(model=model, days=days, frames=frames,
                                 classes=subject.class_labels,
                                 reference=reference_for_charts, tz=config.timezone),
                key="class-mix")
st.plotly_chart(top_score_figure(model=model, days=days, frames=frames,
                                 reference=reference_for_charts, tz=config.timezone),
                key="top-score")
