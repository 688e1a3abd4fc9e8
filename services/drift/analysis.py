"""What the Drift page shows, computed from logged inputs (no streamlit here).

* :class:`Frame` holds a window's inputs column by column (plus the predicted class and
  its probability), decoded in bulk from the store's rows or from a version's stored
  training sample;
* :func:`feature_weights` says how much each input matters to a fitted pipeline, without
  labels: how far its predicted probabilities move when that one input is shuffled;
* :func:`analyse` tests a current window against the reference (:mod:`services.drift.compare`),
  ranks the features by drift score times weight, tests the predicted-class mix and the
  top-class probability, and tests every day of the history for the heatmap;
* :func:`summary` writes the verdict in plain language.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine

from db.repositories.drift import RawRows, reference_sample
from db.session import session_scope
from services.drift.compare import ColumnConfig, ColumnDrift, DatasetDrift, compare
from services.drift.samples import (
    CATEGORICAL,
    NUMERIC,
    Kind,
    Sample,
    categorical_sample,
    numeric_sample,
)
from services.registry.artifacts import load_artifact

__all__ = [
    "DayCell",
    "DriftAnalysis",
    "Frame",
    "RankedFeature",
    "TrainingReference",
    "analyse",
    "day_bounds",
    "decode_rows",
    "feature_kinds",
    "feature_weights",
    "records_frame",
    "summary",
    "training_reference",
    "with_predictions",
]

FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]

#: A day with fewer predictions than this is drawn as "too few predictions", not tested.
MIN_DAY_ROWS = 30
#: Names of the two prediction columns tested like features.
PREDICTED = "predicted class"
TOP_SCORE = "top-class probability"


@dataclass(frozen=True)
class Frame:
    """Inputs of a window: ``columns[name]`` is float (NaN missing) or object (None missing).

    ``seconds`` are epoch seconds, ascending (empty for a training sample); ``predicted``
    and ``top_score`` are empty when unknown.
    """

    columns: dict[str, np.ndarray[Any, Any]]
    seconds: FloatArray = field(default_factory=lambda: np.empty(0))
    predicted: ObjectArray = field(default_factory=lambda: np.empty(0, dtype=object))
    top_score: FloatArray = field(default_factory=lambda: np.empty(0))

    @property
    def rows(self) -> int:
        first = next(iter(self.columns.values()), None)
        return 0 if first is None else len(first)

    def between(self, start: datetime, end: datetime) -> Frame:
        """The rows logged in ``[start, end)`` (needs ``seconds``)."""
        lo, hi = np.searchsorted(self.seconds, [start.timestamp(), end.timestamp()], side="left")
        return self.slice(int(lo), int(hi))

    def slice(self, lo: int, hi: int) -> Frame:
        return Frame(
            columns={k: v[lo:hi] for k, v in self.columns.items()},
            seconds=self.seconds[lo:hi],
            predicted=self.predicted[lo:hi] if self.predicted.size else self.predicted,
            top_score=self.top_score[lo:hi] if self.top_score.size else self.top_score,
        )

    @staticmethod
    def concat(frames: Sequence[Frame], names: Sequence[str]) -> Frame:
        """Frames one after the other (in the given order)."""
        if not frames:
            return Frame(columns={n: np.empty(0) for n in names})
        return Frame(
            columns={n: np.concatenate([f.columns[n] for f in frames]) for n in names},
            seconds=np.concatenate([f.seconds for f in frames]),
            predicted=np.concatenate([f.predicted for f in frames]),
            top_score=np.concatenate([f.top_score for f in frames]),
        )


def feature_kinds(schema: Sequence[Mapping[str, Any]]) -> dict[str, Kind]:
    """Each feature's kind, in schema order."""
    return {str(s["name"]): NUMERIC if s.get("type") == "number" else CATEGORICAL
            for s in schema}


def _column(values: list[Any], kind: Kind) -> np.ndarray[Any, Any]:
    if kind == CATEGORICAL:
        out = np.empty(len(values), dtype=object)
        out[:] = [v if v is None or isinstance(v, str) else str(v) for v in values]
        return out
    try:
        return np.array(values, dtype=np.float64)  # None becomes NaN
    except (TypeError, ValueError):
        # A value that is not a number (logged by another stack): missing, not a crash.
        return np.array([_number_or_nan(v) for v in values], dtype=np.float64)


