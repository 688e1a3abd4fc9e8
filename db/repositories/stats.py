"""Aggregates over predictions and feedback, computed in SQL (never whole tables in memory)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, case, cast, func, select
from sqlalchemy.orm import Session

from db.base import UTCDateTime
from db.models import Feedback, Prediction

__all__ = ["HourlyLabels", "count_predictions", "hourly_labels", "label_totals"]


@dataclass(frozen=True)
class HourlyLabels:
    """Labelled predictions made in one UTC hour, and how many the model got right."""

    hour: datetime
    labelled: int
    correct: int


def _hour_bucket(session: Session) -> ColumnElement[datetime]:
    """The labelled prediction's time truncated to the hour, in the dialect's own syntax."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", Feedback.predicted_at)
    return func.date_trunc("hour", Feedback.predicted_at)


def count_predictions(*, session: Session, model_id: int, since: datetime) -> int:
    """Predictions of a model logged at or after ``since``."""
    stmt = select(func.count()).where(Prediction.model_id == model_id, Prediction.ts >= since)
    return int(session.scalar(stmt) or 0)


def _correct() -> ColumnElement[int]:
    return func.sum(cast(case((Feedback.predicted_class == Feedback.label, 1), else_=0), Integer))


def label_totals(*, session: Session, model_id: int, since: datetime) -> tuple[int, int]:
    """``(labelled, correct)`` over predictions made at or after ``since``."""
    stmt = (
        select(func.count(), _correct())
        .where(Feedback.model_id == model_id, Feedback.predicted_at >= since)
    )
    labelled, correct = session.execute(stmt).one()
    return int(labelled or 0), int(correct or 0)


def hourly_labels(
    *, session: Session, model_id: int, since: datetime, version_id: int | None = None
) -> list[HourlyLabels]:
    """Labelled and correct counts per UTC hour of prediction time, oldest first.

    ``version_id`` limits the counts to one version's predictions.
    """
    bucket = _hour_bucket(session).label("hour")
    correct = _correct()
    stmt = (
        select(bucket, func.count().label("labelled"), correct.label("correct"))
        .where(Feedback.model_id == model_id, Feedback.predicted_at >= since)
        .group_by(bucket)
        .order_by(bucket)
    )
    if version_id is not None:
        stmt = stmt.where(Feedback.version_id == version_id)
    to_utc = UTCDateTime()
    dialect = session.get_bind().dialect
    rows = []
    for hour, labelled, right in session.execute(stmt):
        stamp = to_utc.process_result_value(hour, dialect)
        assert stamp is not None
        rows.append(HourlyLabels(hour=stamp, labelled=int(labelled), correct=int(right or 0)))
    return rows
