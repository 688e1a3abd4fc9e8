"""The drift engine: every statistic worked by hand, agreement with SciPy, the rule that
picks a test, and the edge cases that must give a verdict rather than a crash."""

from __future__ import annotations

import itertools
import json
import math
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from services.drift import compare as drift_module
from services.drift.compare import (
    CATEGORICAL,
    NUMERIC,
    ColumnConfig,
    ColumnDrift,
    DatasetDrift,
    DriftError,
    Sample,
    categorical_sample,
    choose_test,
    column_drift,
    compare,
    compare_frames,
    jensen_shannon,
    ks_statistic,
    numeric_sample,
    psi,
    wasserstein_distance,
    wasserstein_normed,
)

NAN = float("nan")
INF = float("inf")
PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


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


# --------------------------------------------------------------------------- by hand


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


def test_chi_square_by_hand() -> None:
    # reference a 6, b 3, c 1 (10), current a 2, b 4, c 4 (10): expected 6, 3, 1;
    # chi2 = 16/6 + 1/3 + 9/1 = 12 with 2 degrees of freedom; for 2 d.f. sf(x) = e^(-x/2).
    reference = cat(["a"] * 6 + ["b"] * 3 + ["c"])
    current = cat(["a"] * 2 + ["b"] * 4 + ["c"] * 4)
    result = drift(reference, current)
    assert result.test == "chisquare"
    assert result.statistic == pytest.approx(math.exp(-6), rel=1e-9)
    assert result.statistic == pytest.approx(stats.chi2.sf(12.0, 2), rel=1e-9)
    assert result.drifted
    # score = log p / log 0.05 = 6 / ln 20
    assert result.score == pytest.approx(6 / math.log(20), rel=1e-9)


def test_chi_square_scales_the_reference_to_the_current_total() -> None:
    # reference a 4, b 4, c 2 (10), current a 5, b 5, c 10 (20): expected 8, 8, 4;
    # chi2 = 9/8 + 9/8 + 36/4 = 11.25, p = e^(-5.625) = 0.0036.
    reference = cat(["a"] * 4 + ["b"] * 4 + ["c"] * 2)
    current = cat(["a"] * 5 + ["b"] * 5 + ["c"] * 10)
    assert drift(reference, current).statistic == pytest.approx(math.exp(-5.625), rel=1e-9)
    # A numeric column with 3 values is tested the same way (values 0, 1, 2).
    result = drift(num([0] * 4 + [1] * 4 + [2] * 2), num([0] * 5 + [1] * 5 + [2] * 10))
    assert result.test == "chisquare"
    assert result.statistic == pytest.approx(stats.chi2.sf(11.25, 2), rel=1e-9)


def test_z_test_by_hand() -> None:
    # reference 0 x 6, 1 x 4 (share of 1: 0.4); current 0 x 2, 1 x 8 (0.8).
    # pooled 12/20 = 0.6, spread sqrt(0.6 * 0.4 * (1/10 + 1/10)) = sqrt(0.048);
    # z = -0.4 / sqrt(0.048) = -1.8257, p = 2 * sf(1.8257) = 0.0679 -> not drifted.
    result = drift(num([0] * 6 + [1] * 4), num([0] * 2 + [1] * 8))
    assert result.test == "z"
    z = 0.4 / math.sqrt(0.048)
    assert result.statistic == pytest.approx(2 * stats.norm.sf(z), rel=1e-9)
    assert result.statistic == pytest.approx(0.0679, abs=5e-4)
    assert not result.drifted
    # 0.2 vs 0.8: pooled 0.5, spread sqrt(0.25 * 0.2) = sqrt(0.05), z = 0.6 / sqrt(0.05)
    # = 2.683, p = 0.0073 -> drifted. Same for a categorical yes/no column.
    result = drift(cat(["no"] * 8 + ["yes"] * 2), cat(["no"] * 2 + ["yes"] * 8))
    assert result.test == "z"
    assert result.statistic == pytest.approx(2 * stats.norm.sf(0.6 / math.sqrt(0.05)), rel=1e-9)
    assert result.drifted


