"""The bake watch: after a promotion, watch the new version and roll back on a breach.

Each look (:func:`bake_step`) derives everything from the store, so a restarted worker picks
up where it was: every model whose latest ledger row is a ``promote`` younger than
``OPSDASH_BAKE_MINUTES`` is baking. For each, it reads the new version's serving since the
promotion from Prometheus and its labelled predictions from the store, asks
:func:`services.worker.bake.decide`, and on a breach rolls back to the version the promotion
replaced, as ``system``, with the figures that triggered it, and only if the new version
still serves production (compare-and-set).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine

from db.base import utcnow
from db.models import ModelVersion
from db.repositories import registry
from db.repositories.quality import labelled_counts
from db.repositories.registry import RegistryError
from db.session import session_scope
from services.access.principal import SYSTEM
from services.prometheus.results import InstantSeries
from services.prometheus.since import version_since_queries
from services.prometheus.source import MetricsSource, MetricsSourceError
from services.promotion.actions import ProductionChangedError, rollback
from services.settings import Settings
from services.worker.bake import AccuracyFigures, BakeLimits, Decision, ServingFigures, decide

__all__ = [
    "BakeLook",
    "Baking",
    "bake_step",
    "baking_promotions",
    "limits_from_settings",
    "read_accuracy",
    "read_serving",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Baking:
    """A promotion still in its bake period."""

    model: str
    model_id: int
    new_version: int
    new_version_id: int
    old_version: int | None
    old_version_id: int | None
    promoted_at: datetime


@dataclass(frozen=True)
class BakeLook:
    """What one look at one baking promotion found and did."""

    baking: Baking
    decision: Decision
    rolled_back: bool


def limits_from_settings(settings: Settings) -> BakeLimits:
    """The SLO and the accuracy rule the settings give."""
    return BakeLimits(
        latency_p95_s=settings.slo_latency_p95_seconds,
        error_rate=settings.slo_error_rate,
        min_labels=settings.bake_min_labels,
        accuracy_drop=settings.bake_accuracy_drop,
    )


def baking_promotions(*, engine: Engine, now: datetime, period: timedelta) -> list[Baking]:
    """Models whose latest ledger row is a promotion made within ``period`` before ``now``."""
    found = []
    with session_scope(engine) as session:
        for model in registry.list_models(session=session):
            last = registry.last_promotion(session=session, model_id=model.id)
            if last is None or last.kind != "promote" or last.created_at < now - period:
                continue
            new = session.get(ModelVersion, last.to_version_id)
            old = (session.get(ModelVersion, last.from_version_id)
                   if last.from_version_id is not None else None)
            if new is None:
                continue
            found.append(Baking(
                model=model.name, model_id=model.id, new_version=new.version,
                new_version_id=new.id, old_version=old.version if old else None,
                old_version_id=old.id if old else None, promoted_at=last.created_at,
            ))
    return found


def _value(series: Sequence[InstantSeries]) -> float | None:
    if not series or not math.isfinite(series[0].value):
        return None
    return series[0].value


def read_serving(
    source: MetricsSource, *, baking: Baking, now: datetime
) -> ServingFigures | None:
    """The new version's serving since its promotion (``None``: Prometheus did not answer)."""
    try:
        queries = version_since_queries(model=baking.model, version=str(baking.new_version),
                                        since=baking.promoted_at, at=max(now, baking.promoted_at))
        answered = _value(source.instant(queries["predictions"])) or 0.0
        failed = _value(source.instant(queries["errors"])) or 0.0
        p95 = _value(source.instant(queries["latency_p95"]))
    except (MetricsSourceError, ValueError) as exc:
        logger.warning("%s v%d: no serving figures this time: %s",
                       baking.model, baking.new_version, exc)
        return None
    return ServingFigures(requests=answered + failed, errors=failed, p95_latency_s=p95)


def _tally(counts: Sequence[tuple[str, str, int]]) -> tuple[int, int]:
    total = sum(n for _, _, n in counts)
    correct = sum(n for label, predicted, n in counts if label == predicted)
    return total, correct


def read_accuracy(*, engine: Engine, baking: Baking, now: datetime) -> AccuracyFigures:
    """Labelled predictions of the new version since the promotion and of the old one over
    the same length of time before it."""
    span = max(now - baking.promoted_at, timedelta(0))
    with session_scope(engine) as session:
        new = labelled_counts(session=session, model_id=baking.model_id,
                              version_id=baking.new_version_id, since=baking.promoted_at,
                              until=None)
        old = [] if baking.old_version_id is None else labelled_counts(
            session=session, model_id=baking.model_id, version_id=baking.old_version_id,
            since=baking.promoted_at - span, until=baking.promoted_at)
    new_labelled, new_correct = _tally(new)
    old_labelled, old_correct = _tally(old)
    return AccuracyFigures(new_labelled=new_labelled, new_correct=new_correct,
                           old_labelled=old_labelled, old_correct=old_correct)


def _roll_back(engine: Engine, baking: Baking, decision: Decision) -> bool:
    """Roll back a breaching version; whether it was done."""
    name = f"{baking.model} v{baking.new_version}"
    if baking.old_version is None:
        logger.error("%s breaches (%s) but no earlier version served; nothing to roll back to",
                     name, decision.reason)
        return False
    try:
        rollback(engine=engine, actor=SYSTEM, model=baking.model,
                 reason=f"bake watch: {decision.reason}", to=baking.old_version,
                 expected=baking.new_version, trigger=decision.trigger)
    except (ProductionChangedError, RegistryError) as exc:
        logger.warning("%s breaches (%s) but was not rolled back: %s", name, decision.reason, exc)
        return False
    logger.warning("%s rolled back to v%d: %s", name, baking.old_version, decision.reason)
    return True


def bake_step(
    *,
    engine: Engine,
    source: MetricsSource | None,
    limits: BakeLimits,
    period: timedelta,
    now: datetime | None = None,
) -> list[BakeLook]:
    """One look at every baking promotion; rolls back those that breach.

    Args:
        source: Prometheus (``None``: serving is not judged, only accuracy).
        period: how long after a promotion the new version is watched.
        now: the time of the look (the store's clock by default).
    """
    now = now or utcnow()
    looks = []
    for baking in baking_promotions(engine=engine, now=now, period=period):
        serving = read_serving(source, baking=baking, now=now) if source else None
        accuracy = read_accuracy(engine=engine, baking=baking, now=now)
        decision = decide(serving=serving, accuracy=accuracy, limits=limits)
        decision = replace(decision, trigger={**decision.trigger,
                                              "promoted_at": baking.promoted_at.isoformat(),
                                              "checked_at": now.isoformat()})
        rolled_back = decision.breach and _roll_back(engine, baking, decision)
        if not decision.breach:
            logger.info("%s v%d baking: %s", baking.model, baking.new_version, decision.reason)
        looks.append(BakeLook(baking=baking, decision=decision, rolled_back=rolled_back))
    return looks
