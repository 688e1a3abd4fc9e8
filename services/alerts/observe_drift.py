"""Drift rules' figures: the Drift page's verdict on a window, computed outside the page.

The window is the last ``window_days`` local days (``OPSDASH_TIMEZONE``), today so far
included (at midnight, the day just ended), ending at the evaluation time; it is judged
against the training sample of the version that was production at that time (the promotion
ledger; the pointer when the ledger has no row yet), with the Drift page's tests, column
configuration and drift share (:func:`services.drift.analysis.analyse`, nothing
reimplemented). The logged rows are read day by day; a finished day's rows, and a finished
window's verdict, are kept in the :class:`~services.alerts.sources.DriftCache` under a key
holding the day's row count, so rows logged late to a finished day are seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from db.repositories import alert_sources
from db.repositories import drift as drift_repo
from db.session import session_scope
from services.alerts.production import ProductionHistory, production_history
from services.alerts.rules import DriftShareRule, PredictionDriftRule
from services.alerts.sources import Sources
from services.alerts.state import Observation
from services.drift.analysis import MIN_DAY_ROWS, analyse
from services.drift.episode import local_midnight
from services.drift.frame import Frame, decode_rows, feature_kinds
from services.drift.samples import Kind
from services.drift.scoring import TrainingReference, training_reference

__all__ = ["DriftSubject", "WindowDrift", "as_observation", "day_frames", "drift_observation",
           "drift_subject", "reference_for", "verdict_of", "window_drift", "window_start"]

DriftRule = DriftShareRule | PredictionDriftRule


@dataclass(frozen=True)
class DriftSubject:
    """A model as a drift rule reads it: its features and its production history."""

    model: str
    model_id: int
    kinds: dict[str, Kind]
    production: ProductionHistory

    def version_at(self, at: datetime) -> int | None:
        """The version row in production at ``at``."""
        return self.production.version_at(at)


@dataclass(frozen=True)
class WindowDrift:
    """The Drift page's verdict on one window.

    Attributes:
        rows: predictions in the window.
        share: the share of drifted features (``None``: nothing could be tested).
        drifted: drifted features / tested features.
        prediction_score: the larger drift score of the predicted class mix and the
            top-class probability (``None``: the reference has no model answers).
        prediction_drifted: the outputs that drifted.
    """

    rows: int
    share: float | None
    drifted: tuple[int, int]
    prediction_score: float | None
    prediction_drifted: tuple[str, ...]


def drift_subject(engine: Engine, model: str) -> DriftSubject | None:
    """The model's features and production history (``None``: no such model)."""
    with session_scope(engine) as session:
        subject = drift_repo.drift_subject(session, model)
        if subject is None:
            return None
        history = production_history(session=session, model_id=subject.model_id)
    return DriftSubject(model=model, model_id=subject.model_id,
                        kinds=feature_kinds(subject.feature_schema), production=history)


def window_start(at: datetime, *, days: int, tz: str) -> datetime:
    """The local midnight ``days - 1`` days before the day of ``at``; at a local midnight,
    the day that just ended counts as ``at``'s (today so far is still empty)."""
    last = (at - timedelta(microseconds=1)).astimezone(ZoneInfo(tz)).date()
    day = last - timedelta(days=days - 1)
    return local_midnight(day, tz)


def drift_observation(*, engine: Engine, rule: DriftRule, at: datetime,
                      sources: Sources | None) -> Observation:
    """What a drift rule sees at ``at`` (unavailable without settings, a readable drift
    configuration, a production version or its training sample)."""
    if sources is None:
        return Observation(None, unavailable="drift rules need the settings (none given)")
    subject = drift_subject(engine, rule.model)
    if subject is None:
        return Observation(None, unavailable=f"no model is called {rule.model!r}")
    start = window_start(at, days=rule.window_days, tz=sources.settings.timezone)
    found = window_drift(engine=engine, sources=sources, subject=subject, start=start, end=at,
                         now=at)
    if isinstance(found, str):
        return Observation(None, unavailable=found)
    return as_observation(rule, found)


def as_observation(rule: DriftRule, found: WindowDrift) -> Observation:
    """The rule's figure in a window's verdict."""
    if found.rows < max(MIN_DAY_ROWS, rule.min_rows):
        return Observation(None, sample_size=found.rows)
    if isinstance(rule, DriftShareRule):
        if found.share is None:
            return Observation(None, sample_size=found.rows)
        drifted, tested = found.drifted
        return Observation(found.share, sample_size=found.rows,
                           detail=f"{drifted} of {tested} features")
    if found.prediction_score is None:
        return Observation(None, unavailable="the reference has no model answers to compare "
                                             "with (the production model could not be loaded)")
    return Observation(found.prediction_score, sample_size=found.rows,
                       detail=" and ".join(found.prediction_drifted))


