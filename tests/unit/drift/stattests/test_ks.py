"""The two-sample Kolmogorov–Smirnov test: the statistic and its exact p-value by hand, and
agreement with SciPy (exact and asymptotic)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.drift.compare import ColumnConfig
from services.drift.stattests.ks import ks_statistic
from tests.unit.drift.helpers import (
    NAN,
    PROPERTY,
    drift,
    finite_floats,
    num,
    samples,
    scipy_ks,
    sorted_array,
    tied_floats,
)


def test_ks_statistic_by_hand() -> None:
    # x        1    2    3    4    5
    # F_u     1/3  2/3   1    1    1        u = [1, 2, 3]
    # F_v      0   1/4  2/4  3/4   1        v = [2, 3, 4, 5]
    # gap     1/3  5/12 1/2  1/4   0   ->  D = 1/2 (at x = 3)
    assert ks_statistic(sorted_array([1, 2, 3]), sorted_array([2, 3, 4, 5])) == 0.5
    assert ks_statistic(sorted_array([2, 3, 4, 5]), sorted_array([1, 2, 3])) == 0.5
    # Ties inside a sample: u = [1, 1, 2], v = [1, 2, 2]: at 1, 2/3 vs 1/3 -> D = 1/3.
    assert ks_statistic(sorted_array([1, 1, 2]), sorted_array([1, 2, 2])) == pytest.approx(1 / 3)
    # Identical samples: 0; disjoint samples: 1.
    assert ks_statistic(sorted_array([1, 2]), sorted_array([1, 2])) == 0.0
    assert ks_statistic(sorted_array([1, 2]), sorted_array([3])) == 1.0


def _exact_ks_p_value(n: int, m: int, d: float) -> float:
    """Permutation distribution of D: every way to interleave n u's and m v's is equally
    likely (no ties), p = share of interleavings whose largest CDF gap reaches d."""
    hits = total = 0
    for u_positions in itertools.combinations(range(n + m), n):
        chosen = set(u_positions)
        fu = fv = 0
        gap = 0.0
        for k in range(n + m):
            if k in chosen:
                fu += 1
            else:
                fv += 1
            gap = max(gap, abs(fu / n - fv / m))
        total += 1
        hits += gap >= d - 1e-12
    return hits / total


def test_ks_p_value_by_enumerating_interleavings() -> None:
    # [1, 2, 3] vs [4 .. 7]: D = 1, reached only by the 2 fully separated orders of the
    # C(7, 3) = 35, so p = 2/35 = 0.057 > 0.05 -> not drifted.
    result = drift(num([1, 2, 3]), num([4, 5, 6, 7]))
    assert result.test == "ks"
    assert _exact_ks_p_value(3, 4, 1.0) == pytest.approx(2 / 35)
    assert result.statistic == pytest.approx(2 / 35, rel=1e-9)
    assert not result.drifted
    # [1 .. 4] vs [5 .. 8]: p = 2 / C(8, 4) = 2/70 = 0.029 -> drifted.
    result = drift(num([1, 2, 3, 4]), num([5, 6, 7, 8]))
    assert result.statistic == pytest.approx(2 / 70, rel=1e-9)
    assert result.drifted
    # [1, 3, 5, 7, 9] vs [2, 4, 6, 8, 10, 12]: D = 2/6 ... computed from all 462 orders.
    u, v = [1, 3, 5, 7, 9], [2, 4, 6, 8, 10, 12]
    d = ks_statistic(sorted_array(u), sorted_array(v))
    assert d == pytest.approx(1 / 3)  # at x = 11: F_u = 1, F_v = 5/6 ... at x = 1: 1/5
    assert drift(num(u), num(v)).statistic == pytest.approx(_exact_ks_p_value(5, 6, d), rel=1e-9)


@PROPERTY
@given(samples, samples)
def test_ks_statistic_matches_scipy(u: list[float], v: list[float]) -> None:
    expected = scipy_ks(u, v, method="asymp").statistic  # the statistic does not depend on it
    assert ks_statistic(sorted_array(u), sorted_array(v)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # SciPy's kstwo at n = 0
@PROPERTY
@given(
    st.lists(st.one_of(finite_floats, tied_floats, st.just(NAN)), min_size=1, max_size=40),
    st.lists(st.one_of(finite_floats, tied_floats, st.just(NAN)), min_size=1, max_size=40),
)
def test_ks_p_value_matches_scipy(u: list[float], v: list[float]) -> None:
    ref, cur = num(u), num(v)
    clean_u = [x for x in u if not math.isnan(x)]
    clean_v = [x for x in v if not math.isnan(x)]
    if not clean_u or not clean_v:
        assert drift(ref, cur, config=ColumnConfig(test="ks")).statistic is None
        return
    exact = drift(ref, cur, config=ColumnConfig(test="ks"))
    assert exact.statistic == pytest.approx(scipy_ks(clean_u, clean_v).pvalue, rel=1e-12)
    assert exact.drifted == (exact.statistic <= 0.05)
    asymp = drift(ref, cur, config=ColumnConfig(test="ks"), exact_ks=False)
    with np.errstate(divide="ignore"):
        expected = scipy_ks(clean_u, clean_v, method="asymp").pvalue
    if math.isnan(expected):  # one value on each side: n m / (n + m) rounds to 0
        assert asymp.statistic is not None
        assert math.isnan(asymp.statistic)
        assert not asymp.drifted
        return
    assert asymp.statistic == pytest.approx(expected, rel=1e-12, abs=1e-300)