def _number_or_nan(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def records_frame(records: Sequence[Mapping[str, Any]], kinds: Mapping[str, Kind]) -> Frame:
    """A frame from input records (a version's training sample)."""
    return Frame(columns={n: _column([r.get(n) for r in records], k) for n, k in kinds.items()})


def decode_rows(raw: RawRows, kinds: Mapping[str, Kind]) -> Frame:
    """Decode rows read by :func:`db.repositories.drift.raw_rows` in bulk."""
    if not raw.ts:
        return records_frame([], kinds)
    texts = raw.features
    if isinstance(texts[0], str):
        records: list[dict[str, Any]] = json.loads("[" + ",".join(texts) + "]")
    else:  # drivers that decode JSON themselves
        records = [dict(t) for t in texts]
    frame = records_frame(records, kinds)
    stamps = pd.to_datetime(pd.Series(raw.ts), utc=True, format="ISO8601")
    seconds = stamps.to_numpy(dtype="datetime64[us]").astype(np.int64) / 1e6
    predicted = np.empty(len(raw.predicted), dtype=object)
    predicted[:] = raw.predicted
    return Frame(columns=frame.columns, seconds=np.asarray(seconds, dtype=np.float64),
                 predicted=predicted, top_score=np.asarray(raw.top_score, dtype=np.float64))


def samples(frame: Frame, kinds: Mapping[str, Kind]) -> dict[str, Sample]:
    """Prepared samples of every feature of a frame."""
    return {
        n: numeric_sample(frame.columns[n]) if k == NUMERIC else categorical_sample(
            pd.Series(frame.columns[n], dtype=object))
        for n, k in kinds.items()
    }


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


# --------------------------------------------------------------------------- importance


def feature_weights(
    predict_proba: Callable[[pd.DataFrame], Any],
    reference: Frame,
    *,
    seed: int = 0,
) -> dict[str, float]:
    """How much each input moves the model's answers, shares summing to 1.

    For each feature, the reference rows are scored with that one column shuffled; its
    raw weight is the mean total-variation distance between the predicted probabilities
    before and after. No labels are needed, so it works for any logged model. Features
    that move nothing share equally when all do.
    """
    frame = pd.DataFrame({n: _frame_column(v) for n, v in reference.columns.items()})
    if frame.empty:
        return {}
    rng = np.random.default_rng(seed)
    base = np.asarray(predict_proba(frame), dtype=np.float64)
    raw: dict[str, float] = {}
    for name in frame.columns:
        shuffled = frame.copy()
        shuffled[name] = frame[name].to_numpy()[rng.permutation(len(frame))]
        moved = np.asarray(predict_proba(shuffled), dtype=np.float64)
        raw[str(name)] = float(np.abs(moved - base).sum(axis=1).mean() / 2.0)
    total = sum(raw.values())
    if total <= 0:
        return {n: 1.0 / len(raw) for n in raw}
    return {n: v / total for n, v in raw.items()}


def with_predictions(
    frame: Frame, predict_proba: Callable[[pd.DataFrame], Any], classes: Sequence[str]
) -> Frame:
    """``frame`` with the predicted class and its probability filled in by the model."""
    table = pd.DataFrame({n: _frame_column(v) for n, v in frame.columns.items()})
    if table.empty:
        return frame
    proba = np.asarray(predict_proba(table), dtype=np.float64)
    best = proba.argmax(axis=1)
    predicted = np.empty(len(best), dtype=object)
    predicted[:] = [str(classes[i]) for i in best]
    return Frame(columns=frame.columns, seconds=frame.seconds, predicted=predicted,
                 top_score=proba[np.arange(len(best)), best])


@dataclass(frozen=True)
class TrainingReference:
    """A version's training sample, scored by the version, and its feature weights."""

    frame: Frame
    weights: dict[str, float]
    #: Why the model's answers or the weights are missing ("" when all is there).
    problem: str


def training_reference(
    engine: Engine, version_id: int, artifact_path: Path, artifact_sha256: str,
    kinds: Mapping[str, Kind],
) -> TrainingReference:
    """The version's stored training sample, with the version's answers and its feature
    weights. A model that cannot be loaded leaves both out and says why."""
    with session_scope(engine) as session:
        records = reference_sample(session, version_id)
    frame = records_frame(records, kinds)
    if not records:
        return TrainingReference(frame=frame, weights={}, problem="")
    try:
        pipeline = load_artifact(artifact_path, artifact_sha256)
        scored = with_predictions(frame, pipeline.predict_proba,
                                  [str(c) for c in pipeline.classes_])
        weights = feature_weights(pipeline.predict_proba, frame)
    except Exception as exc:  # any artifact problem degrades to equal weights
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return TrainingReference(
            frame=frame, weights={},
            problem=f"The production model could not be loaded ({reason}), so every feature "
                    "counts the same and its answers are not compared with the reference.")
    return TrainingReference(frame=scored, weights=weights, problem="")


def _frame_column(values: np.ndarray[Any, Any]) -> Any:
    return values if values.dtype != object else pd.Series(values, dtype=object)


# --------------------------------------------------------------------------- analysis


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
    ref = samples(reference, kinds)
    result = compare(ref, samples(current, kinds), config=config, drift_share=drift_share)
    n = max(len(kinds), 1)
    ranked = []
    for column in result.columns:
        weight = float(weights.get(column.column, 1.0 / n))
        priority = None if column.score is None else column.score * weight * n
        ranked.append(RankedFeature(drift=column, weight=weight, priority=priority))
    ranked.sort(key=lambda r: (r.priority is None, -(r.priority or 0.0), r.drift.column))

    prediction = None
    if reference.predicted.size and current.predicted.size:
        prediction = compare(
            {PREDICTED: categorical_sample(pd.Series(reference.predicted, dtype=object)),
             TOP_SCORE: numeric_sample(reference.top_score)},
            {PREDICTED: categorical_sample(pd.Series(current.predicted, dtype=object)),
             TOP_SCORE: numeric_sample(current.top_score)},
            drift_share=drift_share,
        )

    cells: dict[str, list[DayCell]] = {name: [] for name in kinds}
    day_drifted: list[bool | None] = []
    for _, frame in history:
        if frame.rows < MIN_DAY_ROWS:
            for name in kinds:
                cells[name].append(DayCell(None, False, None, "", frame.rows))
            day_drifted.append(None)
            continue
        day = compare(ref, samples(frame, kinds), config=config, drift_share=drift_share,
                      exact_ks=False)
        for column in day.columns:
            cells[column.column].append(DayCell(
                score=column.score, drifted=column.drifted, statistic=column.statistic,
                test=column.test, rows=column.current_rows))
        day_drifted.append(day.drifted if day.tested else None)
    days = tuple(d for d, _ in history)
    return DriftAnalysis(
        result=result,
        ranked=tuple(ranked),
        prediction=prediction,
        days=days,
        cells={k: tuple(v) for k, v in cells.items()},
        day_drifted=tuple(day_drifted),
        episode_start=_episode_start(days, day_drifted),
    )


def _episode_start(days: Sequence[date], drifted: Sequence[bool | None]) -> date | None:
    """First day of the latest run of drifted days that lasts to the last tested day."""
    start = None
    for day, verdict in zip(days, drifted, strict=True):
        if verdict is None:
            continue
        start = (start or day) if verdict else None
    return start


def summary(
    analysis: DriftAnalysis, *, model: str, reference: str, window: str, top: int = 3
) -> list[str]:
    """Plain-language sentences for a business reader (plain text; escape for markdown)."""
    result = analysis.result
    if not result.tested:
        return [f"No feature of {model} could be tested in {window}: there are no "
                "predictions with values there, or no reference values."]
    moved = [r for r in analysis.ranked if r.drift.drifted]
    verdict = "have drifted" if result.drifted else "have not drifted as a whole"
    lines = [
        f"Compared with {reference}, {len(moved)} of {result.tested} inputs of {model} "
        f"changed in {window} ({100 * result.drifted_share:.0f} %; the alarm is at "
        f"{100 * result.drift_share:.0f} %): the inputs {verdict}."
    ]
    if moved:
        names = ", ".join(f"{r.drift.column} (weight {100 * r.weight:.0f} %)"
                          for r in moved[:top])
        lines.append(f"The changes that matter most for this model: {names}.")
    if analysis.episode_start is not None:
        lines.append(f"Day by day, the inputs have been drifting since "
                     f"{analysis.episode_start:%a %d %b %Y}.")
    new = [r.drift for r in analysis.ranked if r.drift.new_categories]
    if new:
        lines.append("New values not seen in the reference: " + "; ".join(
            f"{c.column}: {', '.join(c.new_categories[:5])}" for c in new) + ".")
    if analysis.prediction is not None:
        shift = [c.column for c in analysis.prediction.columns if c.drifted]
        if shift:
            lines.append(f"The model's answers moved too ({' and '.join(shift)}).")
        else:
            lines.append("The model's answers (class mix and confidence) did not move "
                         "significantly.")
    return lines
