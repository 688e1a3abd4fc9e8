"""Normed Wasserstein distance: the Wasserstein-1 (earth mover's) distance of two numeric
samples over the reference's standard deviation, at least 0.001 (as Evidently norms it)."""

from __future__ import annotations

import numpy as np

from services.drift.samples import FloatArray, Sample

__all__ = ["compute", "wasserstein_distance", "wasserstein_normed"]

#: Below this product of the sample sizes the Wasserstein steps are computed in floats.
_EXACT_FLOAT_STEPS = 2**52
#: Smallest standard deviation the distance is divided by (a constant reference).
_STD_FLOOR = 0.001


def compute(reference: Sample, current: Sample, *, exact: bool = True) -> float:
    """The normed Wasserstein distance of two numeric samples (``exact`` does not apply)."""
    return wasserstein_normed(reference.values, current.values)


def wasserstein_normed(u: FloatArray, v: FloatArray) -> float:
    """Wasserstein-1 distance of two sorted samples over the first's standard deviation
    (at least 0.001, as Evidently norms it)."""
    return wasserstein_distance(u, v) / max(float(np.std(u)), _STD_FLOOR)


def wasserstein_distance(u: FloatArray, v: FloatArray) -> float:
    """Wasserstein-1 distance of two sorted, non-empty samples.

    Computed on the quantile functions: ``W = integral over t in (0, 1] of |u(t) - v(t)|``,
    where ``u(t)`` is the ``ceil(t n)``-th smallest value of ``u``. The quantile
    functions step at ``i/n`` and ``j/m``; in units of ``1/(n m)`` those are the integers
    ``i m`` and ``j n``, whose merged order is known in closed form, so no sort is needed.
    With equal sizes it is the mean absolute difference of the sorted samples.
    """
    n, m = u.size, v.size
    if n == m:
        return float(np.mean(np.abs(u - v)))
    if n * m >= _EXACT_FLOAT_STEPS:
        return _wasserstein_int(u, v)
    # The step integers are exact in float64 here, and so are the quotients' floors
    # (a quotient is never within 1/max(n, m) of an integer without being one), so the
    # vectorised float arithmetic gives the integer result without slow integer division.
    i = np.arange(1.0, n + 1.0)
    j = np.arange(1.0, m + 1.0)
    steps_u = i * m
    steps_v = j * n
    merged = np.empty(n + m)
    # A step of u goes after every step of v strictly below it; v's go after u's ties.
    merged[(i - 1.0 + np.floor((steps_u - 1.0) / n)).astype(np.intp)] = steps_u
    merged[(j - 1.0 + np.floor(steps_v / m)).astype(np.intp)] = steps_v
    widths = np.diff(merged, prepend=0.0)
    u_index = (np.ceil(merged / m) - 1.0).astype(np.intp)
    v_index = (np.ceil(merged / n) - 1.0).astype(np.intp)
    gaps = np.abs(u[u_index] - v[v_index])
    return float(np.dot(widths, gaps) / (float(n) * m))


def _wasserstein_int(u: FloatArray, v: FloatArray) -> float:
    """:func:`wasserstein_distance` in integer arithmetic, for sizes whose product float64
    cannot hold exactly."""
    n, m = u.size, v.size
    i = np.arange(1, n + 1, dtype=np.int64)
    j = np.arange(1, m + 1, dtype=np.int64)
    steps_u = i * m
    steps_v = j * n
    merged = np.empty(n + m, dtype=np.int64)
    merged[i - 1 + (steps_u - 1) // n] = steps_u
    merged[j - 1 + steps_v // m] = steps_v
    widths = np.diff(merged, prepend=0).astype(np.float64)
    u_index = (merged + m - 1) // m - 1
    v_index = (merged + n - 1) // n - 1
    gaps = np.abs(u[u_index] - v[v_index])
    return float(np.dot(widths, gaps) / (float(n) * m))
