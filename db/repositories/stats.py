"""Aggregates over predictions and feedback, computed in SQL (never whole tables in memory)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, func, literal_column, select
from sqlalchemy.orm import Session

from db.base import UTCDateTime
from db.models import Feedback, Prediction

__all__ = [
    "HourlyLabels",
    "count_predictions",
    "hourly_labels",
    "label_totals",
    "last_served",
]


@dataclass(frozen=True)
class HourlyLabels:
    """Labelled predictions made in one UTC hour, and how many the model got right."""

    hour: datetime
    labelled: int
    correct: int


def _hour_bucket(session: Session) -> ColumnElement[Any]:
    """The labelled prediction's hour, in the dialect's own syntax.

    SQLite stores the time as text ``YYYY-MM-DD HH:MM:SS.ffffff``: its first 13 characters
    are the hour (``YYYY-MM-DD HH``), half the cost of ``strftime`` a row.
    """
    if session.get_bind().dialect.name == "sqlite":
        # Literal bounds, so GROUP BY repeats the very expression of the column list.
        return func.substr(Feedback.predicted_at, literal_column("1"), literal_column("13"))
    return func.date_trunc("hour", Feedback.predicted_at)


def count_predictions(*, session: Session, model_id: int, since: datetime) -> int:
    """Predictions of a model logged at or after ``since``."""
    stmt = select(func.count()).where(Prediction.model_id == model_id, Prediction.ts >= since)
    return int(session.scalar(stmt) or 0)


def last_served(*, session: Session, version_id: int) -> datetime | None:
    """When the version made its newest logged prediction (``None``: it never served)."""
    stmt = select(func.max(Prediction.ts)).where(Prediction.version_id == version_id)
    value: datetime | None = session.scalar(stmt)
    return value


def _correct() -> ColumnElement[int]:
    # CAST(a = b AS INTEGER): 0 or 1 in SQLite and PostgreSQL, cheaper than a CASE.
    return func.sum(cast(Feedback.predicted_class == Feedback.label, Integer))


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
    # A version row belongs to one model: the version alone selects its labels, from the
    # covering ix_feedback_version_quality (the model too would cost a table lookup a row).
    scope = (Feedback.model_id == model_id if version_id is None
             else Feedback.version_id == version_id)
    stmt = (
        select(bucket, func.count().label("labelled"), correct.label("correct"))
        .where(scope, Feedback.predicted_at >= since)
        .group_by(bucket)
        .order_by(bucket)
    )
    to_utc = UTCDateTime()
    dialect = session.get_bind().dialect
    rows = []
    for hour, labelled, right in session.execute(stmt):
        if isinstance(hour, str):  # SQLite: "YYYY-MM-DD HH"
            hour = f"{hour}:00:00"
        stamp = to_utc.process_result_value(hour, dialect)
        assert stamp is not None
        rows.append(HourlyLabels(hour=stamp, labelled=int(labelled), correct=int(right or 0)))
    return rows
