"""The import-bombs benchmark still runs end to end (files at a thousandth of their size; no
memory or speed is asserted, only what each import did)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import import_bombs


def test_a_small_run_imports_each_file_in_its_own_process_and_writes_json(
        tmp_path: Path) -> None:
    output = tmp_path / "import_bombs.json"
    assert import_bombs.main(["--small", "--cases", "dictionary_bomb,clean",
                              "--output", str(output)]) == 0
    figures = json.loads(output.read_text(encoding="utf-8"))
    assert figures["dictionary_bomb_dry_run_outcome"] == "refused"
    assert figures["dictionary_bomb_import_outcome"] == "refused"
    assert figures["dictionary_bomb_dry_run_message"].startswith(
        "nothing imported: row 1: column plan has 4,194 characters; at most 1,000")
    assert (figures["clean_dry_run_outcome"], figures["clean_dry_run_message"]) == (
        "accepted", "100 rows")
    for key in ("dictionary_bomb_file_bytes", "dictionary_bomb_dry_run_peak_rss_mb",
                "dictionary_bomb_dry_run_rss_before_mb", "clean_dry_run_seconds",
                "load_average_1m"):
        assert figures[key] > 0