def test_jensen_shannon_by_hand() -> None:
    # P = (1/2, 1/2, 0), Q = (0, 1/2, 1/2), M = (1/4, 1/2, 1/4).
    # KL(P||M) = 1/2 ln 2 + 1/2 ln 1 = ln2 / 2 = KL(Q||M); JS divergence = ln2 / 2,
    # distance = sqrt(ln 2 / 2) = 0.5887.
    expected = math.sqrt(math.log(2) / 2)
    assert jensen_shannon(cat(["a", "b"]), cat(["b", "c"])) == pytest.approx(expected)
    # Through the rule: a categorical column with more than 1,000 reference rows.
    result = drift(cat(["a"] * 600 + ["b"] * 600), cat(["b"] * 600 + ["c"] * 600))
    assert result.test == "jensenshannon"
    assert result.statistic == pytest.approx(expected)
    assert result.drifted
    assert result.score == pytest.approx(expected / 0.1)
    # Disjoint: sqrt(ln 2) (the maximum with natural logs); identical: 0.
    assert jensen_shannon(cat(["a"]), cat(["b"])) == pytest.approx(math.sqrt(math.log(2)))
    assert jensen_shannon(cat(["a", "b"]), cat(["b", "a"])) == 0.0


def test_psi_with_quantile_bins_and_an_empty_bin_by_hand() -> None:
    # reference 1 .. 20 (20 distinct values > 10 -> quantile bins). Cut points at
    # q = k/10, linear: position 19q -> 2.9, 4.8, 6.7, 8.6, 10.5, 12.4, 14.3, 16.2, 18.1,
    # so each of the ten bins holds two reference values: every share 0.1.
    reference = num(range(1, 21))
    # current 3 .. 20 plus two more 20s: first bin (<= 2.9) empty -> 0.0001;
    # bins 2..9 hold two each (0.1); last bin (> 18.1) holds 19, 20, 20, 20 -> 0.2.
    current = num([*range(3, 21), 20, 20])
    expected = (1e-4 - 0.1) * math.log(1e-4 / 0.1) + (0.2 - 0.1) * math.log(0.2 / 0.1)
    assert psi(reference, current) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.7594, abs=1e-4)
    # Same sample: 0.
    assert psi(reference, num(range(1, 21))) == 0.0


def test_psi_one_bin_per_value_for_few_values_and_categories() -> None:
    # reference a 1/2, b 1/2; current a 1/4, b 3/4:
    # (1/4 - 1/2) ln(1/2) + (3/4 - 1/2) ln(3/2)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert psi(cat(["a", "b"]), cat(["a", "b", "b", "b"])) == pytest.approx(expected)
    assert psi(num([1, 2]), num([1, 2, 2, 2])) == pytest.approx(expected)
    result = drift(cat(["a", "b"]), cat(["a", "b", "b", "b"]), config=ColumnConfig(test="psi"))
    assert result.statistic == pytest.approx(expected)
    assert result.psi == result.statistic
    assert result.drifted == (expected >= 0.1)


# --------------------------------------------------------------------------- against SciPy

finite_floats = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False,
                          allow_subnormal=False)
tied_floats = st.integers(-3, 3).map(float)
samples = st.lists(st.one_of(finite_floats, tied_floats), min_size=1, max_size=30)
tied_samples = st.lists(tied_floats, min_size=1, max_size=30)


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


@PROPERTY
@given(samples, samples)
def test_wasserstein_matches_scipy(u: list[float], v: list[float]) -> None:
    expected = stats.wasserstein_distance(u, v)
    got = wasserstein_distance(sorted_array(u), sorted_array(v))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # The integer-arithmetic path (used when n * m is too large for exact floats) agrees.
    if len(u) != len(v):
        integer = drift_module._wasserstein_int(sorted_array(u), sorted_array(v))
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


@PROPERTY
@given(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=60),
       st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=60))
