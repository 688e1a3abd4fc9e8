"""Scoring validated records with a loaded pipeline, one ``predict_proba`` call a request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from services.registry.loading import LoadedModel

__all__ = ["ScoredRecord", "frame_of", "score_records"]


@dataclass(frozen=True)
class ScoredRecord:
    """The answer for one record.

    Attributes:
        predicted_class: the class with the highest probability.
        probabilities: class label → probability, in the model's class order.
        top_score: the probability of ``predicted_class``.
    """

    predicted_class: str
    probabilities: dict[str, float]
    top_score: float


def frame_of(
    schema: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """The records as a DataFrame with the schema's columns in schema order.

    Numbers become ``float64`` columns and categories string columns, as at training time.
    """
    columns: dict[str, Any] = {}
    for spec in schema:
        name = str(spec["name"])
        values = [record[name] for record in records]
        if spec["type"] == "number":
            columns[name] = np.asarray(values, dtype=np.float64)
        else:
            columns[name] = pd.Series(values, dtype="str")
    return pd.DataFrame(columns)


def score_records(
    *,
    model: LoadedModel,
    schema: Sequence[Mapping[str, Any]],
    records: Sequence[Mapping[str, Any]],
) -> list[ScoredRecord]:
    """Score validated records in one ``predict_proba`` call.

    Raises:
        Exception: whatever the pipeline raises (the caller reports it as a model error).
    """
    frame = frame_of(schema, records)
    if model.columns is not None and model.columns != tuple(frame.columns):
        # Fitted with the same columns in another order: scikit-learn checks the order.
        frame = frame[list(model.columns)]
    # The records were validated (numbers finite), so scikit-learn's own checks are skipped;
    # they are a noticeable share of a single-record call.
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        proba = np.asarray(model.pipeline.predict_proba(frame), dtype=float)
    if proba.shape != (len(records), len(model.classes)):
        raise ValueError(
            f"predict_proba returned shape {proba.shape}, "
            f"expected ({len(records)}, {len(model.classes)})"
        )
    if not np.isfinite(proba).all():
        raise ValueError("predict_proba returned a non-finite probability")
    top = proba.argmax(axis=1)
    classes = model.classes
    scored: list[ScoredRecord] = []
    for row, best in zip(proba.tolist(), top.tolist(), strict=True):
        scored.append(
            ScoredRecord(
                predicted_class=classes[best],
                probabilities=dict(zip(classes, row, strict=True)),
                top_score=row[best],
            )
        )
    return scored
