"""Cached reads for pages (``st.cache_data`` with a ttl). Arguments are plain values."""

from __future__ import annotations

import streamlit as st

from dashboard.resources import engine_for, metrics_source
from services.overview import ModelOverview, ServingSnapshot, serving_snapshot, store_overview
from services.settings import get_settings

__all__ = ["overview_figures", "serving_figures"]


@st.cache_data(ttl=get_settings().cache_ttl_seconds, show_spinner=False)
def overview_figures(database_url: str, tz: str, days: int) -> list[ModelOverview]:
    """Store-based overview figures of every model."""
    return store_overview(engine=engine_for(database_url), tz=tz, days=days)


@st.cache_data(ttl=5, show_spinner=False)
def serving_figures(prometheus_url: str, timeout: float) -> ServingSnapshot:
    """Live request rate and p95 latency per model, or why Prometheus did not answer."""
    return serving_snapshot(source=metrics_source(prometheus_url, timeout))
