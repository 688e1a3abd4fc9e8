"""The Jensen–Shannon distance: by hand, against SciPy for categories and few numeric values,
and Sturges' bins for a numeric column with many values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial import distance

from services.drift.compare import ColumnConfig
from services.drift.stattests.jensenshannon import jensen_shannon
from tests.unit.drift.helpers import PROPERTY, cat, drift, finite_floats, num, samples


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
