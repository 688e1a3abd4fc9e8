"""Cached reads for pages (``st.cache_data`` with a ttl). Arguments are plain values."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import streamlit as st

from dashboard.resources import engine_for, metrics_source
from db.repositories import drift as drift_repo
from db.repositories import registry as registry_repo
from db.repositories import stats as stats_repo
from db.session import session_scope
from services.alerts.backtest import Backtest, backtest
from services.alerts.rules import cadence_seconds, rule_from_dict
from services.alerts.sources import Sources
from services.alerts.store import FiringAlert, firing
from services.drift.frame import Frame, decode_rows
from services.drift.samples import Kind
from services.drift.scoring import TrainingReference, training_reference
from services.promotion.evidence import Evidence, gather_evidence
from services.quality.compare import VersionComparison, compare_versions
from services.quality.curves import BinaryCurves, binary_curves
from services.quality.metrics import QualityReport
from services.quality.report import quality_report
from services.quality.trend import TrendBucket, accuracy_trend
from services.settings import SettingsError, get_settings
from services.views.overview import ModelOverview, ServingSnapshot, serving_snapshot, store_overview

__all__ = [
    "BANNER_TTL_SECONDS",
    "alert_backtest",
    "alert_sources",
    "current_minute",
    "drift_day",
    "drift_history",
    "drift_subject",
    "drift_training_reference",
    "firing_alerts",
    "forget_alerts",
    "forget_label_figures",
    "forget_production_figures",
    "label_count",
    "overview_figures",
    "promotion_evidence",
    "quality_comparison",
    "quality_curves",
    "quality_figures",
    "quality_trend",
    "serving_figures",
]

_TTL = get_settings().cache_ttl_seconds


def current_minute() -> str:
    """A cache key for reads over "the last N days": they move with the clock."""
    return datetime.now(UTC).strftime("%Y%m%d%H%M")


def _since(days: float | None) -> datetime | None:
    return None if days is None else datetime.now(UTC) - timedelta(days=days)


@st.cache_data(ttl=_TTL, show_spinner=False)
def overview_figures(database_url: str, tz: str, days: int) -> list[ModelOverview]:
    """Store-based overview figures of every model."""
    return store_overview(engine=engine_for(database_url), tz=tz, days=days)


@st.cache_data(ttl=5, show_spinner=False)
def serving_figures(prometheus_url: str, timeout: float) -> ServingSnapshot:
    """Live request rate and p95 latency per model, or why Prometheus did not answer."""
    return serving_snapshot(source=metrics_source(prometheus_url, timeout))


@st.cache_data(ttl=_TTL, show_spinner=False)
def quality_figures(database_url: str, model: str, version: int | None, days: float | None,
                    minute: str) -> QualityReport:
    """The quality report of predictions made in the last ``days`` (``None``: all time)."""
    del minute  # part of the cache key only
    return quality_report(engine=engine_for(database_url), model=model, version=version,
                          since=_since(days))


@st.cache_data(ttl=_TTL, show_spinner=False)
def quality_curves(database_url: str, model: str, version: int | None, positive: str,
                   days: float | None, minute: str) -> BinaryCurves:
    """ROC and precision-recall curves of a binary model."""
    del minute  # cache key only
    return binary_curves(engine=engine_for(database_url), model=model, version=version,
                         positive=positive, since=_since(days))


@st.cache_data(ttl=_TTL, show_spinner=False)
def quality_comparison(database_url: str, model: str, a: int, b: int, days: float | None,
                       minute: str) -> VersionComparison:
    """Two versions on the labelled predictions both answered."""
    del minute  # cache key only
    return compare_versions(engine=engine_for(database_url), model=model, a=a, b=b,
                            since=_since(days))


@st.cache_data(ttl=_TTL, show_spinner=False)
def quality_trend(database_url: str, model: str, version: int | None, days: int, bucket: str,
                  tz: str, min_labels: int, minute: str) -> list[TrendBucket]:
    """Accuracy per hour or local day over the last ``days``."""
    del minute  # cache key only
    return accuracy_trend(engine=engine_for(database_url), model=model, version=version,
                          since=datetime.now(UTC) - timedelta(days=days), tz=tz,
                          bucket=bucket, min_labels=min_labels)


def forget_label_figures() -> None:
    """Drop every cached figure computed from labels (after labels were saved)."""
    for cached in (overview_figures, quality_figures, quality_curves, quality_comparison,
                   quality_trend, promotion_evidence):
        cached.clear()


def forget_production_figures() -> None:
    """Drop every cached read that names the production version (after it moved)."""
    for cached in (overview_figures, drift_subject, promotion_evidence):
        cached.clear()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def label_count(database_url: str, model: str) -> int:
    """Labelled predictions of ``model`` now: a cheap count that keys the evidence's cache."""
    with session_scope(engine_for(database_url)) as session:
        found = registry_repo.get_model(session=session, name=model)
        labelled, _ = stats_repo.label_totals(session=session, model_id=found.id, since=_EPOCH)
    return labelled


