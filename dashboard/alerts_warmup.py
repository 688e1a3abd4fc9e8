"""Warm what a drift rule's backtest reads, in the background, when an editor opens the
Alerts page.

A drift backtest's first run in a process reads and decodes every day's logged rows and
scores the production version's training sample (about 2.4 s on the demo in Chromium,
over the 2 s an editor should wait); later ones find the finished days in the shared
:class:`~services.alerts.sources.DriftCache` (about 1 s). So the page starts replaying the
stored drift rules on a background thread, at most once an hour per process, while the
editor reads the page; a backtest clicked meanwhile simply computes what it needs itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import streamlit as st
from sqlalchemy import Engine

from dashboard.data import alert_sources
from dashboard.resources import engine_for
from services.alerts.backtest import backtest
from services.alerts.rules import DriftShareRule, PredictionDriftRule, Rule, cadence_seconds
from services.alerts.sources import Sources
from services.alerts.store import StoredRule
from services.settings import Settings

__all__ = ["warm_drift_backtests"]

logger = logging.getLogger(__name__)


@st.cache_resource(show_spinner=False, max_entries=4)
def _started(database_url: str, hour: str) -> threading.Event:
    """Set once the warm-up of this store has started in this hour (the arguments are
    the cache key)."""
    del database_url, hour
    return threading.Event()


def warm_drift_backtests(*, config: Settings, rules: Sequence[StoredRule], days: int) -> None:
    """Start replaying the enabled drift rules over the last ``days`` days in the
    background, unless done this hour."""
    url = config.resolved_database_url
    flag = _started(url, datetime.now(UTC).strftime("%Y-%m-%d %H"))
    drift = [s.rule for s in rules
             if s.enabled and isinstance(s.rule, DriftShareRule | PredictionDriftRule)]
    if flag.is_set() or not drift:
        return
    flag.set()
    sources = alert_sources(config.prometheus_url, config.prometheus_timeout,
                            config.drift_config_file, config.timezone)
    worker = threading.Thread(target=_warm, args=(engine_for(url), sources, drift, days),
                              daemon=True, name="alerts-warm-up")
    worker.start()


def _warm(engine: Engine, sources: Sources, rules: list[Rule], days: int) -> None:
    end = datetime.now(UTC)
    for rule in rules:
        try:
            backtest(engine=engine, rule=rule, start=end - timedelta(days=days), end=end,
                     step_seconds=cadence_seconds(rule), sources=sources)
        except Exception:  # a warm-up that fails costs nothing: the click computes it
            logger.info("warming the backtest of %r failed", rule.name, exc_info=True)
