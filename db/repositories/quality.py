"""Counts behind model-quality reports, grouped in SQL (rows never reach Python).

The queries read ``feedback`` alone (it carries its prediction's facts) through the
covering indexes ``ix_feedback_model_quality`` / ``ix_feedback_version_quality``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Feedback, ModelVersion
from db.repositories.registry import RegistryError

__all__ = ["labelled_counts", "version_id"]


def version_id(*, session: Session, model_id: int, version: int) -> int:
    """The row id of version number ``version`` of a model.

    Raises:
        RegistryError: the model has no such version.
    """
    found = session.scalar(
        select(ModelVersion.id).where(
            ModelVersion.model_id == model_id, ModelVersion.version == version
        )
    )
    if found is None:
        raise RegistryError(f"the model has no version {version}")
    return int(found)


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
        .where(Feedback.model_id == model_id)
        .group_by(Feedback.label, Feedback.predicted_class)
        .order_by(Feedback.label, Feedback.predicted_class)
    )
    if version_id is not None:
        stmt = stmt.where(Feedback.version_id == version_id)
    if since is not None:
        stmt = stmt.where(Feedback.predicted_at >= since)
    if until is not None:
        stmt = stmt.where(Feedback.predicted_at < until)
    return [(str(label), str(pred), int(n)) for label, pred, n in session.execute(stmt)]
