"""Jensen–Shannon distance (natural logarithm) of the two value distributions.

Categories, and numeric columns with at most 20 distinct reference values, compare the
share of each value; a numeric column with more is binned in Sturges' bins of both samples
together, as Evidently bins it.
"""

from __future__ import annotations

import math

import numpy as np

from services.drift.samples import NUMERIC, FloatArray, Sample, aligned_counts

__all__ = ["BINNED_VALUES", "compute", "jensen_shannon"]

#: Evidently bins a numeric column for Jensen–Shannon only above this many reference values.
BINNED_VALUES = 20


def compute(reference: Sample, current: Sample, *, exact: bool = True) -> float:
    """The Jensen–Shannon distance of two samples (``exact`` does not apply)."""
    return jensen_shannon(reference, current)


def jensen_shannon(reference: Sample, current: Sample) -> float:
    """Jensen–Shannon distance (natural log) of the two value distributions."""
    if (
        reference.kind == NUMERIC
        and reference.distinct_count(BINNED_VALUES) > BINNED_VALUES
    ):
        edges = _sturges_edges(reference.values, current.values)
        p = _counts_in_bins(reference.values, edges)
        q = _counts_in_bins(current.values, edges)
    else:
        p, q = aligned_counts(reference, current)
    return _js_distance(p, q)


def _js_distance(p: FloatArray, q: FloatArray) -> float:
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2.0
    divergence = (_relative_entropy(p, m) + _relative_entropy(q, m)) / 2.0
    return math.sqrt(max(divergence, 0.0))


def _relative_entropy(p: FloatArray, m: FloatArray) -> float:
    nonzero = p > 0
    return float(np.sum(p[nonzero] * np.log(p[nonzero] / m[nonzero])))


def _counts_in_bins(sorted_values: FloatArray, edges: FloatArray) -> FloatArray:
    """``np.histogram(values, edges)`` counts of sorted values (last bin closed)."""
    below = np.searchsorted(sorted_values, edges, side="left").astype(np.float64)
    counts = np.diff(below)
    counts[-1] += float(np.searchsorted(sorted_values, edges[-1], side="right") - below[-1])
    return counts


def _sturges_edges(u: FloatArray, v: FloatArray) -> FloatArray:
    """``np.histogram_bin_edges(concat(u, v), "sturges")`` from the sorted samples' ends."""
    lo = min(float(u[0]), float(v[0]))
    hi = max(float(u[-1]), float(v[-1]))
    n = u.size + v.size
    return np.histogram_bin_edges(
        np.array([lo, hi]), bins=_sturges_bins(lo, hi, n), range=(lo, hi)
    )


def _sturges_bins(lo: float, hi: float, n: int) -> int:
    if hi == lo:
        return 1
    width = (hi - lo) / (math.log2(n) + 1.0)
    return max(math.ceil((hi - lo) / width), 1)
