"""The population stability index: quantile bins, an empty bin and one bin per value, by hand
and against its formula."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.drift.compare import ColumnConfig
from services.drift.stattests.psi import psi
from tests.unit.drift.helpers import PROPERTY, cat, drift, finite_floats, num, samples


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
