"""The logged predictions and late ground truth of one demo model's history.

Everything is computed column-wise (the trained pipeline scores all rows in a few
batches); row dicts for the store are only built chunk by chunk, as they are inserted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from devstack.demo.generator import (
    GROUND_TRUTH_LABELER,
    GROUND_TRUTH_SOURCE,
    FloatArray,
    Scenario,
    to_records,
)
from devstack.demo.timeline import arrival_times, drift_schedule, to_datetimes
from services.predictions.ids import prediction_ids_at

__all__ = ["History", "simulate_history"]

_SCORE_BATCH = 20_000
_DECIMALS = 4


@dataclass(frozen=True)
class History:
    """Column arrays of one model's seeded history (row ``i`` is one prediction).

    Attributes:
        ids: prediction ids (time-ordered, see :mod:`services.predictions.ids`).
        seconds: request times, epoch seconds, sorted.
        drift: drift intensity at each request.
        features: model inputs.
        truth: true labels.
        predicted: predicted labels.
        probabilities: one column per class label (rounded as stored).
        latency_ms: serving latency.
        label_seconds: when ground truth arrived (epoch seconds), NaN if it has not (yet).
        class_labels: column order of ``probabilities``.
    """

    ids: list[str]
    seconds: FloatArray
    drift: FloatArray
    features: pd.DataFrame
    truth: NDArray[np.object_]
    predicted: NDArray[np.object_]
    probabilities: FloatArray
    latency_ms: FloatArray
    label_seconds: FloatArray
    class_labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def label_count(self) -> int:
        """Predictions with ground truth."""
        return int(np.count_nonzero(~np.isnan(self.label_seconds)))

    def prediction_rows(
        self, *, model_id: int, version_id: int, chunk: int = 20_000
    ) -> Iterator[list[dict[str, Any]]]:
        """Rows for :func:`db.repositories.predictions.insert_predictions`, ``chunk`` at a time."""
        for lo in range(0, len(self), chunk):
            hi = min(lo + chunk, len(self))
            times = to_datetimes(self.seconds[lo:hi])
            features = to_records(self.features.iloc[lo:hi])
            probs = self.probabilities[lo:hi].tolist()
            top = self.probabilities[lo:hi].max(axis=1).tolist()
            latency = self.latency_ms[lo:hi].tolist()
            rows = []
            for i in range(hi - lo):
                rows.append(
                    {
                        "id": self.ids[lo + i],
                        "model_id": model_id,
                        "version_id": version_id,
                        "ts": times[i],
                        "features": features[i],
                        "predicted_class": self.predicted[lo + i],
                        "scores": dict(zip(self.class_labels, probs[i], strict=True)),
                        "top_score": top[i],
                        "latency_ms": latency[i],
                    }
                )
            yield rows

    def feedback_rows(self, *, chunk: int = 20_000) -> Iterator[list[dict[str, Any]]]:
        """Rows for :func:`db.repositories.predictions.insert_feedback`, ``chunk`` at a time."""
        labelled = np.flatnonzero(~np.isnan(self.label_seconds))
        for lo in range(0, len(labelled), chunk):
            index = labelled[lo : lo + chunk]
            times = to_datetimes(self.label_seconds[index])
            yield [
                {
                    "prediction_id": self.ids[i],
                    "label": self.truth[i],
                    "labeler": GROUND_TRUTH_LABELER,
                    "source": GROUND_TRUTH_SOURCE,
                    "created_at": at,
                }
                for i, at in zip(index.tolist(), times, strict=True)
            ]


def simulate_history(
    *,
    scenario: Scenario,
    pipeline: Pipeline,
    rng: np.random.Generator,
    start: datetime,
    end: datetime,
    now: datetime,
    count: int,
) -> History:
    """Requests between ``start`` and ``end``, scored by ``pipeline``, with late ground truth.

    Args:
        scenario: the model's scenario (generator, label share and delay, latency).
        pipeline: the fitted production model.
        rng: source of all randomness of this history.
        start: first moment of the history (the drift schedule is relative to it).
        end: end of the history.
        now: ground truth that would arrive after this moment is left out.
        count: number of predictions.
    """
    seconds = arrival_times(rng, start=start, end=end, count=count)
    drift = drift_schedule(start=start, end=end).intensities(seconds)
    sample = scenario.draw(rng, count, drift)
    ids = prediction_ids_at((seconds * 1000).astype(np.int64), rng)  # epoch seconds

    labels = [str(c) for c in pipeline.classes_]
    with threadpool_limits(limits=1):
        batches = [np.zeros((0, len(labels)))] + [
            pipeline.predict_proba(sample.features.iloc[lo : lo + _SCORE_BATCH])
            for lo in range(0, count, _SCORE_BATCH)
        ]
    probabilities = np.vstack(batches).astype(np.float64).round(_DECIMALS)
    predicted = np.asarray(labels, dtype=object)[probabilities.argmax(axis=1)]

    latency = rng.lognormal(np.log(scenario.latency_ms), 0.35, count)
    slow = rng.random(count) < 0.01  # garbage collection, cold caches
    latency = np.where(slow, latency * rng.uniform(3.0, 12.0, count), latency).round(2)

    delay_seconds = rng.lognormal(np.log(scenario.label_delay_hours * 3600.0), 0.9, count)
    label_at = seconds + delay_seconds
    arrives = (rng.random(count) < scenario.label_share) & (label_at <= now.timestamp())
    return History(
        ids=ids,
        seconds=seconds,
        drift=drift,
        features=sample.features,
        truth=sample.labels,
        predicted=predicted,
        probabilities=probabilities,
        latency_ms=latency,
        label_seconds=np.where(arrives, label_at, np.nan),
        class_labels=tuple(labels),
    )


