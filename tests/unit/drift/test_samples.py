"""Samples: missing values counted and left out, categories as text, a value that is not a
number."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from services.drift.errors import DriftError
from services.drift.samples import numeric_sample
from tests.unit.drift.helpers import INF, NAN, cat, drift, num


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


def test_a_value_that_is_not_a_number_in_a_numeric_column() -> None:
    with pytest.raises(DriftError, match="not a number"):
        numeric_sample([1.0, "high", 3.0])
    with pytest.raises(DriftError, match="not a number"):
        numeric_sample([1.0, object()])


def test_counter_helper_agrees() -> None:
    # categorical_sample counts match a plain Counter, categories sorted as text.
    values = ["b", "a", "c", "a", 3, "3", None]
    sample = cat(values)
    expected = Counter(str(v) for v in values if v is not None)
    assert dict(zip(sample.categories, sample.counts.tolist(), strict=True)) == expected
    assert list(sample.categories) == sorted(expected)
