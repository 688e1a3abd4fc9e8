"""The command-line label import benchmark still runs end to end (at a tiny size; no speed
is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import label_import_cli


def test_a_tiny_run_imports_every_row_and_times_the_labeler(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "label_import_cli.json"
    assert label_import_cli.main(["--rows", "2000", "--batch-rows", "500", "--baseline", "5",
                                  "--output", str(output)]) == 0
    figures = json.loads(output.read_text(encoding="utf-8"))
    assert (figures["rows"], figures["saved"], figures["transactions"]) == (2000, 2000, 4)
    for key in ("import_s", "check_s", "write_s", "import_rows_per_s", "longest_transaction_s",
                "importer_peak_rss_mb", "labeler_alone_max_s"):
        assert figures[key] > 0, key
    assert figures["labeler_alone_saves"] == 5
    # The labeler's figures cover the saves that overlapped the import, however many ran.
    assert figures["labeler_during_import_saves"] >= figures["labeler_during_writes_saves"]
    assert "written to" in capsys.readouterr().out
