"""The two-proportion Z-test: by hand and against its formula."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from tests.unit.drift.helpers import PROPERTY, cat, drift, num


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
