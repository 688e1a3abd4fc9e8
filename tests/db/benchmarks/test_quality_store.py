"""The quality-store benchmark still runs end to end (at a tiny size; no speed is asserted)."""

from __future__ import annotations

import json
import sqlite3
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
    # The floor wrote the same rows with raw sqlite3 in the same run, and the ratio is quoted.
    assert figures["raw_insert_predictions_rows"] == 2000
    for key in ("raw_insert_predictions_rows_per_s", "insert_predictions_ratio_to_raw",
                "raw_insert_feedback_rows_per_s", "insert_feedback_ratio_to_raw"):
        assert figures[key] > 0, key
    assert figures["raw_pragmas"]["journal_mode"] == "wal"
    assert figures["targets"]["insert_predictions_ratio_to_raw"] == 0.4
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


@pytest.mark.sqlite_only  # the floor is raw sqlite3 into a copy of the SQLite store
def test_the_floor_stores_the_same_rows_as_the_store(engine: Engine, tmp_path: Path) -> None:
    floor_file = tmp_path / "floor.db"
    built = quality_store.build(engine, predictions=1500, labelled=450, batch=400,
                                now=datetime.now(UTC), floor=floor_file)
    assert built.raw_predictions == 1500
    assert built.raw_labels_per_s > 0
    assert built.raw_predictions_per_s > 0
    with session_scope(engine) as session:
        ours = {p.id: p for p in session.scalars(select(Prediction))}
        with sqlite3.connect(floor_file) as raw:
            stored = raw.execute("SELECT id, model_id, version_id, ts, features, "
                                 "predicted_class, scores, top_score, latency_ms "
                                 "FROM predictions").fetchall()
        assert len(stored) == len(ours) == 1500
        for pid, model_id, version_id, ts, features, cls, scores, top, latency in stored:
            p = ours[pid]
            assert (model_id, version_id, cls, top, latency) == (
                p.model_id, p.version_id, p.predicted_class, p.top_score, p.latency_ms)
            # The same values as the store keeps: naive UTC time text, JSON.
            assert ts == p.ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            assert (json.loads(features), json.loads(scores)) == (p.features, p.scores)
        labels = {f.prediction_id: f for f in session.scalars(select(Feedback))}
        with sqlite3.connect(floor_file) as raw:
            raw_labels = raw.execute("SELECT prediction_id, model_id, version_id, "
                                     "predicted_class, predicted_at, top_score, label "
                                     "FROM feedback").fetchall()
        assert len(raw_labels) == len(labels) == 450
        for pid, model_id, version_id, cls, at, top, label in raw_labels:
            f = labels[pid]
            assert (model_id, version_id, cls, top, label) == (
                f.model_id, f.version_id, f.predicted_class, f.top_score, f.label)
            assert at == f.predicted_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
