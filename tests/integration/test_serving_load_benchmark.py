"""The serving load benchmark still runs end to end (one second a run, 1 and 4 clients; no
speed is asserted, only what each run did: answers given, and every answer stored)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import serving_load


def test_a_small_run_answers_and_stores_every_answered_prediction(tmp_path: Path) -> None:
    output = tmp_path / "serving_load.json"
    assert serving_load.main(["--seconds", "1", "--clients", "1,4",
                              "--modes", "batched,bare", "--output", str(output)]) == 0
    figures = json.loads(output.read_text(encoding="utf-8"))
    for clients in (1, 4):
        run = f"batched_{clients}"
        assert figures[f"{run}_answers"] > 0
        assert figures[f"{run}_errors"] == 0
        assert figures[f"{run}_exit_code"] == 0
        # After the clean shutdown every answered prediction is in the store, and only they.
        assert figures[f"{run}_lost"] == 0
        assert figures[f"{run}_stored"] == figures[f"{run}_answered_in_all"]
        assert figures[f"{run}_peak_rss_mb"] > 0
        assert figures[f"bare_{clients}_answers"] > 0
        assert figures[f"batched_{clients}_percent_of_bare"] > 0
