"""The label-saving benchmark still runs end to end (at a tiny size; no speed is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import label_save


def test_a_tiny_run_saves_every_label_and_measures_its_floor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "label_save.json"
    assert label_save.main(["--rows", "300", "--runs", "2", "--output", str(output)]) == 0
    figures = json.loads(output.read_text(encoding="utf-8"))
    assert (figures["import_new_rows"], figures["runs"]) == (300, 2)
    # The floor wrote the same labels (and their history rows) with raw sqlite3, same run.
    assert (figures["raw_import_new_labels"], figures["raw_import_new_history_rows"]) == (600, 600)
    for key in ("import_new_rows_per_s_median", "raw_import_new_rows_per_s_median",
                "import_new_ratio_to_raw"):
        assert figures[key] > 0, key
    assert "written to" in capsys.readouterr().out
