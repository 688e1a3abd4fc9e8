"""The labeling queue: predictions awaiting ground truth, read a page at a time.

Nothing here reads a whole table: the queue is ``ORDER BY ... LIMIT`` over an index
(``ix_predictions_model_top_score_band`` for least confident first: the bands in order,
sorting only the rows of the bands it reads; ``ix_predictions_model_ts`` for newest first)
skipping labelled predictions through ``feedback``'s unique ``prediction_id``; counts are
single aggregate queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Feedback, LabelAbstention, ModelVersion, Prediction

__all__ = [
    "QueueRow",
    "QueueScope",
    "abstain",
    "count_awaiting",
    "labelled_since",
    "queue_rows",
]

#: Orders the queue knows, by name.
ORDERS = ("least_confident", "newest")


@dataclass(frozen=True)
class QueueScope:
    """Which predictions of a model the queue covers.

    Attributes:
        model_id: the model.
        version_id: only this version's predictions (``None``: every version).
        predicted_class: only predictions of this class (``None``: every class).
        since: only predictions made at or after this time.
        until: only predictions made before this time.
        labeler: leave out predictions this user marked "can't tell".
    """

    model_id: int
    version_id: int | None = None
    predicted_class: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    labeler: str | None = None


@dataclass(frozen=True)
class QueueRow:
    """One prediction of the queue, with its current label when it has one."""

    prediction_id: str
    ts: datetime
    version: int
    predicted_class: str
    top_score: float
    scores: dict[str, float]
    features: dict[str, Any]
    label: str | None
    labeler: str | None
    revision: int | None


def _scoped(stmt: Select[Any], scope: QueueScope) -> Select[Any]:
    stmt = stmt.where(Prediction.model_id == scope.model_id)
    if scope.version_id is not None:
        stmt = stmt.where(Prediction.version_id == scope.version_id)
    if scope.predicted_class is not None:
        stmt = stmt.where(Prediction.predicted_class == scope.predicted_class)
    if scope.since is not None:
        stmt = stmt.where(Prediction.ts >= scope.since)
    if scope.until is not None:
        stmt = stmt.where(Prediction.ts < scope.until)
    if scope.labeler is not None:
        stmt = stmt.where(~exists().where(LabelAbstention.prediction_id == Prediction.id,
                                          LabelAbstention.labeler == scope.labeler))
    return stmt


def queue_rows(
    *,
    session: Session,
    scope: QueueScope,
    order: str,
    limit: int,
    exclude: Sequence[str] = (),
    include_labelled: bool = False,
    ids: Sequence[str] | None = None,
) -> list[QueueRow]:
    """A page of the queue.

    Args:
        session: an open session.
        scope: which predictions.
        order: ``least_confident`` (lowest top-class probability first) or ``newest``.
        limit: at most this many rows.
        exclude: prediction ids to leave out (skipped in this sitting).
        include_labelled: also rows that already have a label (to correct them).
        ids: exactly these predictions, in this order (``order`` is then ignored), e.g.
            the candidate-disagreement ids.

    Raises:
        ValueError: an unknown order.
    """
    if order not in ORDERS and ids is None:
        raise ValueError(f"unknown queue order {order!r}; one of {', '.join(ORDERS)}")
    stmt = _scoped(
        select(Prediction.id, Prediction.ts, ModelVersion.version, Prediction.predicted_class,
               Prediction.top_score, Prediction.scores, Prediction.features, Feedback.label,
               Feedback.labeler, Feedback.revision)
        .join(ModelVersion, ModelVersion.id == Prediction.version_id)
        .outerjoin(Feedback, Feedback.prediction_id == Prediction.id),
        scope,
    )
    if not include_labelled:
        stmt = stmt.where(Feedback.id.is_(None))
    if exclude:
        stmt = stmt.where(Prediction.id.not_in(list(exclude)))
    if ids is not None:
        if not ids:
            return []
        stmt = stmt.where(Prediction.id.in_(list(ids)))
    elif order == "least_confident":
        # The band first, so SQLite walks the band index and stops after the band that
        # completes the page; the order is the top score's either way.
        stmt = stmt.order_by(Prediction.top_score_band, Prediction.top_score,
                             Prediction.ts.desc())
    else:
        stmt = stmt.order_by(Prediction.ts.desc())
    rows = [QueueRow(*row) for row in session.execute(stmt.limit(limit))]
    if ids is not None:
        rank = {pid: i for i, pid in enumerate(ids)}
        rows.sort(key=lambda r: rank[r.prediction_id])
    return rows


def count_awaiting(*, session: Session, scope: QueueScope) -> int:
    """How many predictions in ``scope`` have no label yet.

    Counted as predictions minus labels in the scope, each from its own index (a label
    carries its prediction's model, version, class and time), instead of probing
    ``feedback`` once per prediction. ``scope.labeler`` is not applied here.
    """
    predictions = select(func.count()).select_from(Prediction).where(
        Prediction.model_id == scope.model_id)
    labels = select(func.count()).select_from(Feedback).where(
        Feedback.model_id == scope.model_id)
    if scope.version_id is not None:
        predictions = predictions.where(Prediction.version_id == scope.version_id)
        labels = labels.where(Feedback.version_id == scope.version_id)
    if scope.predicted_class is not None:
        predictions = predictions.where(Prediction.predicted_class == scope.predicted_class)
        labels = labels.where(Feedback.predicted_class == scope.predicted_class)
    if scope.since is not None:
        predictions = predictions.where(Prediction.ts >= scope.since)
        labels = labels.where(Feedback.predicted_at >= scope.since)
    if scope.until is not None:
        predictions = predictions.where(Prediction.ts < scope.until)
        labels = labels.where(Feedback.predicted_at < scope.until)
    return int(session.scalar(predictions) or 0) - int(session.scalar(labels) or 0)


def labelled_since(*, session: Session, model_id: int, since: datetime
                   ) -> tuple[int, dict[str, int]]:
    """Labels of a model's predictions set or changed at or after ``since``.

    Returns:
        ``(total, {labeler: count})``.
    """
    rows = session.execute(
        select(Feedback.labeler, func.count())
        .where(Feedback.model_id == model_id, Feedback.updated_at >= since)
        .group_by(Feedback.labeler)
    )
    by = {str(labeler): int(n) for labeler, n in rows}
    return sum(by.values()), by


def abstain(*, session: Session, prediction_id: str, labeler: str, at: datetime) -> bool:
    """Record that ``labeler`` cannot tell this prediction's class; ``False`` if already."""
    try:
        with session.begin_nested():
            session.execute(insert(LabelAbstention).values(
                prediction_id=prediction_id, labeler=labeler, created_at=at))
    except IntegrityError:
        return False
    return True