def test_jensen_shannon_matches_scipy_for_categories(u: list[str], v: list[str]) -> None:
    keys = sorted(set(u) | set(v))
    p = [u.count(k) for k in keys]
    q = [v.count(k) for k in keys]
    expected = distance.jensenshannon(p, q)
    got = jensen_shannon(cat(u), cat(v))
    assert got == pytest.approx(expected, abs=1e-7)  # scipy's sqrt of a tiny rounding error
    result = drift(cat(u), cat(v), config=ColumnConfig(test="jensenshannon"))
    assert result.statistic == got
    assert result.drifted == (got >= 0.1)


@PROPERTY
@given(st.lists(st.integers(0, 12), min_size=1, max_size=60),
       st.lists(st.integers(-2, 12), min_size=1, max_size=60))
def test_jensen_shannon_matches_scipy_for_few_numeric_values(u: list[int], v: list[int]) -> None:
    # At most 20 distinct reference values: shares of each value, not bins.
    keys = np.union1d(u, v)
    p = [u.count(k) for k in keys]
    q = [v.count(k) for k in keys]
    got = drift(num(u), num(v), config=ColumnConfig(test="jensenshannon")).statistic
    assert got == pytest.approx(distance.jensenshannon(p, q), abs=1e-7)


@PROPERTY
@given(st.lists(finite_floats, min_size=21, max_size=50, unique=True), samples)
def test_jensen_shannon_bins_a_numeric_column_in_sturges_bins(
    u: list[float], v: list[float]
) -> None:
    # More than 20 distinct reference values: Sturges' bins of both samples together.
    edges = np.histogram_bin_edges(np.concatenate([u, v]), "sturges")
    p = np.histogram(u, edges)[0]
    q = np.histogram(v, edges)[0]
    got = drift(num(u), num(v), config=ColumnConfig(test="jensenshannon")).statistic
    assert got == pytest.approx(distance.jensenshannon(p, q), abs=1e-7)


def test_jensen_shannon_sturges_bins_by_hand() -> None:
    # reference 0 .. 20 (21 values), current 20 x 11: 32 values, log2(32) + 1 = 6 bins
    # over [0, 20]: edges 0, 10/3, 20/3, 10, 40/3, 50/3, 20.
    # reference counts 4, 3, 3, 4, 3, 4 (last bin closed: 17, 18, 19, 20) -> shares /21;
    # current: all in the last bin.
    p = np.array([4, 3, 3, 4, 3, 4]) / 21
    q = np.array([0, 0, 0, 0, 0, 1.0])
    m = (p + q) / 2
    kl_p = sum(pi * math.log(pi / mi) for pi, mi in zip(p, m, strict=True) if pi > 0)
    kl_q = math.log(1 / m[-1])
    expected = math.sqrt((kl_p + kl_q) / 2)
    got = drift(num(range(21)), num([20] * 11), config=ColumnConfig(test="jensenshannon"))
    assert got.statistic == pytest.approx(expected, rel=1e-12)


@PROPERTY
@given(st.lists(st.sampled_from("abcd"), min_size=1, max_size=60),
       st.lists(st.sampled_from("abcde"), min_size=1, max_size=60))
def test_chi_square_matches_scipy(u: list[str], v: list[str]) -> None:
    keys = sorted(set(u) | set(v))
    f_obs = np.array([v.count(k) for k in keys], dtype=float)
    f_exp = np.array([u.count(k) for k in keys], dtype=float) * len(v) / len(u)
    result = drift(cat(u), cat(v), config=ColumnConfig(test="chisquare"))
    if len(keys) < 2:
        assert result.statistic == 1.0
        return
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = stats.chisquare(f_obs, f_exp).pvalue
    assert result.statistic == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert result.drifted == (result.statistic < 0.05)


@PROPERTY
@given(st.lists(st.sampled_from(["x", "y"]), min_size=1, max_size=60),
       st.lists(st.sampled_from(["x", "y"]), min_size=1, max_size=60))
def test_z_test_matches_the_two_proportion_formula(u: list[str], v: list[str]) -> None:
    result = drift(cat(u), cat(v))
    assert result.test == "z"
    if len(set(u) | set(v)) < 2:
        assert result.statistic == 1.0
        assert not result.drifted
        return
    n1, n2 = len(u), len(v)
    p1, p2 = u.count("y") / n1, v.count("y") / n2
    pooled = (u.count("y") + v.count("y")) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    expected = 2 * stats.norm.sf(abs(z))
    assert result.statistic == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert result.drifted == (expected < 0.05)


