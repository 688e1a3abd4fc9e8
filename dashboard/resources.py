"""Process-wide resources, created once per server process (``st.cache_resource``)."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st
from sqlalchemy import Engine

from db.schema import check_schema
from db.session import make_engine
from services.prometheus import MetricsSource, source_from_settings
from services.settings import Settings, get_settings

__all__ = ["engine_for", "metrics_source", "settings"]


def settings() -> Settings:
    """Current settings (cheap; read from the environment)."""
    return get_settings()


@st.cache_resource(show_spinner=False)
def engine_for(database_url: str) -> Engine:
    """The engine for ``database_url``, after checking its schema is current.

    Raises:
        SchemaError: the schema is missing or stale (not cached; checked again next run).
    """
    engine = make_engine(database_url)
    try:
        check_schema(engine)
    except Exception:
        engine.dispose()
        raise
    return engine


@st.cache_resource(show_spinner=False)
def metrics_source(url: str, timeout: float) -> MetricsSource:
    """The Prometheus client for ``url`` (no retries, explicit timeout).

    Headers, authentication and CA bundle come from the ``OPSDASH_PROMETHEUS_*`` settings.
    """
    return source_from_settings(
        replace(get_settings(), prometheus_url=url, prometheus_timeout=timeout)
    )
