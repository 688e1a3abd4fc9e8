"""The command-line label import benchmark still runs end to end (at a tiny size; no speed
is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from services.settings import PROJECT_ROOT


def test_a_tiny_run_imports_every_row_and_times_the_labeler(tmp_path: Path) -> None:
    output = tmp_path / "label_import_cli.json"
    # A whole process, as `make bench-label-import-cli` runs it: the benchmark starts its
    # own processes, which a test worker's state need not reach.
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.label_import_cli", "--rows", "2000",
         "--batch-rows", "500", "--baseline", "5", "--output", str(output)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    figures = json.loads(output.read_text(encoding="utf-8"))
    assert (figures["rows"], figures["saved"], figures["transactions"]) == (2000, 2000, 4)
    for key in ("import_s", "check_s", "write_s", "import_rows_per_s", "longest_transaction_s",
                "importer_peak_rss_mb", "labeler_alone_max_s"):
        assert figures[key] > 0, key
    assert figures["labeler_alone_saves"] == 5
    # The floor wrote the same labels with raw sqlite3 in transactions of the same size.
    assert (figures["raw_write_labels"], figures["raw_write_transactions"]) == (2000, 4)
    for key in ("raw_write_s", "raw_write_rows_per_s", "write_ratio_to_raw"):
        assert figures[key] > 0, key
    # The labeler's figures cover the saves that overlapped the import, however many ran.
    assert figures["labeler_during_import_saves"] >= figures["labeler_during_writes_saves"]
    assert "written to" in run.stdout