@PROPERTY
@given(st.lists(finite_floats, min_size=11, max_size=60, unique=True), samples)
def test_psi_matches_its_formula_on_numpy_quantile_bins(u: list[float], v: list[float]) -> None:
    # Ten bins cut at the reference's deciles (duplicates merged), closed on the right.
    cuts = np.unique(np.quantile(u, np.arange(1, 10) / 10))
    edges = np.concatenate([[-np.inf], cuts, [np.inf]])

    def shares(values: list[float]) -> np.ndarray:
        counts = [sum(1 for x in values if lo < x <= hi)
                  for lo, hi in itertools.pairwise(edges)]
        return np.maximum(np.array(counts) / len(values), 1e-4)

    ref, cur = shares(u), shares(v)
    expected = float(np.sum((cur - ref) * np.log(cur / ref)))
    assert psi(num(u), num(v)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("kind", "rows", "distinct", "expected"),
    [
        (NUMERIC, 1000, 6, "ks"),
        (NUMERIC, 1001, 6, "wasserstein"),
        (NUMERIC, 1000, 5, "chisquare"),
        (NUMERIC, 1000, 3, "chisquare"),
        (NUMERIC, 1001, 5, "jensenshannon"),
        (NUMERIC, 1001, 3, "jensenshannon"),
        (NUMERIC, 1000, 2, "z"),
        (NUMERIC, 1000, 1, "z"),
        (NUMERIC, 1001, 2, "jensenshannon"),
        (CATEGORICAL, 1000, 50, "chisquare"),
        (CATEGORICAL, 1000, 3, "chisquare"),
        (CATEGORICAL, 1000, 2, "z"),
        (CATEGORICAL, 1001, 50, "jensenshannon"),
        (CATEGORICAL, 1001, 2, "jensenshannon"),
        (NUMERIC, 1, 1, "z"),
    ],
)
def test_choose_test(kind: Any, rows: int, distinct: int, expected: str) -> None:
    assert choose_test(kind, rows, distinct) == expected


def _repeat(values: list[Any], rows: int) -> list[Any]:
    return [values[i % len(values)] for i in range(rows)]


@pytest.mark.parametrize(
    ("distinct", "small", "large"),
    [(6, "ks", "wasserstein"), (5, "chisquare", "jensenshannon"),
     (3, "chisquare", "jensenshannon"), (2, "z", "jensenshannon"),
     (1, "z", "jensenshannon")],
)
def test_the_rule_through_column_drift(distinct: int, small: str, large: str) -> None:
    values = [float(v) for v in range(distinct)]
    current = num(values)
    # 1,000 values plus missing ones still count as 1,000 rows.
    assert drift(num(_repeat(values, 1000) + [NAN] * 50 + [None]), current).test == small
    assert drift(num(_repeat(values, 1001)), current).test == large


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 8), min_size=1, max_size=12), st.integers(1, 1100),
       st.lists(st.integers(0, 8), min_size=1, max_size=12), st.booleans())
def test_the_rule_matches_choose_test_on_the_union(
    u: list[int], rows: int, v: list[int], categorical: bool
) -> None:
    reference_values = _repeat(u, rows)
    if categorical:
        result = drift(cat([str(x) for x in reference_values]), cat([str(x) for x in v]))
    else:
        result = drift(num(reference_values), num(v))
    kind = CATEGORICAL if categorical else NUMERIC
    assert result.test == choose_test(kind, rows, len(set(reference_values) | set(v)))
    assert result.reference_rows == rows


