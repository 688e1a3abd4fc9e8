"""Reads for retraining: a model's labelled predictions of a window, page by page, and the
count of each label there.

A window is by prediction time (``feedback.predicted_at``, a copy of ``predictions.ts``),
so the counts come from the ``ix_feedback_model_quality`` index alone. The rows join
``predictions`` for the inputs only; nothing else of either table is read. Features come
back as the database holds them (text) and are decoded in bulk by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from db.models import Feedback, Prediction

__all__ = ["LabelledPage", "label_counts", "labelled_page"]


@dataclass(frozen=True)
class LabelledPage:
    """Labelled predictions of a window, oldest first, column by column.

    Attributes:
        ids: prediction ids.
        ts: prediction times.
        revisions: the label's revision (``feedback.revision``).
        labels: the current label.
        features: the prediction's inputs as JSON text, undecoded.
    """

    ids: list[str]
    ts: list[datetime]
    revisions: list[int]
    labels: list[str]
    features: list[Any]


def label_counts(*, session: Session, model_id: int, start: datetime,
                 end: datetime) -> dict[str, int]:
    """How many labelled predictions of the model in ``[start, end)`` carry each label."""
    rows = session.execute(
        select(Feedback.label, func.count())
        .where(Feedback.model_id == model_id, Feedback.predicted_at >= start,
               Feedback.predicted_at < end)
        .group_by(Feedback.label)
    ).all()
    return {str(label): int(count) for label, count in rows}


def labelled_page(
    *,
    session: Session,
    model_id: int,
    start: datetime,
    end: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
) -> LabelledPage:
    """Up to ``limit`` labelled predictions of the model in ``[start, end)`` that come after
    ``after`` (prediction time, id) in (time, id) order: one page of a keyset walk."""
    query = (
        select(Feedback.prediction_id, Feedback.predicted_at, Feedback.revision,
               Feedback.label, type_coerce(Prediction.features, Text))
        .join(Prediction, Prediction.id == Feedback.prediction_id)
        .where(Feedback.model_id == model_id, Feedback.predicted_at >= start,
               Feedback.predicted_at < end)
    )
    if after is not None:
        ts, pid = after
        query = query.where(or_(Feedback.predicted_at > ts,
                                and_(Feedback.predicted_at == ts, Feedback.prediction_id > pid)))
    rows = session.execute(
        query.order_by(Feedback.predicted_at, Feedback.prediction_id).limit(limit)
    ).all()
    if not rows:
        return LabelledPage(ids=[], ts=[], revisions=[], labels=[], features=[])
    ids, ts_list, revisions, labels, features = zip(*rows, strict=True)
    return LabelledPage(ids=list(ids), ts=list(ts_list), revisions=[int(r) for r in revisions],
                        labels=list(labels), features=list(features))
