"""Shared pieces of the demo data generators.

A scenario draws ``n`` rows at a *drift intensity* ``d``: 0 is the world the model was
trained on, 1 the fully drifted one. ``d`` may be one number or one number per row, and
every distribution and every label rule is a mix of its reference and drifted form
weighted by ``d``, so a ramp in time is simply an array of intensities.

All randomness comes from the caller's :class:`numpy.random.Generator`: the same seed
gives the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "GROUND_TRUTH_LABELER",
    "GROUND_TRUTH_SOURCE",
    "DrawFn",
    "FloatArray",
    "LabelledRows",
    "Scenario",
    "as_intensity",
    "blend",
    "draw_binary",
    "draw_categories",
    "draw_softmax",
    "to_frame",
    "to_records",
]

FloatArray = NDArray[np.float64]

#: ``labeler`` of every ground-truth row the demo writes (seeded history and live traffic).
GROUND_TRUTH_LABELER = "demo-ground-truth"
#: ``source`` of those rows.
GROUND_TRUTH_SOURCE = "simulator"


@dataclass(frozen=True)
class LabelledRows:
    """Rows of one scenario: model inputs and the true labels.

    Attributes:
        features: one column per schema feature; numbers as ``float64``, categories as ``str``.
        labels: the true class of each row, as ``str`` (object array).
    """

    features: pd.DataFrame
    labels: NDArray[np.object_]

    def __len__(self) -> int:
        return len(self.labels)


class DrawFn(Protocol):
    """Signature of a scenario's generator."""

    def __call__(self, rng: np.random.Generator, n: int, drift: ArrayLike = 0.0) -> LabelledRows:
        """Draw ``n`` rows at drift intensity ``drift`` (a number or one per row)."""
        ...


@dataclass(frozen=True)
class Scenario:
    """One demo model: what it predicts, its inputs, its traffic and its data generator.

    Attributes:
        name: model name in the registry and in requests.
        task: ``"binary"`` or ``"multiclass"``.
        class_labels: the classes, in the order the model's probabilities use.
        feature_schema: ``[{"name", "type", "categories"?}]`` as in
            :mod:`services.registry.features`.
        description: one line for the registry.
        draw: the generator.
        daily_volume: predictions a day in the seeded history.
        label_delay_hours: median delay until ground truth arrives.
        label_share: share of predictions that ever get ground truth.
        latency_ms: median serving latency in milliseconds.
    """

    name: str
    task: str
    class_labels: tuple[str, ...]
    feature_schema: tuple[dict[str, Any], ...]
    description: str
    draw: DrawFn
    daily_volume: int
    label_delay_hours: float
    label_share: float
    latency_ms: float

    @property
    def feature_names(self) -> list[str]:
        """Feature names in schema order."""
        return [str(spec["name"]) for spec in self.feature_schema]

    def schema(self) -> list[dict[str, Any]]:
        """A fresh copy of the feature schema, safe to store or modify."""
        return [
            {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in spec.items()}
            for spec in self.feature_schema
        ]


def as_intensity(drift: ArrayLike, n: int) -> FloatArray:
    """Drift intensity as one float per row, clipped to [0, 1].

    Raises:
        ValueError: ``drift`` is an array whose length is not ``n``.
    """
    d = np.asarray(drift, dtype=np.float64)
    if d.ndim == 0:
        d = np.full(n, float(d))
    elif d.shape != (n,):
        raise ValueError(f"drift has shape {d.shape}, expected a number or ({n},)")
    return np.clip(d, 0.0, 1.0)


def blend(reference: ArrayLike, drifted: ArrayLike, d: FloatArray) -> FloatArray:
    """``(1 - d) * reference + d * drifted``, element-wise per row."""
    ref = np.asarray(reference, dtype=np.float64)
    dri = np.asarray(drifted, dtype=np.float64)
    if ref.ndim == 1 and ref.shape != d.shape:  # per-category vectors mix per row
        return np.asarray((1.0 - d)[:, None] * ref + d[:, None] * dri, dtype=np.float64)
    return np.asarray((1.0 - d) * ref + d * dri, dtype=np.float64)


def draw_categories(
    rng: np.random.Generator,
    categories: Sequence[str],
    reference: Sequence[float],
    drifted: Sequence[float],
    d: FloatArray,
) -> NDArray[np.object_]:
    """One category per row from the row's blend of two probability vectors."""
    ref = np.asarray(reference, dtype=np.float64)
    dri = np.asarray(drifted, dtype=np.float64)
    probs = (1.0 - d)[:, None] * (ref / ref.sum()) + d[:, None] * (dri / dri.sum())
    index = _pick(rng, probs)
    return np.asarray(categories, dtype=object)[index]


def draw_binary(
    rng: np.random.Generator, logit: FloatArray, labels: tuple[str, str]
) -> NDArray[np.object_]:
    """``labels[1]`` with probability ``sigmoid(logit)``, else ``labels[0]``."""
    positive = rng.random(len(logit)) < 1.0 / (1.0 + np.exp(-logit))
    return np.where(positive, labels[1], labels[0]).astype(object)


def draw_softmax(
    rng: np.random.Generator, logits: FloatArray, labels: Sequence[str]
) -> NDArray[np.object_]:
    """One label per row from ``softmax(logits)`` (``logits`` has one column per label)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    probs = weights / weights.sum(axis=1, keepdims=True)
    return np.asarray(labels, dtype=object)[_pick(rng, probs)]


def _pick(rng: np.random.Generator, probs: FloatArray) -> NDArray[np.intp]:
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cumulative[:, -1]
    index = (u[:, None] >= cumulative).sum(axis=1)
    return np.asarray(np.minimum(index, probs.shape[1] - 1), dtype=np.intp)


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (Python ``float`` and ``str`` values)."""
    columns = list(frame.columns)
    values = [frame[c].tolist() for c in columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def to_frame(records: Sequence[dict[str, Any]], schema: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The model input frame for records: schema columns, floats and strings."""
    frame = pd.DataFrame.from_records(list(records), columns=[s["name"] for s in schema])
    for spec in schema:
        name = spec["name"]
        frame[name] = frame[name].astype(float if spec["type"] == "number" else str)
    return frame
