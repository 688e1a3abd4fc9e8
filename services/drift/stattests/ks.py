"""Two-sample Kolmogorov–Smirnov test: the p-value of the largest gap between the two
empirical distribution functions (numeric columns).

The statistic is read off the sorted samples with ``searchsorted``; SciPy gives the
p-value: its own exact-or-asymptotic choice (exact up to 10,000 rows a side, as Evidently
calls it) or, when asked, the asymptotic Kolmogorov distribution.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
from scipy import stats

from services.drift.samples import FloatArray, Sample

__all__ = ["KS_EXACT_ROWS", "compute", "ks_statistic"]

#: SciPy's KS is exact up to this many rows on either side (``method="auto"``).
KS_EXACT_ROWS = 10_000


def compute(reference: Sample, current: Sample, *, exact: bool = True) -> float:
    """The KS p-value of two numeric samples.

    Args:
        reference, current: prepared numeric samples, not empty.
        exact: use SciPy's exact p-value where SciPy would (False: its asymptotic
            distribution, much faster for many small windows).
    """
    u, v = reference.values, current.values
    return _p_value(u, v, ks_statistic(u, v), exact=exact)


def _last_of_ties(values: FloatArray) -> npt.NDArray[np.bool_]:
    """True at the last element of each run of equal values of a sorted array."""
    last = np.ones(values.size, dtype=bool)
    np.not_equal(values[1:], values[:-1], out=last[:-1])
    return last


def ks_statistic(u: FloatArray, v: FloatArray) -> float:
    """Two-sample Kolmogorov–Smirnov statistic of two sorted, non-empty samples.

    Both empirical CDFs only step at sample values, so the largest gap is found at the
    last copy of some value of ``u`` or of ``v``: each side is read off the other with
    one ``searchsorted``.
    """
    n, m = u.size, v.size
    at_u = _last_of_ties(u)
    at_v = _last_of_ties(v)
    gap_u = np.abs((np.flatnonzero(at_u) + 1) / n
                   - np.searchsorted(v, u[at_u], side="right") / m)
    gap_v = np.abs(np.searchsorted(u, v[at_v], side="right") / n
                   - (np.flatnonzero(at_v) + 1) / m)
    return float(max(gap_u.max(), gap_v.max()))


def _p_value(u: FloatArray, v: FloatArray, d: float, *, exact: bool) -> float:
    n, m = u.size, v.size
    if exact and max(n, m) <= KS_EXACT_ROWS:
        # SciPy's own choice (exact here, unless it cannot be computed), as Evidently calls it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(stats.ks_2samp(u, v).pvalue)
    en = n * m / (n + m)
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))