def test_distinct_values_are_counted_over_both_samples() -> None:
    # Reference has 5 values, the current brings a 6th: 6 together -> KS, not chi-square.
    reference = num([1, 2, 3, 4, 5] * 4)
    assert drift(reference, num([1, 2, 3])).test == "chisquare"
    assert drift(reference, num([1, 2, 6])).test == "ks"
    # Two values on each side but three together -> chi-square.
    assert drift(num([0, 1] * 5), num([1, 2] * 5)).test == "chisquare"
    assert drift(num([0, 1] * 5), num([0, 1] * 5)).test == "z"
    # Categorical: 2 + 1 new -> chi-square; large reference -> Jensen–Shannon.
    assert drift(cat(["a", "b"] * 5), cat(["c"])).test == "chisquare"
    assert drift(cat(["a", "b"] * 501), cat(["c"])).test == "jensenshannon"
    # Many categories stay chi-square (KS never judges a category).
    assert drift(cat([str(i) for i in range(40)]), cat(["1", "2"])).test == "chisquare"


def test_the_rule_through_compare_frames() -> None:
    rng = np.random.default_rng(3)
    small = pd.DataFrame({
        "amount": rng.normal(size=200),
        "plan": rng.choice(["basic", "pro", "max"], size=200),
        "flag": rng.choice([True, False], size=200),
        "stars": rng.integers(1, 6, size=200),      # 5 values: numeric but few
        "code": rng.integers(1, 6, size=200),       # listed as categorical
    })
    result = compare_frames(small, small.copy(), categorical=["code"])
    assert {c.column: (c.kind, c.test) for c in result.columns} == {
        "amount": (NUMERIC, "ks"),
        "plan": (CATEGORICAL, "chisquare"),
        "flag": (CATEGORICAL, "z"),
        "stars": (NUMERIC, "chisquare"),
        "code": (CATEGORICAL, "chisquare"),
    }
    assert not result.drifted
    big = small.sample(1500, replace=True, random_state=1).reset_index(drop=True)
    result = compare_frames(big, small, categorical=["code"])
    assert [c.test for c in result.columns] == [
        "wasserstein", "jensenshannon", "jensenshannon", "jensenshannon", "jensenshannon"
    ]


def test_drift_direction_at_the_threshold() -> None:
    # With the threshold set to the statistic itself: KS drifts (p <= threshold),
    # chi-square and Z do not (p < threshold), distances do (>=); the score is 1.
    cases = [
        (num([1, 2, 3, 4]), num([3, 5, 6, 7, 8]), "ks", True),
        (cat(["a"] * 6 + ["b"] * 3 + ["c"]), cat(["a", "b", "c"] * 3), "chisquare", False),
        (cat(["a"] * 6 + ["b"] * 4), cat(["a"] * 3 + ["b"] * 7), "z", False),
        (num([1, 2, 3, 4]), num([3, 5, 6, 7, 8]), "wasserstein", True),
        (cat(["a"] * 6 + ["b"] * 4), cat(["a"] * 3 + ["b"] * 7), "jensenshannon", True),
        (cat(["a"] * 6 + ["b"] * 4), cat(["a"] * 3 + ["b"] * 7), "psi", True),
    ]
    for reference, current, test, drifted_at_threshold in cases:
        first = drift(reference, current, config=ColumnConfig(test=test))
        assert first.test == test
        assert first.statistic is not None
        assert first.statistic > 0, test
        at = drift(reference, current, config=ColumnConfig(test=test, threshold=first.statistic))
        assert at.threshold == first.statistic
        assert at.drifted is drifted_at_threshold, test
        assert at.score == pytest.approx(1.0), test
        # A stricter threshold flips a p-value test to "not drifted", a distance likewise.
        stricter = first.statistic / 2 if test in ("ks", "chisquare", "z") else first.statistic * 2
        assert not drift(reference, current,
                         config=ColumnConfig(test=test, threshold=stricter)).drifted, test


