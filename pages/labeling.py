"""Label feedback: turn logged predictions into ground truth, one at a time or in a table."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard import format as fmt
from dashboard import labeling_state as state
from dashboard.auth import guard
from dashboard.components import registered_models, version_label
from dashboard.resources import engine_for, settings
from services.access import Action, View, can
from services.labels.export import export_csv
from services.labels.queue import (
    ORDERS,
    Queue,
    QueueFilter,
    QueueRow,
    labeling_progress,
    labeling_queue,
)

user = guard(View.LABELING)
config = settings()
engine = engine_for(config.resolved_database_url)
zone = ZoneInfo(config.timezone)
may_label = can(user.role, Action.LABEL)
may_import = can(user.role, Action.IMPORT_LABELS)
RANGES = {"Last 24 hours": 1, "Last 7 days": 7, "Last 30 days": 30, "All time": None}
ALL_VERSIONS, ALL_CLASSES = "all versions", "all classes"
ONE, TABLE = "One at a time", "Table"
PAGE_ROWS = 50

by_name = registered_models(engine, nothing_to="label")
with st.container(horizontal=True, vertical_alignment="bottom"):
    model = st.selectbox("Model", list(by_name), key="labeling-model")
    choice = by_name[model]
    version = st.selectbox(
        "Version", [ALL_VERSIONS, *choice.versions], key=f"labeling-version-{model}",
        format_func=lambda v: v if v == ALL_VERSIONS else version_label(choice, v))
    predicted = st.selectbox("Predicted class", [ALL_CLASSES, *choice.classes],
                             key=f"labeling-class-{model}")
    span = st.selectbox("Predictions made in", list(RANGES), index=1, key="labeling-range")
    order = st.selectbox("Order", list(ORDERS), format_func=ORDERS.__getitem__,
                         key="labeling-order")

days = RANGES[span]
wanted = QueueFilter(
    model=model,
    version=None if version == ALL_VERSIONS else int(version),
    predicted_class=None if predicted == ALL_CLASSES else predicted,
    since=None if days is None else datetime.now(UTC) - timedelta(days=days),
)
day_start = datetime.combine(datetime.now(zone).date(), time.min, zone)
progress = labeling_progress(engine=engine, actor=user, wanted=wanted, day_start=day_start)
st.markdown(
    f"**Today** ({fmt.md_text(config.timezone)}): **{fmt.count(progress.today)}** labelled, "
    f"{fmt.count(progress.today_by_you)} by you · **{fmt.count(progress.awaiting)}** "
    "awaiting a label in this filter")

if not may_label:
    st.info(f"Your role ({user.role}) can read the queue but not label. Labelers and "
            "admins label.", icon=":material/visibility:")

state.show_flash()


def conflict_section() -> None:
    """Labels that changed since the labeler looked: keep the stored one or replace it."""
    conflicts = st.session_state.get(state.CONFLICTS)
    if not conflicts:
        return
    with st.container(border=True):
        st.markdown("**Someone else labelled these first.** Keep their label, or replace it "
                    "with yours; either way it is kept in the label's history.")
        choices: dict[str, bool] = {}
        for c in conflicts:
            # Radio labels and options are markdown: every stored value is escaped.
            choices[c.prediction_id] = st.radio(
                fmt.md_text(f"Prediction {c.prediction_id}: stored {c.stored_label!r} by "
                            f"{c.stored_by} at {fmt.when(c.stored_at, config.timezone)}; "
                            f"yours {c.your_label!r}"),
                [False, True], horizontal=True, key=f"labeling-conflict-{c.prediction_id}",
                format_func=lambda replace, c=c: fmt.md_text(
                    f"Replace with {c.your_label}" if replace else f"Keep {c.stored_label}"))
        st.button("Apply choices", type="primary", key="labeling-apply-conflicts",
                  on_click=state.apply_conflict_choices, args=(engine, user, choices))


def probabilities(row: QueueRow, classes: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"Class": classes,
                         "Probability": [float(row.scores.get(c, 0.0)) for c in classes]})


def one_at_a_time(queue: Queue) -> None:
    if not queue.rows:
        return
    row = queue.rows[0]
    with st.container(border=True):
        # Not a code span: an id holding a backtick would end it and be markdown after.
        st.markdown(
            f"Prediction {fmt.md_text(row.prediction_id)} · v{row.version} · made "
            f"{fmt.when(row.ts, config.timezone)}")
        left, right = st.columns([3, 2])
        with left:
            st.dataframe(
                pd.DataFrame({"Feature": queue.features,
                              "Value": [str(row.features.get(f, "—")) for f in queue.features]}),
                hide_index=True, width="stretch", key="labeling-features")
        with right:
            st.metric("Model says", fmt.md_text(row.predicted_class),
                      help="The class the model predicted, with its probability below.")
            st.caption(f"Probability of that class: {fmt.share(row.top_score)}")
            st.dataframe(
                probabilities(row, queue.classes), hide_index=True, width="stretch",
                column_config={"Probability": st.column_config.ProgressColumn(
                    "Probability", min_value=0.0, max_value=1.0, format="percent")},
                key="labeling-probabilities")
        if row.label is not None:
            st.caption(fmt.md_text(f"Currently labelled {row.label!r} by {row.labeler}."))
        st.markdown("**What is the true class?** Keys: the number beside a class, "
                    "S to skip, U for can't tell.")
        with st.container(horizontal=True):
            for i, cls in enumerate(queue.classes):
                # The key is shown beside the label by Streamlit itself.
                st.button(fmt.md_text(cls), key=f"labeling-class-btn-{i}",
                          type="primary", disabled=not may_label,
                          shortcut=str(i + 1) if i < 9 else None,
                          on_click=state.label_one,
                          args=(engine, user, row.prediction_id, cls, row.revision))
            st.button("Skip", key="labeling-skip", shortcut="S", icon=":material/skip_next:",
                      on_click=state.skip_one, args=(row.prediction_id,))
            st.button("Can't tell", key="labeling-unsure", shortcut="U",
                      icon=":material/help:", disabled=not may_label,
                      on_click=state.unsure_one, args=(engine, user, row.prediction_id))


def table(queue: Queue) -> None:
    if not queue.rows:
        return
    ids = [r.prediction_id for r in queue.rows]
    seen: dict[str, int | None] = st.session_state.setdefault(state.SEEN, {})
    seen.update({r.prediction_id: r.revision for r in queue.rows})
    pending = state.pending_edits()
    frame = pd.DataFrame(
        {
            "Made at": [fmt.when(r.ts, config.timezone) for r in queue.rows],
            "Version": [f"v{r.version}" for r in queue.rows],
            "Predicted": [r.predicted_class for r in queue.rows],
            "Confidence": [r.top_score for r in queue.rows],
            "Label": [pending.get(r.prediction_id, r.label) for r in queue.rows],
            **{f: [r.features.get(f) for r in queue.rows] for f in queue.features},
        },
        index=pd.Index(ids, name="Prediction"),
    )
    editor_key = f"labeling-editor-{st.session_state.get(state.GENERATION, 0)}"
    st.data_editor(
        frame, key=editor_key, width="stretch", num_rows="fixed",
        disabled=[c for c in frame.columns if c != "Label"] if may_label else True,
        column_config={
            "Label": st.column_config.SelectboxColumn(
                "Label", options=queue.classes, help="The true class; leave empty to skip."),
            "Confidence": st.column_config.ProgressColumn(
                "Confidence", min_value=0.0, max_value=1.0, format="percent",
                help="Probability of the predicted class."),
        },
        on_change=state.collect_table_edits, args=(editor_key, ids))
    count = len(pending)
    st.button(f"Save {count} label{'s' if count != 1 else ''}" if count else "Save labels",
              type="primary", key="labeling-save", disabled=not may_label,
              on_click=state.save_table, args=(engine, user))
    st.caption("Saving writes only the rows you edited, in one transaction, as you. "
               f"Showing up to {PAGE_ROWS} predictions; saved rows leave the queue.")


def import_export() -> None:
    """Label CSV in (every row or none) and predictions with their labels out."""
    limit_mb = config.label_import_max_bytes / 1024 / 1024
    with st.expander("Import or export labels", icon=":material/import_export:",
                     expanded=st.session_state.get(state.IMPORT_OPEN, False)):
        left, right = st.columns(2)
        with left:
            st.markdown(
                "**Import** a CSV with the columns `prediction_id,label` and optionally "
                f"`labeler` (UTF-8, up to {limit_mb:g} MB and "
                f"{config.label_import_max_rows:,} rows). Every row is checked first; one "
                "bad row and nothing is stored.")
            upload = st.file_uploader("Label file", type=["csv"], disabled=not may_import,
                                      key="labeling-upload", on_change=state.forget_import,
                                      max_upload_size=max(1, math.ceil(limit_mb)))
            replace = st.checkbox("Replace labels that differ from the stored ones",
                                  key="labeling-import-replace", disabled=not may_import)
            if st.button("Import labels", key="labeling-import", disabled=upload is None
                         or not may_import, icon=":material/upload:") and upload is not None:
                state.import_file(engine, user, upload.name, upload.getvalue(), replace)
                st.rerun()
            state.show_import_result()
            errors = st.session_state.get(state.IMPORT_ERRORS)
            if errors:
                st.dataframe(pd.DataFrame(
                    {"Line": [e.line for e in errors],
                     "Prediction": [e.prediction_id or "" for e in errors],
                     "Column": [e.column or "" for e in errors],
                     "Problem": [e.message for e in errors]}),
                    hide_index=True, width="stretch", key="labeling-import-errors")
        with right:
            st.markdown(
                "**Export** the predictions of this filter (model, version, window) with "
                "their labels as CSV. Cells a spreadsheet would run as a formula start "
                "with an apostrophe.")
            labelled_only = st.toggle("Only labelled predictions", value=True,
                                      key="labeling-export-labelled")
            st.download_button(
                "Download CSV", key="labeling-export", icon=":material/download:",
                file_name=f"{model}-labels.csv", mime="text/csv",
                data=lambda: "".join(export_csv(
                    engine=engine, actor=user, model=model, version=wanted.version,
                    since=wanted.since, labelled_only=labelled_only)),
                on_click="ignore")


conflict_section()
mode = st.segmented_control("View", [ONE, TABLE], default=ONE, key="labeling-mode",
                            required=True)
show_labelled = mode == TABLE and st.toggle(
    "Also show labelled predictions (to correct them)", key="labeling-show-labelled")
queue = labeling_queue(
    engine=engine, actor=user, wanted=wanted, order=order,
    limit=1 if mode == ONE else PAGE_ROWS,
    exclude=st.session_state.get(state.SKIPPED, []), include_labelled=show_labelled)
if queue.note:
    st.caption(queue.note)
if not queue.rows:
    skipped = len(st.session_state.get(state.SKIPPED, []))
    st.success(
        "Nothing awaits a label in this filter"
        + (f" (you skipped {skipped} in this sitting: reload the page to see them again)"
           if skipped else "")
        + ". Widen the filter or pick another model.", icon=":material/task_alt:")
elif mode == ONE:
    one_at_a_time(queue)
else:
    table(queue)
import_export()
