"""The registry: the rule that picks a test per column, each test's default threshold,
direction at the threshold and the column kinds it can judge."""

from __future__ import annotations

import importlib
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.drift import stattests
from services.drift.compare import ColumnConfig, compare, compare_frames
from services.drift.errors import DriftError
from services.drift.registry import STAT_TESTS, automatic_test, choose_test
from services.drift.samples import CATEGORICAL, NUMERIC
from tests.unit.drift.helpers import NAN, cat, drift, num


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


# --------------------------------------------------------------------------- against the old tables
# The rule and the tables as they were written before the registry existed, kept here as the
# oracle the registry must agree with.

OLD_THRESHOLDS = {"ks": 0.05, "chisquare": 0.05, "z": 0.05, "wasserstein": 0.1,
                  "jensenshannon": 0.1, "psi": 0.1}
OLD_P_VALUE_TESTS = {"ks", "chisquare", "z"}
OLD_ALLOWED = {NUMERIC: set(OLD_THRESHOLDS),
               CATEGORICAL: {"chisquare", "z", "jensenshannon", "psi"}}


def _old_choose_test(kind: str, reference_rows: int, distinct_values: int) -> str:
    if reference_rows <= 1000:
        if kind == NUMERIC and distinct_values > 5:
            return "ks"
        return "chisquare" if distinct_values > 2 else "z"
    if kind == NUMERIC and distinct_values > 5:
        return "wasserstein"
    return "jensenshannon"


def _old_is_drifted(test: str, statistic: float, threshold: float) -> bool:
    if test == "ks":
        return statistic <= threshold
    if test in OLD_P_VALUE_TESTS:
        return statistic < threshold
    return statistic >= threshold


def _old_score(test: str, statistic: float, threshold: float) -> float:
    if test in OLD_P_VALUE_TESTS:
        if threshold >= 1.0:
            return math.inf
        return math.log(max(statistic, 1e-300)) / math.log(threshold)
    return statistic / threshold


#: Every side of every boundary of the rule: 1,000 reference rows, 2 and 5 distinct values.
BOUNDARY_ROWS = (0, 1, 2, 999, 1000, 1001, 1002, 10**6)
BOUNDARY_DISTINCT = (0, 1, 2, 3, 4, 5, 6, 7, 20, 21, 1000)


@pytest.mark.parametrize("kind", [NUMERIC, CATEGORICAL])
def test_the_rule_agrees_with_the_old_rule_on_every_boundary(kind: Any) -> None:
    for rows, distinct in itertools.product(BOUNDARY_ROWS, BOUNDARY_DISTINCT):
        chosen = choose_test(kind, rows, distinct)
        assert chosen == _old_choose_test(kind, rows, distinct), (kind, rows, distinct)
        assert kind in STAT_TESTS[chosen].kinds, (kind, rows, distinct)


@pytest.mark.parametrize("kind", [NUMERIC, CATEGORICAL])
@pytest.mark.parametrize("rows", [999, 1000, 1001])
@pytest.mark.parametrize("distinct", [1, 2, 3, 5, 6, 7])
def test_the_rule_on_samples_at_the_boundaries(kind: Any, rows: int, distinct: int) -> None:
    # The reference holds every value, so the union has exactly ``distinct`` values.
    values = _repeat(list(range(distinct)), rows)
    if kind == NUMERIC:
        reference, current = num(values), num(values[:10])
    else:
        reference, current = cat([f"v{v}" for v in values]), cat([f"v{v}" for v in values[:10]])
    expected = _old_choose_test(kind, rows, distinct)
    assert automatic_test(reference, current) == expected
    assert drift(reference, current).test == expected


def test_the_metadata_agrees_with_the_old_tables() -> None:
    # Same names in the same order (the order error messages list them in).
    assert list(STAT_TESTS) == list(OLD_THRESHOLDS)
    for name, spec in STAT_TESTS.items():
        assert spec.threshold == OLD_THRESHOLDS[name], name
        assert spec.p_value == (name in OLD_P_VALUE_TESTS), name
        assert set(spec.kinds) == {k for k, tests in OLD_ALLOWED.items() if name in tests}, name
    signs = {name: spec.sign for name, spec in STAT_TESTS.items()}
    assert signs == {"ks": "≤", "chisquare": "<", "z": "<", "wasserstein": "≥",
                     "jensenshannon": "≥", "psi": "≥"}


@pytest.mark.parametrize("threshold", [1e-9, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0])
def test_drift_and_score_agree_with_the_old_rules(threshold: float) -> None:
    figures = [0.0, 1e-320, 1e-300, threshold / 2, threshold, threshold * 2, 0.5, 1.0,
               math.inf, math.nan]
    for name, spec in STAT_TESTS.items():
        for figure in figures:
            where = (name, figure, threshold)
            old_drifted = _old_is_drifted(name, figure, threshold)
            assert spec.drifted(figure, threshold) == old_drifted, where
            new, old = spec.score(figure, threshold), _old_score(name, figure, threshold)
            assert new == old or (math.isnan(new) and math.isnan(old)), where


def test_every_registered_test_has_a_module_in_stattests() -> None:
    folder = Path(stattests.__file__).parent
    modules = {path.stem for path in folder.glob("*.py") if path.stem != "__init__"}
    registered = set()
    for name, spec in STAT_TESTS.items():
        module = importlib.import_module(spec.compute.__module__)
        assert module.__name__ == f"{stattests.__name__}.{name}", name
        assert Path(str(module.__file__)).parent == folder, name
        assert module.compute is spec.compute, name
        registered.add(name)
    # One test a module, and no module left out of the registry.
    assert registered == modules