def test_default_thresholds_and_config_override() -> None:
    # Z-test p = 0.0679 (worked above): not drifted at 0.05, drifted at 0.1.
    reference, current = num([0] * 6 + [1] * 4), num([0] * 2 + [1] * 8)
    assert drift(reference, current).threshold == 0.05
    result = drift(reference, current, config=ColumnConfig(threshold=0.1))
    assert (result.test, result.threshold, result.drifted) == ("z", 0.1, True)
    assert result.score == pytest.approx(math.log(result.statistic) / math.log(0.1))
    # The override reaches the column through compare().
    dataset = compare({"a": reference, "b": reference}, {"a": current, "b": current},
                      config={"a": ColumnConfig(threshold=0.1)})
    assert [c.drifted for c in dataset.columns] == [True, False]
    # Distances default to 0.1.
    big = cat(["a"] * 600 + ["b"] * 600)
    assert drift(big, big).threshold == 0.1


def test_a_test_that_cannot_judge_a_category_raises() -> None:
    for test in ("ks", "wasserstein"):
        with pytest.raises(DriftError, match=f"{test}.*categorical column 'x'"):
            drift(cat(["a", "b"]), cat(["a"]), config=ColumnConfig(test=test))
    with pytest.raises(DriftError, match="'ks' cannot judge"):
        compare({"x": cat(["a"])}, {"x": cat(["a"])}, config={"x": ColumnConfig(test="ks")})
    # ... even when a side is empty.
    with pytest.raises(DriftError):
        drift(cat([None]), cat(["a"]), config=ColumnConfig(test="wasserstein"))
    # Every test judges numbers.
    for test in ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"):
        assert drift(num([1, 2, 3]), num([2, 3]), config=ColumnConfig(test=test)).tested


def test_column_config_validation() -> None:
    with pytest.raises(DriftError, match="unknown drift test 'kl'"):
        ColumnConfig(test="kl")
    for bad in (0.0, -0.1, INF, NAN):
        with pytest.raises(DriftError, match="positive number"):
            ColumnConfig(threshold=bad)


def test_kinds_must_match() -> None:
    with pytest.raises(DriftError, match="numeric in the reference and categorical"):
        drift(num([1]), cat(["1"]))


# --------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("rows", [10, 1500])
def test_a_constant_column(rows: int) -> None:
    same = drift(num([3.0] * rows), num([3.0] * 7))
    assert same.tested
    assert not same.drifted
    assert same.psi == 0.0
    assert same.statistic == (1.0 if rows <= 1000 else 0.0)
    other = drift(num([3.0] * rows), num([4.0] * 7))
    assert other.drifted
    assert other.psi is not None
    assert math.isfinite(other.psi)
    # Every test survives a constant reference.
    for test in ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"):
        result = drift(num([3.0] * rows), num([4.0] * 7), config=ColumnConfig(test=test))
        assert result.drifted, test
        assert result.score is not None
        assert math.isfinite(result.score), test
        assert not drift(num([3.0] * rows), num([3.0] * 7), config=ColumnConfig(test=test)).drifted


def test_a_single_category() -> None:
    for rows in (10, 1500):
        result = drift(cat(["a"] * rows), cat(["a"] * 3))
        assert result.tested
        assert not result.drifted
        assert result.psi == 0.0
        assert result.new_categories == ()
    assert drift(cat(["a"] * 10), cat(["a"]), config=ColumnConfig(test="chisquare")).statistic == 1


@pytest.mark.parametrize(
    ("reference", "current", "side"),
    [
        (num([NAN, None, INF]), num([1, 2]), "reference"),
        (num([1, 2]), num([NAN, -INF]), "current sample"),
        (cat([None, NAN]), cat(["a"]), "reference"),
        (cat(["a"]), cat([None]), "current sample"),
        (num([]), num([1]), "reference"),
    ],
)
def test_no_values_on_one_side_is_not_tested(reference: Sample, current: Sample,
                                             side: str) -> None:
    result = drift(reference, current)
    assert not result.tested
    assert result.statistic is None
    assert result.score is None
    assert result.psi is None
    assert not result.drifted
    assert result.note == f"not tested: no values in the {side}"
    json.dumps(result.to_json(), allow_nan=False)


