"""Column and dataset verdicts: configuration, edge cases that must give a verdict rather
than a crash, the dataset's share and JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from services.drift.compare import ColumnConfig, ColumnDrift, DatasetDrift, compare, compare_frames
from services.drift.errors import DriftError
from services.drift.samples import NUMERIC, Sample
from tests.unit.drift.helpers import INF, NAN, cat, drift, num


def test_column_config_validation() -> None:
    with pytest.raises(DriftError, match="unknown drift test 'kl'"):
        ColumnConfig(test="kl")
    for bad in (0.0, -0.1, INF, NAN):
        with pytest.raises(DriftError, match="positive number"):
            ColumnConfig(threshold=bad)


def test_kinds_must_match() -> None:
    with pytest.raises(DriftError, match="numeric in the reference and categorical"):
        drift(num([1]), cat(["1"]))


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
