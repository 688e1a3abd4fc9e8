"""Accuracy over time: per hour or local day of prediction time, with a Wilson band.

The store sums labelled and correct predictions per UTC hour; this module gathers those
hours into the buckets of the chosen time zone, so a local day is a day even when it
lasts 23 or 25 hours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import registry, stats
from db.session import session_scope
from services.quality.metrics import Interval, wilson_interval

__all__ = ["TrendBucket", "accuracy_trend"]

#: The start of the bucket a moment falls in.
BucketKey = Callable[[datetime], datetime]


@dataclass(frozen=True)
class TrendBucket:
    """Accuracy of the predictions made in one hour or local day."""

    start: datetime
    labelled: int
    correct: int
    #: ``None`` when the bucket has fewer labels than the minimum ("not enough labels").
    accuracy: float | None
    interval: Interval | None


def accuracy_trend(
    *,
    engine: Engine,
    model: str,
    version: int | None,
    since: datetime,
    tz: str = "UTC",
    bucket: str = "day",
    min_labels: int = 20,
    confidence: float = 0.95,
) -> list[TrendBucket]:
    """Accuracy per hour or local day of prediction time, with a Wilson interval.

    Every bucket from ``since`` to now is returned, also empty ones, so a chart shows gaps
    as gaps; a bucket with fewer than ``min_labels`` labels has no accuracy.

    Raises:
        RegistryError: no such model, or no such version of it.
        ValueError: ``bucket`` is neither ``hour`` nor ``day``.
    """
    if bucket not in ("hour", "day"):
        raise ValueError(f"bucket must be 'hour' or 'day', not {bucket!r}")
    zone = ZoneInfo(tz)
    with session_scope(engine) as session:
        found = registry.get_model(session=session, name=model)
        version_id = registry.version_row_id(session=session, model=found, version=version)
        hours = stats.hourly_labels(session=session, model_id=found.id, since=since,
                                    version_id=version_id)
    key = _bucket_key(zone, bucket)
    counts = _totals(((h.hour, h.labelled, h.correct) for h in hours), key)
    out: list[TrendBucket] = []
    for at in _bucket_starts(key(since), key(utcnow()), key, bucket):
        labelled, correct = counts.get(at, (0, 0))
        enough = labelled >= max(1, min_labels)
        out.append(TrendBucket(
            start=at, labelled=labelled, correct=correct,
            accuracy=correct / labelled if enough else None,
            interval=wilson_interval(correct, labelled, confidence) if enough else None,
        ))
    return out


def _bucket_key(zone: ZoneInfo, bucket: str) -> BucketKey:
    """The start (in ``zone``) of the hour or local day a moment falls in."""

    def key(moment: datetime) -> datetime:
        local = moment.astimezone(zone)
        if bucket == "hour":
            return local.replace(minute=0, second=0, microsecond=0)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    return key


def _totals(hours: Iterable[tuple[datetime, int, int]], key: BucketKey
            ) -> dict[datetime, tuple[int, int]]:
    """``(labelled, correct)`` per bucket start, from ``(hour, labelled, correct)`` rows."""
    totals: dict[datetime, tuple[int, int]] = {}
    for hour, labelled, correct in hours:
        start = key(hour)
        before = totals.get(start, (0, 0))
        totals[start] = (before[0] + labelled, before[1] + correct)
    return totals


def _bucket_starts(first: datetime, last: datetime, key: BucketKey, bucket: str
                   ) -> list[datetime]:
    """Every bucket start from ``first`` to ``last``, both included."""
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    starts: list[datetime] = []
    at = first
    while at <= last:
        starts.append(at)
        if bucket == "hour":  # in absolute time: a local hour can repeat or vanish (DST)
            at = key(at.astimezone(UTC) + step)
        else:  # local days last 23 to 25 hours: land past the next midnight, truncate
            at = key(at + step + timedelta(hours=2))
    return starts
