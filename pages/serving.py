"""Serving: how a deployed model serves — rate, errors, latency, class mix, confidence, CPU,
memory — live and over days, per version, with promotions and rollbacks marked."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard import format as fmt
from dashboard.auth import guard
from dashboard.charts import time_series_figure
from dashboard.components import registered_models, version_label
from dashboard.resources import engine_for, query_preset, serving_source, settings
from services.access import View
from services.prometheus.presets import PresetError
from services.settings import SettingsError
from services.views.serving import (
    PANELS,
    Panel,
    ServingView,
    UnknownVersionError,
    serving_view,
    slo_status,
)
from services.views.spool import spool_status

user = guard(View.SERVING)
config = settings()
engine = engine_for(config.resolved_database_url)
zone = ZoneInfo(config.timezone)
RANGES = {"Last 1 h": timedelta(hours=1), "Last 6 h": timedelta(hours=6),
          "Last 24 h": timedelta(hours=24), "Last 7 days": timedelta(days=7)}
CUSTOM = "Custom days"
#: Panels about the inference service's process: every model and version together.
PROCESS_PANELS = frozenset({"cpu", "memory"})
QUANTILE_NAMES = {"0.1": "p10", "0.5": "median", "0.9": "p90"}

by_name = registered_models(engine, nothing_to="show serving for")
with st.container(horizontal=True, vertical_alignment="bottom"):
    model = st.selectbox("Model", list(by_name), key="serving-model")
    span = st.selectbox("Time range", [*RANGES, CUSTOM], index=2, key="serving-range")
    choice = by_name[model]
    versions = st.multiselect(
        "Versions", list(choice.versions), default=list(choice.versions),
        format_func=lambda v: version_label(choice, v),
        key=f"serving-versions-{model}",
    )
    refresh = st.toggle(f"Refresh every {config.serving_refresh_seconds} s", value=True,
                        disabled=span == CUSTOM, key="serving-live",
                        help="Only the charts refresh; the filters stay as they are. Chosen "
                             "days do not change, so they do not refresh.")
    live = refresh and span != CUSTOM

today = datetime.now(zone).date()
if span == CUSTOM:
    days = st.date_input(f"Days ({config.timezone})", value=(today - timedelta(days=6), today),
                         max_value=today, format="YYYY-MM-DD", key="serving-days")
    if not isinstance(days, tuple) or len(days) != 2:
        st.info("Pick the last day of the range too.", icon=":material/date_range:")
        st.stop()
if not versions:
    st.info("Choose at least one version to draw.", icon=":material/filter_alt:")
    st.stop()


def _window() -> tuple[datetime, datetime]:
    if span == CUSTOM:
        first, last = days
        start = datetime.combine(first, time.min, zone)
        end = min(datetime.combine(last + timedelta(days=1), time.min, zone),
                  datetime.now(UTC))
        return start, end
    end = datetime.now(UTC)
    return end - RANGES[span], end


def _slo(view: ServingView) -> None:
    statuses = slo_status(view, latency_p95_target_s=config.slo_latency_p95_seconds,
                          error_ratio_target=config.slo_error_rate)
    cols = st.columns(len(statuses) * 2)
    for i, status in enumerate(statuses):
        is_latency = status.unit == "s"
        show = fmt.latency if is_latency else fmt.share
        target = show(status.target)
        if status.current is None:
            state = "no data"
        else:
            state = "within target" if status.met else "over target"
        cols[2 * i].metric(
            f"{status.name[0].upper() if status.name[0] != 'p' else 'p'}{status.name[1:]} now · "
            f"target {target}", show(status.current),
            delta=state, delta_color="off" if status.met is None else (
                "normal" if status.met else "inverse"),
            delta_arrow="off",
            help=("Worst version's p95 at the latest point." if is_latency else
                  "Errors over errors plus predictions, all versions, at the latest point."),
        )
        cols[2 * i + 1].metric(
            "Share of the window out of target", fmt.share(status.share_out),
            help="Points of the window where the objective was missed, over all points "
                 "with traffic.",
        )


def _spool(start: datetime, end: datetime) -> None:
    """The prediction spool's counters: what was kept before answering, replayed, set aside."""
    status = spool_status(source=serving_source(), start=start, end=end)
    if status.unavailable or not status.exported:
        return  # the warning above says Prometheus is down; other stacks have no spool
    rows = status.rows
    cols = st.columns(4)
    cols[0].metric("Spooled before answering", fmt.count(rows.get("spooled", 0)),
                   help="Predictions written to the inference service's spool file before "
                        "their answer was sent, in this window (all models).")
    cols[1].metric("Replayed at a start", fmt.count(rows.get("replayed", 0)),
                   help="Answered predictions a previous run left in the spool (a crash, a "
                        "kill, the store down at shutdown), stored when the service started "
                        "again.")
    cols[2].metric("Set aside", fmt.count(rows.get("rejected", 0)),
                   help="Spooled predictions the store refuses for good, or spool lines that "
                        "cannot be read: kept in spool/rejected.jsonl under the inference "
                        "service's var folder, never retried.")
    held = status.held_bytes
    cols[3].metric("Waiting for the store now", "none" if not held else fmt.size(held),
                   help="Bytes of answered predictions in the spool, not stored yet. It grows "
                        "while the store is unavailable; at OPSDASH_SPOOL_MAX_BYTES the "
                        "service answers 503.")
    if rows.get("rejected"):
        st.warning(f"{fmt.count(rows['rejected'])} predictions were set aside in this window: "
                   "the store refused them or their spool line was unreadable. They are in "
                   "spool/rejected.jsonl under the inference service's var folder, with the "
                   "reason; the service log names it.", icon=":material/report:")