def window_drift(*, engine: Engine, sources: Sources, subject: DriftSubject, start: datetime,
                 end: datetime, now: datetime) -> WindowDrift | str:
    """The verdict on ``[start, end)`` against the version in production at ``end``, or why
    there is none. Days ending at or before ``now`` count as finished (cached)."""
    if sources.drift_config is None:
        return sources.drift_problem
    version_id = subject.version_at(end)
    if version_id is None:
        return f"{subject.model} has no production version to compare with"
    reference = reference_for(engine, sources, version_id, subject.kinds)
    if isinstance(reference, str):
        return reference
    bounds = _day_bounds(start, end, sources.settings.timezone)
    with session_scope(engine) as session:
        counts = drift_repo.count_between(session, subject.model_id, bounds)
    key = ("window", subject.model_id, version_id, start, end, tuple(counts))

    def compute() -> WindowDrift:
        return _verdict(engine, sources, subject, reference, bounds, counts, now)
    if end <= now and _is_midnight(end, sources.settings.timezone):
        return sources.drift.get_or_compute(key, compute)
    return compute()


def _verdict(engine: Engine, sources: Sources, subject: DriftSubject,
             reference: TrainingReference, bounds: list[datetime], counts: list[int],
             now: datetime) -> WindowDrift:
    frames = [_day_frame(engine, sources, subject, lo, hi, rows, now)
              for (lo, hi), rows in zip(pairwise(bounds), counts, strict=True)]
    return verdict_of(sources, subject, reference, Frame.concat(frames, list(subject.kinds)))


def verdict_of(sources: Sources, subject: DriftSubject, reference: TrainingReference,
               current: Frame) -> WindowDrift:
    """The Drift page's analysis of ``current`` against ``reference``, as a rule reads it."""
    if current.rows < MIN_DAY_ROWS:
        return WindowDrift(current.rows, None, (0, 0), None, ())
    config = sources.drift_config
    assert config is not None
    share = config.share_for(subject.model, sources.settings.drift_share)
    analysis = analyse(kinds=subject.kinds, reference=reference.frame, current=current,
                       history=[], weights=reference.weights,
                       config=config.columns_for(subject.model), drift_share=share)
    result = analysis.result
    score = None
    drifted: tuple[str, ...] = ()
    if analysis.prediction is not None:
        scores = [c.score for c in analysis.prediction.columns if c.score is not None]
        score = max(scores) if scores else None
        drifted = tuple(c.column for c in analysis.prediction.columns if c.drifted)
    return WindowDrift(rows=current.rows,
                       share=result.drifted_share if result.tested else None,
                       drifted=(result.drifted_columns, result.tested),
                       prediction_score=score, prediction_drifted=drifted)


def day_frames(engine: Engine, sources: Sources, subject: DriftSubject, start: datetime,
               end: datetime) -> list[tuple[datetime, datetime, Frame]]:
    """Every local day of ``[start, end)`` with its logged rows (finished days cached)."""
    bounds = _day_bounds(start, end, sources.settings.timezone)
    with session_scope(engine) as session:
        counts = drift_repo.count_between(session, subject.model_id, bounds)
    return [(lo, hi, _day_frame(engine, sources, subject, lo, hi, rows, end))
            for (lo, hi), rows in zip(pairwise(bounds), counts, strict=True)]


def _day_frame(engine: Engine, sources: Sources, subject: DriftSubject, lo: datetime,
               hi: datetime, rows: int, now: datetime) -> Frame:
    """One day's (or the day so far's) logged rows; finished days come from the cache."""
    def read() -> Frame:
        with session_scope(engine) as session:
            raw = drift_repo.raw_rows(session, subject.model_id, lo, hi)
        return decode_rows(raw, subject.kinds)
    if hi <= now and _is_midnight(hi, sources.settings.timezone):
        return sources.drift.get_or_compute(("day", subject.model_id, lo, hi, rows), read)
    return read()


def reference_for(engine: Engine, sources: Sources, version_id: int,
               kinds: dict[str, Kind]) -> TrainingReference | str:
    """The version's scored training sample (cached per version), or why there is none."""
    with session_scope(engine) as session:
        artifact = alert_sources.version_artifact(session=session, version_id=version_id)
    if artifact is None or not artifact.artifact_path or not artifact.artifact_sha256:
        return "the production version has no artifact to score its training sample with"
    reference = sources.drift.get_or_compute(
        ("reference", version_id),
        lambda: training_reference(engine, version_id, Path(artifact.artifact_path),
                                   artifact.artifact_sha256, kinds))
    if reference.frame.rows == 0:
        return f"version {artifact.version} has no stored training sample to compare with"
    return reference


def _day_bounds(start: datetime, end: datetime, tz: str) -> list[datetime]:
    """``start``, each local midnight after it and before ``end``, and ``end``."""
    zone = ZoneInfo(tz)
    bounds = [start]
    day = start.astimezone(zone).date() + timedelta(days=1)
    while (midnight := local_midnight(day, tz)) < end:
        bounds.append(midnight)
        day += timedelta(days=1)
    bounds.append(end)
    return bounds


def _is_midnight(moment: datetime, tz: str) -> bool:
    local = moment.astimezone(ZoneInfo(tz))
    return (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
