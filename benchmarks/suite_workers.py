"""Benchmark: the whole test suite in parallel workers, as ``make test`` runs it.

Runs ``pytest -n N`` over every tier for each worker count asked (``--workers 2 3 4``),
``--rounds`` times, the counts interleaved so that a change in the machine's other load
spreads over all of them. ``--busy K`` keeps K CPU-bound processes running alongside (the
suite on a busy machine). For each run it records the wall time, the 1-minute load
average (before, and the mean and peak of a sample every 5 s), the machine's busy and idle
CPU seconds (``/proc/stat``: every process counts, other users' too), pytest's outcome line
and the slowest tests. This is how ``TEST_WORKERS`` in the Makefile was chosen
(docs/testing.md); run it again when the suite grows.

Run with ``make bench-tests`` (or ``.venv/bin/python -m benchmarks.suite_workers``); a round
of three counts takes 10 to 15 minutes on 2 cores. Prints the figures and writes them as
JSON to ``benchmarks/results/suite_workers.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.report import machine, report
from services.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "suite_workers.json"
SLOWEST = 5
_DURATION = re.compile(r"^(\d+\.\d+)s (setup|call|teardown)\s+(\S.*)$")
_OUTCOME = re.compile(r"^=* ?(\d+ (passed|failed|error).*) in [\d.]+s")


def cpu_seconds(stat: str) -> tuple[float, float]:
    """Busy and idle seconds of all CPUs from the text of ``/proc/stat`` (since boot)."""
    fields = [int(v) for v in stat.splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq = fields[:7]
    ticks = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / ticks, (idle + iowait) / ticks


def _cpu_now() -> tuple[float, float]:
    return cpu_seconds(Path("/proc/stat").read_text(encoding="ascii"))


def slowest(output: str, n: int = SLOWEST) -> list[dict[str, Any]]:
    """The ``n`` slowest phases in pytest's ``--durations`` lines, slowest first."""
    found = []
    for line in output.splitlines():
        match = _DURATION.match(line.strip())
        if match:
            seconds, phase, test = match.groups()
            found.append({"s": float(seconds), "phase": phase, "test": test})
    return sorted(found, key=lambda d: -float(d["s"]))[:n]


def outcome(output: str) -> str:
    """pytest's last summary line without its time (``2018 passed``), or ``""``."""
    for line in reversed(output.splitlines()):
        match = _OUTCOME.match(line.strip())
        if match:
            return match.group(1).strip(" =")
    return ""


class LoadSampler:
    """Samples the 1-minute load average every ``every_s`` seconds in a thread."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.samples: list[float] = []
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_suite(workers: int, pytest_args: list[str]) -> dict[str, Any]:
    """One run of the suite in ``workers`` workers; its figures."""
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
            f"--durations={SLOWEST}", "-n", str(workers), *pytest_args]
    load_before = os.getloadavg()[0]
    busy0, idle0 = _cpu_now()
    began = time.monotonic()
    with LoadSampler() as load:
        done = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True,
                              check=False)
    wall = time.monotonic() - began
    busy1, idle1 = _cpu_now()
    samples = load.samples or [os.getloadavg()[0]]
    return {
        "workers": workers, "wall_s": round(wall, 1), "exit_status": done.returncode,
        "outcome": outcome(done.stdout),
        "load_before": round(load_before, 2), "load_mean": round(statistics.fmean(samples), 2),
        "load_max": round(max(samples), 2),
        "cpu_busy_s": round(busy1 - busy0), "cpu_idle_s": round(idle1 - idle0),
        "slowest": slowest(done.stdout),
    }


def _burners(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 3, 4],
                        help="worker counts to compare (default: 2 3 4)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each count (default: 1)")
    parser.add_argument("--busy", type=int, default=0,
                        help="CPU-bound processes to run alongside (default: none)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest after --")
    args = parser.parse_args(argv)
    burners = _burners(args.busy)
    runs = []
    try:
        for round_ in range(args.rounds):
            for workers in args.workers:
                run = run_suite(workers, args.pytest_args)
                print(f"round {round_ + 1}, {workers} workers: {run['wall_s']} s, "
                      f"{run['outcome']}, load {run['load_mean']}", flush=True)
                runs.append(run)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    walls = {w: [r["wall_s"] for r in runs if r["workers"] == w] for w in args.workers}
    figures: dict[str, Any] = {
        **machine(), "busy_processes": args.busy,
        "median_wall_s": {w: statistics.median(v) for w, v in walls.items()},
    }
    for number, run in enumerate(runs, start=1):
        figures[f"run {number}"] = {k: v for k, v in run.items() if k != "slowest"}
        figures[f"run {number} slowest"] = [f"{d['s']:.1f} s {d['phase']} {d['test']}"
                                            for d in run["slowest"]]
    report(figures, args.output)
    return 0 if all(r["exit_status"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
