"""How benchmarks round their figures."""

from __future__ import annotations

from benchmarks.report import rounded


def test_a_ratio_to_the_floor_keeps_three_decimals() -> None:
    figures = rounded({"insert_predictions_ratio_to_raw": 0.54482, "quality_report_warm_s":
                       0.016912, "database_mb": 494.83})
    assert figures == {"insert_predictions_ratio_to_raw": 0.545,
                       "quality_report_warm_s": 0.0169,
                       "database_mb": 494.8}
