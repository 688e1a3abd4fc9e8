"""Shorthands and Hypothesis strategies shared by the drift engine's unit tests."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from scipy import stats

from services.drift.compare import ColumnDrift, column_drift
from services.drift.samples import Sample, categorical_sample, numeric_sample

NAN = float("nan")
INF = float("inf")
PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

finite_floats = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False,
                          allow_subnormal=False)
tied_floats = st.integers(-3, 3).map(float)
samples = st.lists(st.one_of(finite_floats, tied_floats), min_size=1, max_size=30)
tied_samples = st.lists(tied_floats, min_size=1, max_size=30)


def num(values: Any) -> Sample:
    return numeric_sample(values)


def cat(values: Any) -> Sample:
    return categorical_sample(values)


def drift(reference: Sample, current: Sample, **kwargs: Any) -> ColumnDrift:
    return column_drift("x", reference, current, **kwargs)


def sorted_array(values: list[float]) -> np.ndarray:
    return np.sort(np.asarray(values, dtype=np.float64))


def scipy_ks(u: Any, v: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "exact calculation unsuccessful"
        return stats.ks_2samp(u, v, **kwargs)
