"""The test-suite benchmark's reading of /proc/stat and of pytest's output."""

from __future__ import annotations

import os

from benchmarks import suite_workers as bench

OUTPUT = """\
........................................................................ [ 99%]
............                                                             [100%]
============================== slowest 10 durations ==============================
49.47s setup    tests/browser/test_serving_browser.py::test_the_live_panel@tests/browser/x.py
15.57s call     tests/integration/cli/test_users.py::test_changes_are_made_and_audited_as_cli
0.10s teardown tests/db/test_audit_log.py::test_x[sqlite]
1 failed, 2014 passed, 2 errors in 643.97s (0:10:43)
"""


def test_busy_and_idle_seconds_come_from_the_first_cpu_line() -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    stat = f"cpu  {ticks} 0 {ticks} {3 * ticks} {ticks} 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
    assert bench.cpu_seconds(stat) == (2.0, 4.0)


def test_the_slowest_phases_are_read_slowest_first() -> None:
    found = bench.slowest(OUTPUT, n=2)
    assert [(d["s"], d["phase"]) for d in found] == [(49.47, "setup"), (15.57, "call")]
    assert found[1]["test"].endswith("test_changes_are_made_and_audited_as_cli")


def test_the_outcome_is_the_summary_line_without_its_time() -> None:
    assert bench.outcome(OUTPUT) == "1 failed, 2014 passed, 2 errors"
    assert bench.outcome("2018 passed in 239.29s (0:03:59)\n") == "2018 passed"
    assert bench.outcome("no summary\n") == ""