def test_a_category_only_in_the_current_window() -> None:
    reference = cat(["a"] * 5 + ["b"] * 5)
    current = cat(["a"] * 4 + ["b"] * 4 + ["c", "d"])
    result = drift(reference, current)
    assert result.new_categories == ("c", "d")
    assert result.test == "chisquare"
    assert result.statistic == 0.0
    assert result.drifted
    assert result.score is not None
    assert math.isfinite(result.score)
    # PSI with c and d floored at 0.0001 in the reference:
    # 2 * (0.4 - 0.5) ln(0.8) + 2 * (0.1 - 0.0001) ln(0.1 / 0.0001)
    expected = 2 * (-0.1) * math.log(0.8) + 2 * (0.1 - 1e-4) * math.log(1000)
    assert result.psi == pytest.approx(expected)
    assert "2 categories not in the reference" in result.note
    assert "1 category not" in drift(reference, cat(["a", "e"])).note


def test_missing_values_are_counted_and_left_out() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    sample = num([*values, NAN, None, INF, -INF])
    assert (sample.missing, sample.size) == (4, 7)
    assert sample.values.tolist() == values
    clean = drift(num(values), num([2.0, 4.0, 8.0, 9.0]))
    dirty = drift(sample, num([2.0, NAN, 4.0, 8.0, 9.0]))
    assert dirty.statistic == clean.statistic
    assert dirty.psi == clean.psi
    assert (dirty.reference_missing, dirty.current_missing) == (4, 1)
    assert (dirty.reference_rows, dirty.current_rows) == (7, 4)
    assert dirty.note == "missing values left out: 4 reference, 1 current"
    # Categories: None, NaN, pd.NA and infinities are missing too.
    sample = cat(["a", None, "b", NAN, pd.NA, INF, -INF, "a"])
    assert sample.categories == ("a", "b")
    assert sample.counts.tolist() == [2, 1]
    assert sample.missing == 5


def test_categories_match_whatever_the_column_type() -> None:
    # An integer column listed as categorical turns float in a file where it has a gap;
    # 1 and 1.0 are the same category, not a new one.
    reference = pd.DataFrame({"code": [1, 2, 3] * 10})
    current = pd.DataFrame({"code": [1, 2, 3] * 9 + [None, 1.0, 2.0]})
    assert current["code"].dtype == np.float64
    result = compare_frames(reference, current, categorical=["code"]).column("code")
    assert result.new_categories == ()
    assert not result.drifted
    assert result.current_missing == 1
    assert cat(pd.Series([1.5, 2.0])).categories == ("1.5", "2")


def test_a_value_that_is_not_a_number_in_a_numeric_column() -> None:
    with pytest.raises(DriftError, match="not a number"):
        numeric_sample([1.0, "high", 3.0])
    with pytest.raises(DriftError, match="not a number"):
        numeric_sample([1.0, object()])


def test_mismatched_columns_name_the_columns() -> None:
    ref = {"a": num([1]), "b": num([1]), "c": num([1])}
    with pytest.raises(DriftError, match=r"not in the current sample: b, c\)"):
        compare(ref, {"a": num([1])})
    with pytest.raises(DriftError, match=r"not in the current sample: c; not in the reference: d"):
        compare(ref, {"a": num([1]), "b": num([1]), "d": num([1])})
    frame = pd.DataFrame({"a": [1.0], "b": [2.0]})
    with pytest.raises(DriftError, match=r"only in the reference: b; only in the current file: z"):
        compare_frames(frame, pd.DataFrame({"a": [1.0], "z": [2.0]}))
    with pytest.raises(DriftError, match=r"--categorical names columns the files do not have: q"):
        compare_frames(frame, frame, categorical=["a", "q"])
    # Same columns in another order are fine; the reference's order is kept.
    result = compare_frames(frame, frame[["b", "a"]])
    assert [c.column for c in result.columns] == ["a", "b"]


@pytest.mark.parametrize("share", [0.0, -0.5, 1.01, NAN])
def test_drift_share_out_of_range(share: float) -> None:
    frame = pd.DataFrame({"a": [1.0]})
    with pytest.raises(DriftError, match=r"drift share must be in \(0, 1\]"):
        compare_frames(frame, frame, drift_share=share)
    with pytest.raises(DriftError, match=r"drift share must be in \(0, 1\]"):
        compare({"a": num([1])}, {"a": num([1])}, drift_share=share)


