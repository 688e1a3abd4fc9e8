"""The normed Wasserstein distance: by hand, with ties and a constant reference, and against
SciPy (both the float and the integer arithmetic)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from services.drift.stattests import wasserstein as wasserstein_module
from services.drift.stattests.wasserstein import wasserstein_distance, wasserstein_normed
from tests.unit.drift.helpers import (
    PROPERTY,
    finite_floats,
    samples,
    sorted_array,
    tied_floats,
    tied_samples,
)


def test_wasserstein_by_hand_with_unequal_sizes() -> None:
    # u = [0, 1, 3], v = [5, 9]. Integral of |F_u - F_v| over x:
    #   [0, 1): |1/3 - 0| * 1 = 1/3     [1, 3): |2/3 - 0| * 2 = 4/3
    #   [3, 5): |1 - 0| * 2  = 2        [5, 9): |1 - 1/2| * 4 = 2        -> W = 17/3
    u, v = sorted_array([0, 1, 3]), sorted_array([5, 9])
    assert wasserstein_distance(u, v) == pytest.approx(17 / 3, rel=1e-12)
    assert wasserstein_distance(v, u) == pytest.approx(17 / 3, rel=1e-12)
    # std of u (population): mean 4/3, squared deviations 16/9 + 1/9 + 25/9 = 42/9, / 3
    # -> 14/9, std = sqrt(14)/3; normed W = (17/3) / (sqrt(14)/3) = 17/sqrt(14).
    assert wasserstein_normed(u, v) == pytest.approx(17 / math.sqrt(14), rel=1e-12)


def test_wasserstein_by_hand_with_ties_and_equal_sizes() -> None:
    # u = [1, 1, 2, 5], v = [1, 3, 3, 3]: equal sizes, sorted pairs |1-1| + |1-3| + |2-3|
    # + |5-3| = 5, over 4 -> 1.25.
    assert wasserstein_distance(sorted_array([1, 1, 2, 5]), sorted_array([1, 3, 3, 3])) == 1.25
    # u = [2, 2], v = [2, 2, 2, 8]: F_u - F_v is 1 - 3/4 on [2, 8) -> 6/4 = 1.5.
    assert wasserstein_distance(sorted_array([2, 2]), sorted_array([2, 2, 2, 8])) == 1.5


def test_wasserstein_norm_is_floored_for_a_constant_reference() -> None:
    # std 0 -> divided by 0.001: W([3, 3], [4]) = 1 -> 1000.
    assert wasserstein_normed(sorted_array([3, 3]), sorted_array([4])) == pytest.approx(1000)


@PROPERTY
@given(samples, samples)
def test_wasserstein_matches_scipy(u: list[float], v: list[float]) -> None:
    expected = stats.wasserstein_distance(u, v)
    got = wasserstein_distance(sorted_array(u), sorted_array(v))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # The integer-arithmetic path (used when n * m is too large for exact floats) agrees.
    if len(u) != len(v):
        integer = wasserstein_module._wasserstein_int(sorted_array(u), sorted_array(v))
        assert integer == pytest.approx(expected, rel=1e-9, abs=1e-9)
    normed = wasserstein_normed(sorted_array(u), sorted_array(v))
    assert normed == pytest.approx(expected / max(float(np.std(u)), 0.001), rel=1e-9, abs=1e-9)


def _equal_size_pair(size: int) -> Any:
    values = st.lists(st.one_of(finite_floats, tied_floats), min_size=size, max_size=size)
    return st.tuples(values, values)


@PROPERTY
@given(st.integers(1, 30).flatmap(_equal_size_pair))
def test_wasserstein_matches_scipy_with_equal_sizes(pair: tuple[list[float], list[float]]) -> None:
    u, v = pair
    expected = stats.wasserstein_distance(u, v)
    got = wasserstein_distance(sorted_array(u), sorted_array(v))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


@PROPERTY
@given(tied_samples, tied_samples)
def test_wasserstein_matches_scipy_with_repeated_values(u: list[float], v: list[float]) -> None:
    expected = stats.wasserstein_distance(u, v)
    assert wasserstein_distance(sorted_array(u), sorted_array(v)) == pytest.approx(
        expected, rel=1e-9, abs=1e-9
    )
