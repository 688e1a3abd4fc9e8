"""Two-proportion Z-test: a p-value, for columns with at most two values."""

from __future__ import annotations

import math

from scipy import stats

from services.drift.samples import Sample, aligned_counts

__all__ = ["compute"]


def compute(reference: Sample, current: Sample, *, exact: bool = True) -> float:
    """Two-sided p-value of the difference between the two samples' shares of the values
    other than the first (in sorted order), with the pooled share's standard error.

    One value in all, or no spread: 1. ``exact`` does not apply.
    """
    ref, cur = aligned_counts(reference, current)
    if ref.size < 2:
        return 1.0
    n1, n2 = float(reference.size), float(current.size)
    p1 = (n1 - ref[0]) / n1
    p2 = (n2 - cur[0]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    spread = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if spread == 0.0:
        return 1.0
    z = (p1 - p2) / spread
    return float(2.0 * stats.norm.sf(abs(z)))