def _dataset(drift_share: float) -> DatasetDrift:
    same, moved = num([0] * 8 + [1] * 2), num([0] * 2 + [1] * 8)
    return compare(
        {"a": same, "b": same, "c": same, "d": same, "e": num([NAN])},
        {"a": moved, "b": moved, "c": same, "d": same, "e": same},
        drift_share=drift_share,
    )


def test_dataset_verdict_counts_tested_columns_only() -> None:
    # a, b drifted; c, d not; e has no reference values: 2 of 4 tested = 0.5.
    dataset = _dataset(0.5)
    assert [c.drifted for c in dataset.columns] == [True, True, False, False, False]
    assert (dataset.tested, dataset.drifted_columns) == (4, 2)
    assert dataset.drifted_share == 0.5
    assert dataset.drifted  # share >= drift_share
    assert not _dataset(0.51).drifted
    assert _dataset(0.1).drifted
    assert dataset.column("e").note.startswith("not tested")
    with pytest.raises(KeyError):
        dataset.column("zz")
    # Nothing tested: not drifted, share 0.
    empty = compare({"a": num([NAN])}, {"a": num([1])})
    assert (empty.drifted_share, empty.drifted) == (0.0, False)


def test_to_json_keys_and_strict_json() -> None:
    document = _dataset(0.5).to_json()
    text = json.dumps(document, allow_nan=False)
    assert json.loads(text) == document
    for column in document["columns"]:
        assert {"column", "test", "statistic", "threshold", "drifted", "psi"} <= set(column)
    assert [c["column"] for c in document["columns"]] == ["a", "b", "c", "d", "e"]
    assert document["columns"][4]["statistic"] is None
    assert document["dataset"]["drifted_share"] == 0.5
    assert document["dataset"]["drifted"] is True
    assert document["dataset"]["tested_columns"] == 4


def test_to_json_with_infinite_and_nan_figures() -> None:
    # A p-value threshold of 1 gives an infinite score; a hand-built verdict with
    # infinite and NaN figures must still be strict JSON.
    result = drift(cat(["a", "b"] * 5), cat(["a", "b", "c"]), config=ColumnConfig(threshold=1.0))
    assert result.score == INF
    json.dumps(result.to_json(), allow_nan=False)
    odd = ColumnDrift(column="x", kind=NUMERIC, test="psi", statistic=INF, threshold=0.1,
                      drifted=True, score=NAN, psi=-INF, reference_rows=1, current_rows=1,
                      reference_missing=0, current_missing=0)
    document = DatasetDrift(columns=(odd,), drift_share=0.5).to_json()
    text = json.dumps(document, allow_nan=False)
    column = json.loads(text)["columns"][0]
    assert column["statistic"] > 1e308
    assert column["psi"] < -1e308
    assert column["score"] is None


def test_compare_frames_end_to_end_with_gaps_and_new_categories() -> None:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({
        "amount": rng.normal(0, 1, 400),
        "plan": rng.choice(["basic", "pro"], 400),
    })
    current = pd.DataFrame({
        "amount": np.r_[rng.normal(3, 1, 290), [np.nan] * 10],
        "plan": list(rng.choice(["basic", "pro", "max"], 290)) + [None] * 10,
    })
    result = compare_frames(reference, current)
    amount, plan = result.column("amount"), result.column("plan")
    assert (amount.test, amount.drifted, amount.current_missing) == ("ks", True, 10)
    assert (plan.test, plan.new_categories, plan.drifted) == ("chisquare", ("max",), True)
    assert plan.current_missing == 10
    assert result.drifted
    json.dumps(result.to_json(), allow_nan=False)


def test_counter_helper_agrees() -> None:
    # categorical_sample counts match a plain Counter, categories sorted as text.
    values = ["b", "a", "c", "a", 3, "3", None]
    sample = cat(values)
    expected = Counter(str(v) for v in values if v is not None)
    assert dict(zip(sample.categories, sample.counts.tolist(), strict=True)) == expected
    assert list(sample.categories) == sorted(expected)
