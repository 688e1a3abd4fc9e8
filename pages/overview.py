"""Overview: every model's production version, traffic, ground truth and quality at a glance."""

from __future__ import annotations

import streamlit as st

from dashboard import format as fmt
from dashboard.auth import guard
from dashboard.charts import daily_accuracy_figure
from dashboard.data import overview_figures, serving_figures
from dashboard.resources import settings
from services.access import View
from services.views.overview import MIN_LABELS_PER_DAY

guard(View.OVERVIEW)

config = settings()
TREND_DAYS = 14

models = overview_figures(config.resolved_database_url, config.timezone, TREND_DAYS)
live = serving_figures(config.prometheus_url, config.prometheus_timeout)

if live.error:
    st.warning(
        f"{fmt.md_text(live.error)}. Figures from the feedback store below are current; "
        "request rate and latency come back when Prometheus answers. Check that it runs, or set "
        "OPSDASH_PROMETHEUS_URL.",
        icon=":material/cloud_off:",
    )

if not models:
    st.info(
        "No models are registered yet. Start the demo with `make demo`, or register a model "
        "with the command line (`python -m services.cli --help`).",
        icon=":material/info:",
    )

for model in models:
    now = live.get(model.name)
    with st.container(border=True):
        version = f"v{model.production_version}" if model.production_version else "none"
        st.subheader(fmt.md_text(model.name), anchor=False)
        st.caption(
            f"{fmt.md_text(model.task)} classifier, {model.class_count} classes · "
            f"production {version} "
            f"since {fmt.when(model.production_since, config.timezone)}"
        )
        cols = st.columns(6)
        cols[0].metric("Predictions, last 24 h", fmt.count(model.predictions_24h))
        cols[1].metric("Predictions, last 7 days", fmt.count(model.predictions_7d))
        cols[2].metric(
            "With ground truth (7 days)",
            fmt.share(model.ground_truth_share_7d),
            help=f"{fmt.count(model.labelled_7d)} of the last 7 days' predictions have a label.",
        )
        cols[3].metric(
            "Accuracy (7 days)",
            fmt.share(model.accuracy_7d),
            help=f"On {fmt.count(model.labelled_7d)} labelled predictions of the last 7 days.",
        )
        cols[4].metric(
            "Request rate now",
            fmt.rate(now.request_rate),
            help="From Prometheus: rate over the last 2 minutes, all versions.",
        )
        cols[5].metric(
            "p95 latency now",
            fmt.latency(now.latency_p95_seconds),
            help="From Prometheus: 95th percentile over the last 2 minutes.",
        )
        if any(d.labelled for d in model.daily):
            st.plotly_chart(
                daily_accuracy_figure(model=model.name, days=model.daily, tz=config.timezone),
                key=f"accuracy-{model.name}",
            )
        else:
            st.caption(
                f"No accuracy trend yet: none of the last {TREND_DAYS} days' predictions has "
                "ground truth. Labels arrive from labelers, imports or the feedback API."
            )
        if not live.error and now.request_rate is None:
            st.caption(
                "No live samples for this model yet: Prometheus needs two scrapes of the "
                "inference service to compute a rate."
            )

st.caption(
    f"Days in {config.timezone}. Accuracy points need at least {MIN_LABELS_PER_DAY} labels a "
    "day. Store figures refresh every "
    f"{config.cache_ttl_seconds} s, live figures every 5 s (reload the page)."
)
