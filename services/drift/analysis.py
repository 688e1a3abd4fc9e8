"""The drift analysis the Drift page draws, computed from logged inputs (no streamlit here).

:func:`analyse` tests a current window against the reference (:mod:`services.drift.compare`),
ranks the features by drift score times weight, tests the predicted-class mix and the
top-class probability, and tests every day of the history for the heatmap
(:func:`day_bounds` gives the days).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from services.drift.compare import ColumnConfig, ColumnDrift, DatasetDrift, compare
from services.drift.frame import Frame, frame_samples
from services.drift.samples import Kind, Sample, categorical_sample, numeric_sample

__all__ = [
    "MIN_DAY_ROWS",
    "PREDICTED",
    "TOP_SCORE",
    "DayCell",
    "DriftAnalysis",
    "RankedFeature",
    "analyse",
    "day_bounds",
]

#: A day with fewer predictions than this is drawn as "too few predictions", not tested.
MIN_DAY_ROWS = 30
#: Names of the two prediction columns tested like features.
PREDICTED = "predicted class"
TOP_SCORE = "top-class probability"


@dataclass(frozen=True)
class RankedFeature:
    """A feature's verdict with its weight for this model."""

    drift: ColumnDrift
    weight: float
    #: Drift score times weight times the number of features (1.0 for an average feature
    #: exactly at its threshold); ``None`` when the feature could not be tested.
    priority: float | None


@dataclass(frozen=True)
class DayCell:
    """One day of one feature in the heatmap (score ``None``: not tested)."""

    score: float | None
    drifted: bool
    statistic: float | None
    test: str
    rows: int


@dataclass(frozen=True)
class DriftAnalysis:
    """Everything the page draws from the store."""

    result: DatasetDrift
    ranked: tuple[RankedFeature, ...]
    prediction: DatasetDrift | None
    days: tuple[date, ...]
    #: ``cells[feature][i]`` for ``days[i]``; plus the day's dataset verdict.
    cells: dict[str, tuple[DayCell, ...]]
    day_drifted: tuple[bool | None, ...]
    episode_start: date | None


def day_bounds(start: datetime, end: datetime, tz: str) -> list[datetime]:
    """Local midnights (as UTC) from the day of ``start`` to the one after ``end``."""
    zone = ZoneInfo(tz)
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    bounds = []
    while day <= last + timedelta(days=1):
        bounds.append(datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC))
        day += timedelta(days=1)
    return bounds


def analyse(
    *,
    kinds: Mapping[str, Kind],
    reference: Frame,
    current: Frame,
    history: Sequence[tuple[date, Frame]],
    weights: Mapping[str, float],
    config: Mapping[str, ColumnConfig],
    drift_share: float,
) -> DriftAnalysis:
    """Test ``current`` and every day of ``history`` against ``reference``."""
    ref = frame_samples(reference, kinds)
    result = compare(ref, frame_samples(current, kinds), config=config, drift_share=drift_share)
    cells, day_drifted = _history(ref, kinds, history, config, drift_share)
    days = tuple(d for d, _ in history)
    return DriftAnalysis(
        result=result,
        ranked=_ranked(result, weights, len(kinds)),
        prediction=_prediction_drift(reference, current, drift_share),
        days=days,
        cells=cells,
        day_drifted=day_drifted,
        episode_start=_episode_start(days, day_drifted),
    )


def _ranked(result: DatasetDrift, weights: Mapping[str, float],
            features: int) -> tuple[RankedFeature, ...]:
    """Every feature's verdict, most important drift first (untested last, then by name)."""
    n = max(features, 1)
    ranked = []
    for column in result.columns:
        weight = float(weights.get(column.column, 1.0 / n))
        priority = None if column.score is None else column.score * weight * n
        ranked.append(RankedFeature(drift=column, weight=weight, priority=priority))
    ranked.sort(key=lambda r: (r.priority is None, -(r.priority or 0.0), r.drift.column))
    return tuple(ranked)


def _prediction_drift(reference: Frame, current: Frame,
                      drift_share: float) -> DatasetDrift | None:
    """The predicted-class mix and top-class probability tested like features, when both
    frames have the model's answers."""
    if not (reference.predicted.size and current.predicted.size):
        return None
    return compare(_answers(reference), _answers(current), drift_share=drift_share)


def _answers(frame: Frame) -> dict[str, Sample]:
    return {PREDICTED: categorical_sample(pd.Series(frame.predicted, dtype=object)),
            TOP_SCORE: numeric_sample(frame.top_score)}


def _history(
    ref: Mapping[str, Sample],
    kinds: Mapping[str, Kind],
    history: Sequence[tuple[date, Frame]],
    config: Mapping[str, ColumnConfig],
    drift_share: float,
) -> tuple[dict[str, tuple[DayCell, ...]], tuple[bool | None, ...]]:
    """Each day against the reference: a cell per feature, and the day's verdict (``None``:
    too few rows or nothing tested). KS uses its asymptotic p-value here, for speed."""
    cells: dict[str, list[DayCell]] = {name: [] for name in kinds}
    day_drifted: list[bool | None] = []
    for _, frame in history:
        if frame.rows < MIN_DAY_ROWS:
            for name in kinds:
                cells[name].append(DayCell(None, False, None, "", frame.rows))
            day_drifted.append(None)
            continue
        day = compare(ref, frame_samples(frame, kinds), config=config, drift_share=drift_share,
                      exact_ks=False)
        for column in day.columns:
            cells[column.column].append(DayCell(
                score=column.score, drifted=column.drifted, statistic=column.statistic,
                test=column.test, rows=column.current_rows))
        day_drifted.append(day.drifted if day.tested else None)
    return {k: tuple(v) for k, v in cells.items()}, tuple(day_drifted)


def _episode_start(days: Sequence[date], drifted: Sequence[bool | None]) -> date | None:
    """First day of the latest run of drifted days that lasts to the last tested day."""
    start = None
    for day, verdict in zip(days, drifted, strict=True):
        if verdict is None:
            continue
        start = (start or day) if verdict else None
    return start
