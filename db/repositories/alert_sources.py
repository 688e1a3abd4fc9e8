"""Figures alert rules read from the store: the newest prediction before a moment, and
labelled predictions per UTC hour and ``(label, predicted_class)`` pair for backtests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import UTCDateTime
from db.models import Feedback, Prediction
from db.repositories.stats import _hour_bucket

__all__ = ["HourlyPair", "hourly_label_pairs", "newest_prediction"]


def newest_prediction(*, session: Session, model_id: int, before: datetime) -> datetime | None:
    """When the model made its newest logged prediction before ``before`` (``None``: none)."""
    stmt = select(func.max(Prediction.ts)).where(Prediction.model_id == model_id,
                                                 Prediction.ts < before)
    value: datetime | None = session.scalar(stmt)
    return value


@dataclass(frozen=True)
class HourlyPair:
    """Labelled predictions made in one UTC hour with one true label and one prediction."""

    hour: datetime
    label: str
    predicted_class: str
    count: int


def hourly_label_pairs(*, session: Session, model_id: int, since: datetime, until: datetime
                       ) -> list[HourlyPair]:
    """Counts per UTC hour of prediction time and ``(label, predicted_class)``, oldest
    first, over predictions made in ``[since, until)``: a confusion matrix per hour,
    grouped in SQL, so a backtest slides its window in memory instead of querying per step.
    """
    bucket = _hour_bucket(session).label("hour")
    stmt = (
        select(bucket, Feedback.label, Feedback.predicted_class, func.count())
        .where(Feedback.model_id == model_id, Feedback.predicted_at >= since,
               Feedback.predicted_at < until)
        .group_by(bucket, Feedback.label, Feedback.predicted_class)
        .order_by(bucket)
    )
    to_utc = UTCDateTime()
    dialect = session.get_bind().dialect
    out: list[HourlyPair] = []
    for hour, label, predicted, n in session.execute(stmt):
        if isinstance(hour, str):  # SQLite: "YYYY-MM-DD HH"
            hour = f"{hour}:00:00"
        stamp = to_utc.process_result_value(hour, dialect)
        assert stamp is not None
        out.append(HourlyPair(hour=stamp, label=str(label), predicted_class=str(predicted),
                              count=int(n)))
    return out