def _chart(panel: Panel, view: ServingView) -> None:
    spec = panel.spec
    with st.container(border=True):
        for warning in panel.warnings:
            st.warning(f"Prometheus warned that this data may be partial: "
                       f"{fmt.md_text(warning)}", icon=":material/warning:")
        reason = panel.empty_reason
        if reason is not None:
            st.markdown(f"**{fmt.md_text(spec.title)}**")
            st.caption(f"No data: {fmt.md_text(reason)}.")
            return
        target = None
        if spec.name == "latency_p95":
            target = config.slo_latency_p95_seconds
        st.plotly_chart(
            time_series_figure(
                title=(f"{spec.title} (all models)" if spec.name in PROCESS_PANELS
                       else f"{spec.title} ({view.model})"),
                unit=spec.unit, series=panel.series, window=(view.start, view.end),
                label_key=spec.series_label, tz=config.timezone, markers=view.markers,
                label_prefix="v" if spec.series_label == "version" else "",
                names=QUANTILE_NAMES if spec.series_label == "quantile" else None,
                target=target,
            ),
            key=f"chart-{spec.name}",
        )


@st.fragment(run_every=config.serving_refresh_seconds if live else None)
def charts() -> None:
    start, end = _window()
    try:
        preset = query_preset()
        view = serving_view(source=serving_source(), preset=preset, engine=engine,
                            model=model, versions=versions, start=start, end=end)
    except (UnknownVersionError, LookupError) as exc:
        st.error(f"{fmt.md_text(str(exc))}. Reload the page to refresh the filters.",
                 icon=":material/error:")
        return
    except (PresetError, SettingsError) as exc:
        st.error(f"The Prometheus settings cannot be used: {fmt.md_text(str(exc))}. Fix them "
                 "and restart the dashboard.", icon=":material/settings:")
        return
    if view.unavailable:
        st.warning(
            f"{fmt.md_text(view.unavailable)}. The charts come back when Prometheus answers"
            + (" (this panel retries by itself)." if live else "; reload the page to retry.")
            + " Deployments below come from the store.",
            icon=":material/cloud_off:",
        )
    else:
        _slo(view)
        if preset.name == "opsdash":
            _spool(start, end)
    pairs = [PANELS[i:i + 2] for i in range(0, len(PANELS), 2)]
    for pair in pairs:
        cols = st.columns(2)
        for col, spec in zip(cols, pair, strict=False):
            with col:
                _chart(view.panels[spec.name], view)
    if view.markers:
        st.dataframe(
            pd.DataFrame({
                "Time": [fmt.when(m.at, config.timezone) for m in view.markers],
                "Change": [m.text for m in view.markers],
                "By": [m.actor for m in view.markers],
                "Reason": [m.reason for m in view.markers],
            }),
            hide_index=True, width="stretch",
        )
    else:
        st.caption("No promotion or rollback of this model in this window.")
    st.caption(
        f"Updated {datetime.now(zone):%H:%M:%S} {config.timezone} · step {view.step_s:g} s, "
        f"rates over {view.window} · {view.requests} PromQL requests · preset "
        f"{fmt.md_text(preset.name)}"
    )


charts()