@st.cache_data(ttl=_TTL, show_spinner="Comparing the versions…", max_entries=64)
def promotion_evidence(database_url: str, prometheus_url: str, timeout: float, model: str,
                       candidate: int, baseline: int | None, labels: int) -> Evidence:
    """The evidence for promoting ``candidate`` over ``baseline``; ``labels`` (the model's
    labelled predictions now) is part of the key, so new labels are counted at once while
    reruns of the page do not bootstrap again."""
    del labels  # cache key only
    try:
        source = metrics_source(prometheus_url, timeout)
    except SettingsError:  # malformed connection options: the Serving page says which
        source = None
    return gather_evidence(engine=engine_for(database_url), model=model, candidate=candidate,
                           baseline=baseline, source=source)


@st.cache_data(ttl=_TTL, show_spinner=False)
def drift_subject(database_url: str, model: str, minute: str) -> drift_repo.DriftSubject | None:
    """The model, its production version and logged span (refreshed every minute)."""
    del minute  # cache key only
    with session_scope(engine_for(database_url)) as session:
        return drift_repo.drift_subject(session, model)


@st.cache_data(show_spinner=False, max_entries=16)
def drift_training_reference(
    database_url: str, version_id: int, artifact_path: str, artifact_sha256: str,
    kinds: tuple[tuple[str, Kind], ...],
) -> TrainingReference:
    """Read once per version: the sample never changes once stored."""
    return training_reference(engine_for(database_url), version_id, Path(artifact_path),
                              artifact_sha256, dict(kinds))


@st.cache_data(show_spinner=False, max_entries=1024)
def drift_day(database_url: str, model_id: int, start: datetime, end: datetime, rows: int,
              kinds: tuple[tuple[str, Kind], ...]) -> Frame:
    """One day's logged inputs; ``rows`` (its count now) is part of the key, so a day that
    gained predictions is read again and a finished one is read once."""
    del rows  # cache key only
    with session_scope(engine_for(database_url)) as session:
        raw = drift_repo.raw_rows(session, model_id, start, end)
    return decode_rows(raw, dict(kinds))


def drift_history(database_url: str, model_id: int, bounds: Sequence[datetime],
                  kinds: tuple[tuple[str, Kind], ...]) -> list[Frame]:
    """The logged inputs of each window ``[bounds[i], bounds[i + 1])``: every window's
    count is read now, and a window is read again only when its count changed."""
    with session_scope(engine_for(database_url)) as session:
        counts = drift_repo.count_between(session, model_id, bounds)
    return [drift_day(database_url, model_id, start, end, rows, kinds)
            for start, end, rows in zip(bounds[:-1], bounds[1:], counts, strict=True)]


#: Seconds the banner's list of firing alerts is reused: every page run of every session
#: shows it, so it is read at most this often per dashboard process.
BANNER_TTL_SECONDS = 5


@st.cache_data(ttl=BANNER_TTL_SECONDS, show_spinner=False)
def firing_alerts(database_url: str) -> list[FiringAlert]:
    """The rules firing now (silenced ones included, marked), for the banner."""
    return firing(engine=engine_for(database_url))


@st.cache_resource(show_spinner=False, max_entries=4)
def alert_sources(prometheus_url: str, timeout: float, drift_file: str, tz: str) -> Sources:
    """What a backtest reads besides the store (Prometheus, the drift configuration and
    its cache of finished days), one per configuration; the arguments are its key."""
    del prometheus_url, timeout, drift_file, tz  # cache key only
    return Sources.from_settings(get_settings())


@st.cache_data(ttl=_TTL, show_spinner="Replaying the rule over the stored history…",
               max_entries=32)
def alert_backtest(database_url: str, definition: str, days: int, hour: str) -> Backtest:
    """What the rule of ``definition`` (its JSON) would have done over the last ``days``
    days, at the rule's own step or hourly, whichever is coarser; ``hour`` keys the cache,
    so the same rule is replayed at most once an hour."""
    del hour  # cache key only
    rule = rule_from_dict(json.loads(definition))
    config = get_settings()
    sources = alert_sources(config.prometheus_url, config.prometheus_timeout,
                            config.drift_config_file, config.timezone)
    end = datetime.now(UTC)
    return backtest(engine=engine_for(database_url), rule=rule, start=end - timedelta(days=days),
                    end=end, step_seconds=cadence_seconds(rule), sources=sources)


def forget_alerts() -> None:
    """Drop the cached firing alerts (after a rule, silence or acknowledgement changed)."""
    firing_alerts.clear()
