"""What the model makes of a frame: its answers, how much each input moves them, and the
training reference built from both (no streamlit here).

* :func:`with_predictions` fills in the predicted class and its probability;
* :func:`feature_weights` says how much each input matters to a fitted pipeline, without
  labels: how far its predicted probabilities move when that one input is shuffled;
* :func:`training_reference` reads a version's stored training sample and scores it with
  the version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from db.repositories.drift import reference_sample
from db.session import session_scope
from services.drift.frame import Frame, records_frame
from services.drift.samples import Kind
from services.registry.artifacts import load_artifact

__all__ = ["TrainingReference", "feature_weights", "training_reference", "with_predictions"]


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
