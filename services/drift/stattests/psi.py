"""Population stability index (PSI) over quantile bins of the reference.

Numbers: ten quantile bins of the reference (one bin per distinct value when there are
fewer); categories: one bin per value. An empty bin counts as a share of 0.0001, so PSI
stays finite. It is reported for every column whatever its test, and can be its test too.
"""

from __future__ import annotations

import numpy as np

from services.drift.samples import NUMERIC, FloatArray, Sample, aligned_counts

__all__ = ["PSI_BINS", "PSI_FLOOR", "compute", "psi"]

PSI_BINS = 10
PSI_FLOOR = 1e-4


def compute(reference: Sample, current: Sample, *, exact: bool = True) -> float:
    """PSI with :data:`PSI_BINS` bins (``exact`` does not apply)."""
    return psi(reference, current)


def psi(reference: Sample, current: Sample, *, bins: int = PSI_BINS) -> float:
    """Population stability index over quantile bins of the reference (categories: values).

    A numeric reference with at most ``bins`` distinct values gets one bin per value;
    otherwise the cut points are its ``1/bins .. (bins-1)/bins`` quantiles (duplicates
    merged), each bin closed on the right. Empty bins count as a share of 0.0001.
    """
    if reference.kind == NUMERIC and reference.distinct_count(bins) > bins:
        cuts = np.unique(_sorted_quantiles(reference.values, np.arange(1, bins) / bins))
        ref_share = _bin_shares(reference.values, cuts)
        cur_share = _bin_shares(current.values, cuts)
    else:
        p_counts, q_counts = aligned_counts(reference, current)
        ref_share = p_counts / p_counts.sum()
        cur_share = q_counts / q_counts.sum()
    ref_share = np.maximum(ref_share, PSI_FLOOR)
    cur_share = np.maximum(cur_share, PSI_FLOOR)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def _sorted_quantiles(values: FloatArray, q: FloatArray) -> FloatArray:
    """``np.quantile(values, q)`` (linear interpolation) of an already sorted array."""
    position = q * (values.size - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, values.size - 1)
    fraction = position - below
    low, high = values[below], values[above]
    return np.asarray(low + (high - low) * fraction, dtype=np.float64)


def _bin_shares(sorted_values: FloatArray, cuts: FloatArray) -> FloatArray:
    """Share of the values in each bin ``(-inf, c1], (c1, c2], …, (ck, inf)``."""
    below = np.searchsorted(sorted_values, cuts, side="right")
    return np.diff(below, prepend=0, append=sorted_values.size) / sorted_values.size
