"""Figures of the overview page: per model, from the store and from Prometheus."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import registry, stats
from db.session import session_scope
from services.prometheus.promql import LATENCY_P95_BY_MODEL, REQUEST_RATE_BY_MODEL
from services.prometheus.source import MetricsSource, MetricsSourceError

__all__ = [
    "MIN_LABELS_PER_DAY",
    "DailyAccuracy",
    "ModelOverview",
    "ServingNow",
    "ServingSnapshot",
    "serving_snapshot",
    "store_overview",
]

#: A day with fewer labels than this shows no accuracy point (too noisy to read).
MIN_LABELS_PER_DAY = 20


@dataclass(frozen=True)
class DailyAccuracy:
    """Accuracy of one local day's predictions, on those that have ground truth."""

    day: date
    labelled: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        """Share correct, or ``None`` below :data:`MIN_LABELS_PER_DAY` labels."""
        return self.correct / self.labelled if self.labelled >= MIN_LABELS_PER_DAY else None


@dataclass(frozen=True)
class ModelOverview:
    """Store-based figures of one model."""

    name: str
    task: str
    class_count: int
    production_version: int | None
    production_since: datetime | None
    predictions_24h: int
    predictions_7d: int
    labelled_7d: int
    correct_7d: int
    daily: tuple[DailyAccuracy, ...]

    @property
    def ground_truth_share_7d(self) -> float | None:
        """Share of the last 7 days' predictions that have a label."""
        return self.labelled_7d / self.predictions_7d if self.predictions_7d else None

    @property
    def accuracy_7d(self) -> float | None:
        """Accuracy over the last 7 days' labelled predictions."""
        return self.correct_7d / self.labelled_7d if self.labelled_7d else None


@dataclass(frozen=True)
class ServingNow:
    """Live serving figures of one model from Prometheus (``None``: no samples)."""

    request_rate: float | None
    latency_p95_seconds: float | None


@dataclass(frozen=True)
class ServingSnapshot:
    """Live figures of every model, or the reason Prometheus could not give them."""

    url: str
    by_model: Mapping[str, ServingNow]
    error: str | None = None

    def get(self, model: str) -> ServingNow:
        """Figures of ``model``; both ``None`` when Prometheus has none."""
        return self.by_model.get(model, ServingNow(request_rate=None, latency_p95_seconds=None))


def store_overview(
    *, engine: Engine, tz: str = "UTC", days: int = 14, now: datetime | None = None
) -> list[ModelOverview]:
    """Store-based figures of every model, ordered by name.

    Args:
        engine: the feedback store.
        tz: IANA time zone whose calendar days bucket the accuracy trend.
        days: length of the accuracy trend.
        now: the current time (for tests); defaults to the clock.
    """
    zone = ZoneInfo(tz)
    now = now or utcnow()
    local_today = now.astimezone(zone).date()
    first_day = local_today - timedelta(days=days - 1)
    trend_since = datetime.combine(first_day, datetime.min.time(), tzinfo=zone)
    out = []
    with session_scope(engine) as session:
        for model in registry.list_models(session=session):
            production = registry.production_version(session=session, model_id=model.id)
            since_7d = now - timedelta(days=7)
            hourly = stats.hourly_labels(session=session, model_id=model.id, since=trend_since)
            labelled_7d, correct_7d = stats.label_totals(
                session=session, model_id=model.id, since=since_7d
            )
            promotion = registry.last_promotion(session=session, model_id=model.id)
            out.append(
                ModelOverview(
                    name=model.name,
                    task=model.task,
                    class_count=len(model.class_labels),
                    production_version=production.version if production else None,
                    production_since=promotion.created_at if promotion else None,
                    predictions_24h=stats.count_predictions(
                        session=session, model_id=model.id, since=now - timedelta(hours=24)
                    ),
                    predictions_7d=stats.count_predictions(
                        session=session, model_id=model.id, since=since_7d
                    ),
                    labelled_7d=labelled_7d,
                    correct_7d=correct_7d,
                    daily=_daily(hourly, zone, first_day, local_today),
                )
            )
    return out


def _daily(
    hourly: list[stats.HourlyLabels], zone: ZoneInfo, first: date, last: date
) -> tuple[DailyAccuracy, ...]:
    labelled: dict[date, int] = defaultdict(int)
    correct: dict[date, int] = defaultdict(int)
    for h in hourly:
        day = h.hour.astimezone(zone).date()
        labelled[day] += h.labelled
        correct[day] += h.correct
    days = []
    day = first
    while day <= last:
        days.append(DailyAccuracy(day=day, labelled=labelled[day], correct=correct[day]))
        day += timedelta(days=1)
    return tuple(days)


def serving_snapshot(*, source: MetricsSource, window: str = "2m") -> ServingSnapshot:
    """Current request rate and p95 latency of every model, in two queries.

    A failure stops at the first query, so a down or hung Prometheus costs one timeout.
    """
    try:
        rates = source.instant(REQUEST_RATE_BY_MODEL.render(window=window))
        p95s = source.instant(LATENCY_P95_BY_MODEL.render(window=window))
    except MetricsSourceError as exc:
        return ServingSnapshot(url=source.url, by_model={}, error=str(exc))
    rate_by = {s.labels.get("model", ""): s.value for s in rates}
    p95_by = {s.labels.get("model", ""): s.value for s in p95s if s.value == s.value}  # drop NaN
    names = set(rate_by) | set(p95_by)
    return ServingSnapshot(
        url=source.url,
        by_model={
            n: ServingNow(request_rate=rate_by.get(n), latency_p95_seconds=p95_by.get(n))
            for n in names
        },
    )
