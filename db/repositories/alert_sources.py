"""Figures alert rules read from the store: the newest prediction before a moment, and for
backtests labelled predictions per UTC hour of prediction and of the label's arrival,
version and ``(label, predicted_class)`` pair, the newest prediction and the arrivals of
predictions and labels per hour, the retrain jobs that finished, and a version's
artifact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy.orm import Session

from db.base import UTCDateTime
from db.lifecycle_models import RetrainJob
from db.models import Feedback, ModelVersion, Prediction
from db.repositories.stats import _hour_bucket

__all__ = [
    "ArrivedPair",
    "FinishedJob",
    "VersionArtifact",
    "arrived_label_pairs",
    "finished_jobs",
    "hourly_arrivals",
    "hourly_newest_prediction",
    "newest_prediction",
    "version_artifact",
]


def newest_prediction(*, session: Session, model_id: int, before: datetime) -> datetime | None:
    """When the model made its newest logged prediction before ``before`` (``None``: none)."""
    stmt = select(func.max(Prediction.ts)).where(Prediction.model_id == model_id,
                                                 Prediction.ts < before)
    value: datetime | None = session.scalar(stmt)
    return value


@dataclass(frozen=True)
class ArrivedPair:
    """Labels given in one UTC hour to predictions made in one UTC hour, by one version,
    with one true label and one prediction."""

    hour: datetime
    arrived: datetime
    version_id: int
    label: str
    predicted_class: str
    count: int


def arrived_label_pairs(*, session: Session, model_id: int, since: datetime,
                        until: datetime) -> list[ArrivedPair]:
    """Counts per UTC hour of prediction time, UTC hour the label was given, version and
    ``(label, predicted_class)``, over predictions made in ``[since, until)`` whose label
    was given before ``until``: what a backtest needs to count, at each step, only the
    labels that had arrived by then."""
    made = _hour_bucket(session).label("hour")
    given = _bucket_of(session, Feedback.created_at).label("arrived")
    stmt = (
        select(made, given, Feedback.version_id, Feedback.label, Feedback.predicted_class,
               func.count())
        .where(Feedback.model_id == model_id, Feedback.predicted_at >= since,
               Feedback.predicted_at < until, Feedback.created_at < until)
        .group_by(made, given, Feedback.version_id, Feedback.label, Feedback.predicted_class)
    )
    return [ArrivedPair(hour=_hour(session, hour), arrived=_hour(session, arrived),
                        version_id=int(version_id), label=str(label),
                        predicted_class=str(predicted), count=int(n))
            for hour, arrived, version_id, label, predicted, n in session.execute(stmt)]


def _hour(session: Session, raw: Any) -> datetime:
    """An hour bucket as a UTC datetime (SQLite answers ``YYYY-MM-DD HH``)."""
    if isinstance(raw, str):
        raw = f"{raw}:00:00"
    stamp = UTCDateTime().process_result_value(raw, session.get_bind().dialect)
    assert stamp is not None
    return stamp


def _bucket_of(session: Session, column: Any) -> ColumnElement[Any]:
    """The hour of a time column, in the dialect's own syntax (see ``_hour_bucket``)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.substr(column, literal_column("1"), literal_column("13"))
    return func.date_trunc("hour", column)


def hourly_newest_prediction(*, session: Session, model_id: int, since: datetime,
                             until: datetime) -> list[tuple[datetime, datetime]]:
    """``(hour, newest prediction in it)`` per UTC hour with predictions in ``[since,
    until)``, oldest first: what a traffic backtest needs, in one grouped query."""
    bucket = _bucket_of(session, Prediction.ts).label("hour")
    stmt = (select(bucket, func.max(Prediction.ts))
            .where(Prediction.model_id == model_id, Prediction.ts >= since,
                   Prediction.ts < until)
            .group_by(bucket).order_by(bucket))
    to_utc = UTCDateTime()
    dialect = session.get_bind().dialect
    out = []
    for hour, newest in session.execute(stmt):
        stamp = newest if isinstance(newest, datetime) else to_utc.process_result_value(
            newest, dialect)
        assert stamp is not None
        out.append((_hour(session, hour), stamp))
    return out


def hourly_arrivals(*, session: Session, model_id: int, since: datetime, until: datetime
                    ) -> tuple[int, dict[datetime, int]]:
    """How the label backlog moved: predictions made minus labels given before ``since``,
    and that change per UTC hour of ``[since, until)`` (predictions by their time, labels
    by when they were given)."""
    made = select(func.count()).select_from(Prediction).where(
        Prediction.model_id == model_id, Prediction.ts < since)
    given = select(func.count()).select_from(Feedback).where(
        Feedback.model_id == model_id, Feedback.created_at < since)
    before = int(session.scalar(made) or 0) - int(session.scalar(given) or 0)
    change: dict[datetime, int] = {}
    for column, table_model, sign in ((Prediction.ts, Prediction.model_id, 1),
                                      (Feedback.created_at, Feedback.model_id, -1)):
        bucket = _bucket_of(session, column).label("hour")
        stmt = (select(bucket, func.count()).where(table_model == model_id, column >= since,
                                                   column < until).group_by(bucket))
        for hour, n in session.execute(stmt):
            stamp = _hour(session, hour)
            change[stamp] = change.get(stamp, 0) + sign * int(n)
    return before, change


@dataclass(frozen=True)
class FinishedJob:
    """A retrain job that succeeded or failed."""

    id: int
    status: str
    finished_at: datetime
    error: str


def finished_jobs(*, session: Session, model_id: int, since: datetime, until: datetime
                  ) -> list[FinishedJob]:
    """The model's retrain jobs that succeeded or failed in ``(since, until]``, oldest
    first."""
    stmt = (select(RetrainJob.id, RetrainJob.status, RetrainJob.finished_at, RetrainJob.error)
            .where(RetrainJob.model_id == model_id,
                   RetrainJob.status.in_(("succeeded", "failed")),
                   RetrainJob.finished_at > since, RetrainJob.finished_at <= until)
            .order_by(RetrainJob.finished_at, RetrainJob.id))
    return [FinishedJob(int(i), str(status), at, str(error or ""))
            for i, status, at, error in session.execute(stmt) if at is not None]


@dataclass(frozen=True)
class VersionArtifact:
    """A version's number and the artifact its training reference is scored with."""

    version_id: int
    version: int
    artifact_path: str
    artifact_sha256: str


def version_artifact(*, session: Session, version_id: int) -> VersionArtifact | None:
    """The version row's number and artifact (``None``: no such row)."""
    found = session.execute(
        select(ModelVersion.version, ModelVersion.artifact_path, ModelVersion.artifact_sha256)
        .where(ModelVersion.id == version_id)).one_or_none()
    if found is None:
        return None
    return VersionArtifact(version_id=version_id, version=int(found[0]),
                           artifact_path=str(found[1] or ""),
                           artifact_sha256=str(found[2] or ""))
