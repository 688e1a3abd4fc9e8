"""Reads for the drift page: a model's logged inputs by time window, and the reference.

Only what the page draws is read: the ``features``, the predicted class and its
probability of predictions in a window, through ``ix_predictions_model_ts``. Timestamps
and features come back as the database holds them (text on SQLite) and are decoded in
bulk by the caller, not row by row through the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import String, Text, func, select, type_coerce
from sqlalchemy.orm import Session

from db.models import Model, ModelVersion, Prediction, ProductionPointer

__all__ = [
    "DriftSubject",
    "RawRows",
    "count_between",
    "drift_subject",
    "raw_rows",
    "reference_sample",
]


@dataclass(frozen=True)
class DriftSubject:
    """A model as the drift page needs it."""

    model_id: int
    name: str
    feature_schema: list[dict[str, Any]]
    class_labels: list[str]
    #: The production version: row id, number, artifact and its hash (``None``: none yet).
    version_id: int | None
    version: int | None
    artifact_path: str | None
    artifact_sha256: str | None
    #: First and last logged prediction (``None``: nothing logged).
    first_at: datetime | None
    last_at: datetime | None


@dataclass(frozen=True)
class RawRows:
    """Predictions of a window, column by column, as the driver returned them."""

    ts: list[Any]
    features: list[Any]
    predicted: list[str]
    top_score: list[float]


def drift_subject(session: Session, name: str) -> DriftSubject | None:
    """The model called ``name`` with its production version and logged span."""
    model = session.scalars(select(Model).where(Model.name == name)).one_or_none()
    if model is None:
        return None
    row = session.execute(
        select(ModelVersion.id, ModelVersion.version, ModelVersion.artifact_path,
               ModelVersion.artifact_sha256)
        .join(ProductionPointer, ProductionPointer.version_id == ModelVersion.id)
        .where(ProductionPointer.model_id == model.id)
    ).one_or_none()
    first, last = session.execute(
        select(func.min(Prediction.ts), func.max(Prediction.ts))
        .where(Prediction.model_id == model.id)
    ).one()
    return DriftSubject(
        model_id=model.id,
        name=model.name,
        feature_schema=list(model.feature_schema),
        class_labels=list(model.class_labels),
        version_id=None if row is None else row.id,
        version=None if row is None else row.version,
        artifact_path=None if row is None else row.artifact_path,
        artifact_sha256=None if row is None else row.artifact_sha256,
        first_at=first,
        last_at=last,
    )


def reference_sample(session: Session, version_id: int) -> list[dict[str, Any]]:
    """The training records stored with a version (empty when none were stored)."""
    value = session.scalar(
        select(ModelVersion.reference_sample).where(ModelVersion.id == version_id)
    )
    return list(value or [])


def count_between(
    session: Session, model_id: int, bounds: Sequence[datetime]
) -> list[int]:
    """Predictions of the model in each ``[bounds[i], bounds[i + 1])``: one count per
    window, each answered from the ``(model_id, ts)`` index."""
    counts = []
    for start, end in pairwise(bounds):
        counts.append(int(session.scalar(
            select(func.count()).select_from(Prediction)
            .where(Prediction.model_id == model_id, Prediction.ts >= start,
                   Prediction.ts < end)
        ) or 0))
    return counts


def raw_rows(session: Session, model_id: int, start: datetime, end: datetime) -> RawRows:
    """Time, features, predicted class and its probability of the model's predictions in
    ``[start, end)``, oldest first, undecoded."""
    result = session.execute(
        select(type_coerce(Prediction.ts, String), type_coerce(Prediction.features, Text),
               Prediction.predicted_class, Prediction.top_score)
        .where(Prediction.model_id == model_id, Prediction.ts >= start, Prediction.ts < end)
        .order_by(Prediction.ts)
    ).all()
    if not result:
        return RawRows(ts=[], features=[], predicted=[], top_score=[])
    ts, features, predicted, top = zip(*result, strict=True)
    return RawRows(ts=list(ts), features=list(features), predicted=list(predicted),
                   top_score=list(top))
