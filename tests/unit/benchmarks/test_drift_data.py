"""The drift benchmark's data generator and verdict reading (no Evidently needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchmarks import drift_data, drift_verdicts
from benchmarks.drift_verdicts import Verdict
from services.drift.compare import compare_frames, infer_kinds
from services.drift.samples import NUMERIC

ROWS = 3000


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return drift_data.make_frames(ROWS, seed=11)


def test_columns_shapes_and_dtypes(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = frames
    names = [c.name for c in drift_data.COLUMNS]
    assert len(drift_data.NUMERIC_COLUMNS) == 20
    assert len(drift_data.CATEGORICAL_COLUMNS) == 5
    assert names == [*drift_data.NUMERIC_COLUMNS, *drift_data.CATEGORICAL_COLUMNS]
    for frame in (reference, current):
        assert frame.shape == (ROWS, 25)
        assert list(frame.columns) == names
        for name in drift_data.NUMERIC_COLUMNS:
            assert frame[name].dtype == np.float64
        for name in drift_data.CATEGORICAL_COLUMNS:
            assert frame[name].dtype == object
            assert all(isinstance(v, str) or v is None for v in frame[name])


def test_current_rows_can_differ() -> None:
    reference, current = drift_data.make_frames(500, current_rows=200, seed=1)
    assert (len(reference), len(current)) == (500, 200)


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    first = drift_data.make_frames(1000, seed=5)
    again = drift_data.make_frames(1000, seed=5)
    other = drift_data.make_frames(1000, seed=6)
    for a, b in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert not first[0]["num_00"].equals(other[0]["num_00"])


def test_missing_values_and_new_category_where_promised(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    reference, current = frames
    for frame in (reference, current):
        missing = frame.isna().sum()
        assert set(missing[missing > 0].index) == {"num_18", "cat_4"}
    assert set(current["cat_2"]) - set(reference["cat_2"]) == {"chat"}
    assert set(reference["num_16"]) == {0.0, 1.0, 2.0, 3.0}
    assert set(reference["num_17"]) == {0.0, 1.0, 2.0, 3.0, 4.0}


def test_our_engine_sees_the_promised_kinds(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = frames
    kinds = infer_kinds(frames, list(reference.columns), drift_data.CATEGORICAL_COLUMNS)
    assert [n for n, k in kinds.items() if k == NUMERIC] == list(drift_data.NUMERIC_COLUMNS)
    result = compare_frames(reference, current, categorical=drift_data.CATEGORICAL_COLUMNS)
    assert result.column("num_00").test == "wasserstein"
    assert result.column("num_16").test == "jensenshannon"  # numeric, 4 values
    assert result.column("cat_1").drifted
    assert not result.column("cat_0").drifted


class _Snapshot:
    """What the benchmark reads of an Evidently snapshot: its ``dict()``."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def dict(self) -> dict[str, Any]:
        return self._data


def _value_drift(metric_id: str, column: str, method: str, value: float) -> dict[str, Any]:
    return {"id": metric_id, "config": {"type": "evidently:metric_v2:ValueDrift",
                                        "column": column, "method": method, "threshold": 0.1},
            "value": value}


def _test(metric_id: str, status: str) -> dict[str, Any]:
    return {"id": "drift", "status": status, "metric_config": {
        "metric_id": metric_id, "params": {"type": "evidently:metric_v2:ValueDrift"}}}


def test_evidently_verdicts_read_from_the_snapshot_dict() -> None:
    snapshot = _Snapshot({
        "metrics": [
            {"id": "count", "config": {"type": "evidently:metric_v2:DriftedColumnsCount",
                                       "drift_share": 0.5},
             "value": {"count": 1.0, "share": 0.5}},
            _value_drift("m1", "a", "Wasserstein distance (normed)", 0.31),
            _value_drift("m2", "c", "Jensen-Shannon distance", 0.02),
        ],
        "tests": [
            {"id": "lt", "status": "FAIL", "metric_config": {
                "metric_id": "count",
                "params": {"type": "evidently:metric_v2:DriftedColumnsCount"}}},
            _test("m1", "FAIL"),
            _test("m2", "SUCCESS"),
        ],
    })
    verdicts = drift_verdicts.evidently_verdicts(snapshot)
    assert verdicts.columns["a"] == Verdict("wasserstein", 0.31, 0.1, drifted=True)
    assert verdicts.columns["c"] == Verdict("jensenshannon", 0.02, 0.1, drifted=False)
    assert (verdicts.drifted_columns, verdicts.drifted_share, verdicts.drifted) == (1, 0.5, True)
    assert verdicts.notes == ()
