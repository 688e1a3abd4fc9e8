"""A version's serving record from Prometheus: p95 latency and error rate where it served.

The window is the 24 hours up to the version's newest logged prediction (the store knows
when it last served), so a rollback target that stopped serving last week still shows how
it did then. No traffic in the window gives ``None`` figures; a Prometheus that cannot
answer gives a record whose ``unavailable`` says why, never an exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from services.prometheus.promql import version_record_queries
from services.prometheus.source import MetricsSource, MetricsSourceError

__all__ = ["WINDOW", "ServedFigures", "serving_record"]

#: How far back from its last prediction a version's record looks.
WINDOW = "24h"


@dataclass(frozen=True)
class ServedFigures:
    """The fields of :class:`services.promotion.evidence.ServingRecord` (kept apart so this
    module does not import the one that imports it)."""

    window: str
    p95_latency_s: float | None
    error_rate: float | None
    unavailable: str | None = None


def serving_record(*, source: MetricsSource, model: str, version: int,
                   last_served: datetime) -> ServedFigures:
    """How ``version`` of ``model`` served in the :data:`WINDOW` up to ``last_served``."""
    window = f"{WINDOW} up to {last_served.isoformat(timespec='seconds')}"
    try:
        queries = version_record_queries(model=model, version=str(version), window=WINDOW,
                                         at=last_served)
        p95 = _value(source, queries["latency_p95"])
        errors = _value(source, queries["errors"])
        answered = _value(source, queries["predictions"])
    except MetricsSourceError as exc:
        return ServedFigures(window=window, p95_latency_s=None, error_rate=None,
                             unavailable=f"Prometheus could not answer: {exc}")
    except ValueError as exc:  # e.g. a model name that cannot be sent as UTF-8
        return ServedFigures(window=window, p95_latency_s=None, error_rate=None,
                             unavailable=f"cannot ask Prometheus: {exc}")
    total = (errors or 0.0) + (answered or 0.0)
    rate = (errors or 0.0) / total if total > 0 else None
    return ServedFigures(window=window, p95_latency_s=p95, error_rate=rate)


def _value(source: MetricsSource, query: str) -> float | None:
    """The single value an aggregated instant query gives; ``None`` for no series or NaN
    (a quantile without observations)."""
    values = [s.value for s in source.instant(query) if math.isfinite(s.value)]
    return values[0] if values else None
