"""The chi-square test of current counts against reference shares: by hand and against SciPy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from services.drift.compare import ColumnConfig
from tests.unit.drift.helpers import PROPERTY, cat, drift, num


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
