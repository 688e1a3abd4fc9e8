"""A window's logged inputs column by column, decoded in bulk (no streamlit here).

:class:`Frame` holds the inputs (plus the predicted class and its probability), decoded
from the store's rows (:func:`decode_rows`) or from a version's stored training sample
(:func:`records_frame`); :func:`frame_samples` prepares its columns for the tests.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from db.repositories.drift import RawRows
from services.drift.samples import (
    CATEGORICAL,
    NUMERIC,
    FloatArray,
    Kind,
    Sample,
    categorical_sample,
    numeric_sample,
)

__all__ = ["Frame", "decode_rows", "feature_kinds", "frame_samples", "records_frame"]

ObjectArray = npt.NDArray[np.object_]


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


def frame_samples(frame: Frame, kinds: Mapping[str, Kind]) -> dict[str, Sample]:
    """Prepared samples of every feature of a frame."""
    return {
        n: numeric_sample(frame.columns[n]) if k == NUMERIC else categorical_sample(
            pd.Series(frame.columns[n], dtype=object))
        for n, k in kinds.items()
    }
