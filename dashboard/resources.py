"""Process-wide resources, created once per server process (``st.cache_resource``)."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

import streamlit as st
from sqlalchemy import Engine

from db.schema import check_schema
from db.session import make_engine
from services.files import private_umask, secure_tree
from services.prometheus.connection import source_from_settings
from services.prometheus.presets import Preset, active_preset
from services.prometheus.source import MetricsSource
from services.settings import Settings, SettingsError, get_settings

__all__ = ["engine_for", "metrics_source", "private_state", "query_preset", "serving_source",
           "settings"]


def private_state() -> None:
    """The dashboard server's files are the owner's alone: the umask, and ``var/`` fixed.

    A setting that cannot be read is left to the app, which says so on the page.
    """
    private_umask()
    with suppress(SettingsError):
        secure_tree(Path(get_settings().var_dir))


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
def _source(connection: tuple[str, float, str, str, str, str]) -> MetricsSource:
    url, timeout, headers, token, basic, ca_bundle = connection
    return source_from_settings(settings().replace(
        prometheus_url=url, prometheus_timeout=timeout, prometheus_headers=headers,
        prometheus_bearer_token=token, prometheus_basic_auth=basic,
        prometheus_ca_bundle=ca_bundle,
    ))


def _connection(cfg: Settings) -> tuple[str, float, str, str, str, str]:
    return (cfg.prometheus_url, cfg.prometheus_timeout, cfg.prometheus_headers,
            cfg.prometheus_bearer_token, cfg.prometheus_basic_auth, cfg.prometheus_ca_bundle)


def metrics_source(url: str, timeout: float) -> MetricsSource:
    """The Prometheus client for ``url`` (no retries, explicit timeout), with the
    connection options of the settings (headers, token, basic auth, CA bundle).

    Raises:
        SettingsError: malformed connection options.
    """
    return _source((url, timeout, *_connection(settings())[2:]))


def serving_source() -> MetricsSource:
    """The Prometheus client the settings describe."""
    return _source(_connection(settings()))


@st.cache_resource(show_spinner=False)
def _preset(path: str, modified: float, name: str) -> Preset:
    return active_preset(settings().replace(query_presets_file=path, query_preset=name))


def query_preset() -> Preset:
    """The active query preset (re-read when its file changes).

    Raises:
        PresetError: unknown preset name, or an invalid presets file.
    """
    cfg = settings()
    path = cfg.query_presets_file
    try:
        modified = Path(path).stat().st_mtime if path else 0.0
    except OSError:
        modified = -1.0  # active_preset reports the unreadable file
    return _preset(path, modified, cfg.query_preset)
