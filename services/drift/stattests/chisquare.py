"""Chi-square test of the current counts against the reference shares (Evidently's way):
a p-value, for categories and for numeric columns with few values."""

from __future__ import annotations

import numpy as np
from scipy import stats

from services.drift.samples import Sample, aligned_counts

__all__ = ["compute"]


def compute(reference: Sample, current: Sample, *, exact: bool = True) -> float:
    """p-value of the current counts against the reference shares scaled to the current
    total, with one degree of freedom fewer than values seen on either side.

    One value in all: 1 (nothing can have moved). A value the reference never had: 0.
    ``exact`` does not apply.
    """
    ref, cur = aligned_counts(reference, current)
    if ref.size < 2:
        return 1.0
    expected = ref * (current.size / reference.size)
    if np.any((expected == 0) & (cur > 0)):
        return 0.0  # a value the reference never had: infinitely unlikely under it
    seen = expected > 0
    statistic = float(np.sum((cur[seen] - expected[seen]) ** 2 / expected[seen]))
    return float(stats.chi2.sf(statistic, ref.size - 1))
