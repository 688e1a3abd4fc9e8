"""The quality-store benchmark still runs end to end (at a tiny size; no speed is asserted)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from benchmarks import quality_store
from db.models import Feedback, Prediction
from db.session import session_scope
from services.quality.report import quality_report


def test_the_generated_store_is_what_the_benchmark_says(engine: Engine) -> None:
    built = quality_store.build(engine, predictions=2000, labelled=600, batch=700,
                                now=datetime.now(UTC))
    assert (built.predictions, built.labelled) == (2000, 600)
    assert sum(built.versions.values()) == 2000
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 2000
        assert session.scalar(select(func.count()).select_from(Feedback)) == 600
    report = quality_report(engine=engine, model=quality_store.MODEL, bootstrap=0)
    assert report.n_labelled == 600
    assert report.accuracy is not None
    assert 0.7 < report.accuracy < 0.95  # 82 % (v1) and 86 % (v2) right by construction


def test_a_tiny_run_measures_everything_and_writes_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "quality_store.json"
    assert quality_store.main(["--predictions", "2000", "--labelled", "600", "--runs", "1",
                               "--output", str(output)]) == 0
    figures = json.loads(output.read_text(encoding="utf-8"))
    assert (figures["predictions"], figures["labelled"]) == (2000, 600)
    for key in ("insert_predictions_rows_per_s", "insert_feedback_rows_per_s",
                "quality_report_warm_s", "accuracy_trend_warm_s", "page_cold_s",
                "page_uncached_s", "page_cached_s", "page_all_time_v1_uncached_s",
                "page_peak_rss_mb"):
        assert figures[key] > 0, key
    assert figures["quality_report_labels"] == int(figures["page_labelled_shown"].replace(
        ",", ""))  # the page showed version 1's labels, as the report counted them
    assert set(figures["meets_targets"]) == {"insert_predictions", "quality_report",
                                             "accuracy_trend", "page", "page_memory"}
    assert set(figures["references_measured"]) == set(figures["references_stated"])
    assert all(value > 0 for value in figures["references_measured"].values())
    assert "written to" in capsys.readouterr().out
