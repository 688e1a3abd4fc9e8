"""PromQL for what a version did since a moment (its promotion): exact counts, no extrapolation.

Kept beside :mod:`services.prometheus.promql` (whose escaping and selectors it uses): the
bake watch asks how many requests a freshly promoted version answered and failed since the
promotion, and a new version's counters are born after it, which ``increase()`` cannot see.
"""

from __future__ import annotations

from datetime import datetime

from services.prometheus import metric_names as m
from services.prometheus.promql import selector

__all__ = ["version_since_queries"]


def _rise(metric_selector: str, *, since: datetime, at: datetime) -> str:
    """Per series, how much a counter rose from ``since`` to ``at``: a series born after
    ``since`` counts from 0 (``increase()`` would take its first sample as the baseline and
    lose the first errors of a new version), nothing is extrapolated, and a reset in between
    (a restart) counts as 0 rather than negative."""
    then, now = f"@ {since.timestamp():.3f}", f"@ {at.timestamp():.3f}"
    return (f"clamp_min({metric_selector} {now} - "
            f"({metric_selector} {then} or {metric_selector} {now} * 0), 0)")


def version_since_queries(
    *, model: str, version: str, since: datetime, at: datetime
) -> dict[str, str]:
    """How one version served from ``since`` (its promotion) to ``at``: three instant queries.

    ``predictions`` and ``errors`` count the answered and the failed requests exactly (see
    :func:`_rise`); ``latency_p95`` is the p95 request latency in seconds over those
    requests. Values are escaped.

    Raises:
        ValueError: a naive datetime, or ``since`` after ``at``.
    """
    if since.utcoffset() is None or at.utcoffset() is None:
        raise ValueError("since and at must be timezone-aware datetimes")
    if since > at:
        raise ValueError(f"since ({since.isoformat()}) is after at ({at.isoformat()})")
    matchers = {"model": model, "version": version}
    buckets = _rise(selector(m.LATENCY_SECONDS + "_bucket", matchers), since=since, at=at)
    return {
        "predictions": f"sum({_rise(selector(m.PREDICTIONS_TOTAL, matchers), since=since, at=at)})",
        "errors": f"sum({_rise(selector(m.ERRORS_TOTAL, matchers), since=since, at=at)})",
        "latency_p95": f"histogram_quantile(0.95, sum by (le) ({buckets}))",
    }
