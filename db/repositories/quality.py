"""Counts behind model-quality reports, grouped in SQL (rows never reach Python).

The queries read ``feedback`` alone (it carries its prediction's facts) through the
covering indexes ``ix_feedback_model_quality`` / ``ix_feedback_version_quality``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, case, cast, func, literal, select
from sqlalchemy.orm import Session

from db.models import Feedback

__all__ = ["ScoreBin", "labelled_counts", "score_bins"]

#: Added before flooring, so a score on the grid (0.29 stored as 0.28999999999999998)
#: lands in its own bin and not the one below.
_GRID_EPSILON = 1e-7


def _scope(model_id: int, version_id: int | None) -> ColumnElement[bool]:
    """The model's labels, or one version's: a version row belongs to one model, so the
    version alone selects them, from the covering ``ix_feedback_version_quality``
    (adding the model would cost a table lookup per label)."""
    if version_id is not None:
        return Feedback.version_id == version_id
    return Feedback.model_id == model_id


def labelled_counts(
    *,
    session: Session,
    model_id: int,
    version_id: int | None,
    since: datetime | None,
    until: datetime | None,
) -> list[tuple[str, str, int]]:
    """``(label, predicted_class, count)`` over a model's labelled predictions.

    Args:
        session: an open session.
        model_id: the model.
        version_id: only predictions of this version row (``None``: every version).
        since: only predictions made at or after this time (``None``: no lower bound).
        until: only predictions made before this time (``None``: no upper bound).
    """
    stmt = (
        select(Feedback.label, Feedback.predicted_class, func.count())
        .where(_scope(model_id, version_id))
        .group_by(Feedback.label, Feedback.predicted_class)
        .order_by(Feedback.label, Feedback.predicted_class)
    )
    if since is not None:
        stmt = stmt.where(Feedback.predicted_at >= since)
    if until is not None:
        stmt = stmt.where(Feedback.predicted_at < until)
    return [(str(label), str(pred), int(n)) for label, pred, n in session.execute(stmt)]


@dataclass(frozen=True)
class ScoreBin:
    """Labelled predictions of one true label whose positive-class score falls in one bin.

    Attributes:
        bin: ``floor(score * bins)``: scores in ``[bin / bins, (bin + 1) / bins)``.
        label: the true label.
        count: how many.
        low: the smallest score in the bin.
        high: the largest score in the bin.
    """

    bin: int
    label: str
    count: int
    low: float
    high: float


def _floor(session: Session, value: ColumnElement[float]) -> ColumnElement[int]:
    """``floor(value)`` for a non-negative value, in the dialect's own syntax."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(value, Integer)  # truncates toward zero: floor for values >= 0
    return cast(func.floor(value), Integer)


def score_bins(
    *,
    session: Session,
    model_id: int,
    version_id: int | None,
    positive: str,
    bins: int,
    since: datetime | None,
    until: datetime | None,
) -> list[ScoreBin]:
    """Counts of a binary model's labelled predictions per true label and score bin.

    The positive-class score of a prediction is its ``top_score`` when it predicted
    ``positive`` and ``1 - top_score`` otherwise (two classes: the probabilities add up
    to one). At most ``2 * (bins + 1)`` rows come back, however many labels there are.

    Args:
        session: an open session.
        model_id: the model (binary).
        version_id: only predictions of this version row (``None``: every version).
        positive: the positive class.
        bins: bins of the unit interval (``1000``: a grid of 0.001).
        since: only predictions made at or after this time (``None``: no lower bound).
        until: only predictions made before this time (``None``: no upper bound).
    """
    score = case((Feedback.predicted_class == positive, Feedback.top_score),
                 else_=literal(1.0) - Feedback.top_score)
    bucket = _floor(session, score * bins + _GRID_EPSILON).label("bin")
    stmt = (
        select(bucket, Feedback.label, func.count(), func.min(score), func.max(score))
        .where(Feedback.model_id == model_id)
        .group_by(bucket, Feedback.label)
        .order_by(bucket, Feedback.label)
    )
    if version_id is not None:
        stmt = stmt.where(Feedback.version_id == version_id)
    if since is not None:
        stmt = stmt.where(Feedback.predicted_at >= since)
    if until is not None:
        stmt = stmt.where(Feedback.predicted_at < until)
    return [
        ScoreBin(bin=int(b), label=str(label), count=int(n), low=float(lo), high=float(hi))
        for b, label, n, lo, hi in session.execute(stmt)
    ]
