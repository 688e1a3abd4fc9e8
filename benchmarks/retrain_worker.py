"""Benchmark: the demo's retrain of churn through a real worker, as an operator's click runs it.

Seeds the demo (fourteen days of two models) into a temporary folder, starts
``python -m services.worker`` on it, and for each preset (``same``, ``search``) queues a
retrain of churn on the drifted days (from the start of the demo's drift episode) the way
the Models page does, then reads the job's row every 0.1 s, as a page refreshing itself
would, until it ends. Reported per preset: the wall time from the click to the job's end
(the worker's pick-up, loading, training, registering and the shadow scoring of the last 7
days), the time to pick the job up, the training child's peak memory (from the worker's log)
and the worker's own, and how far the progress a reader sees lags the job: the age of the
newest report at each read (median and largest) and the longest time the bar did not move.

Run with ``make bench-retrain-worker`` (or ``.venv/bin/python -m benchmarks.retrain_worker``).
Prints the figures and writes them as JSON to ``benchmarks/results/retrain_worker.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import machine, report, rounded
from services.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "retrain_worker.json"
#: Targets on 2 cores, end to end including the shadow scoring of the last 7 days.
TARGETS_S = {"same": 30.0, "search": 90.0}
READ_EVERY_S = 0.1


def _seed(var_dir: str) -> tuple[Any, Any, datetime, datetime]:
    from db.schema import upgrade
    from db.session import make_engine
    from devstack.demo.seed import seed_demo
    from devstack.demo.timeline import drift_schedule
    from services.settings import Settings

    engine = make_engine(Settings(var_dir=var_dir, database_url="").resolved_database_url)
    upgrade(engine)
    seeded = seed_demo(engine=engine, settings=Settings(var_dir=var_dir, database_url=""))
    assert seeded.start is not None
    assert seeded.end is not None
    episode = drift_schedule(start=seeded.start, end=seeded.end)
    return engine, seeded, episode.ramp_start, seeded.end


def _worker(var_dir: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSDASH_")}
    env.update(OPSDASH_VAR_DIR=var_dir, PYTHONPATH=str(PROJECT_ROOT),
               # Nothing listens there: the bake watch carries on without Prometheus.
               OPSDASH_PROMETHEUS_URL="http://127.0.0.1:9", OPSDASH_PROMETHEUS_TIMEOUT="0.5")
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "services.worker"], cwd=PROJECT_ROOT,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while "started:" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not start: {log.read_text(errors='replace')}")
        time.sleep(0.1)
    return process


def _watch(engine: Any, job_id: int) -> tuple[Any, list[tuple[float, float, float]]]:
    """Read the job until it ends: ``(seconds since the click, percent, report age)``."""
    from services.retrain.jobs import get_job

    began = time.monotonic()
    reads: list[tuple[float, float, float]] = []
    while True:
        job = get_job(engine=engine, job_id=job_id)
        if not job.active:
            return job, reads
        if job.status == "running" and job.heartbeat_at is not None:
            age = (datetime.now(UTC) - job.heartbeat_at).total_seconds()
            reads.append((time.monotonic() - began, job.percent, age))
        time.sleep(READ_EVERY_S)


def _still(reads: list[tuple[float, float, float]]) -> float:
    """The longest time the percent read did not change."""
    longest, since, last = 0.0, None, None
    for at, percent, _ in reads:
        if percent != last:
            since, last = at, percent
        assert since is not None
        longest = max(longest, at - since)
    return longest


def _one(engine: Any, window: tuple[datetime, datetime], preset: str,
         log: Path) -> dict[str, Any]:
    from services.access import Principal
    from services.access.roles import Role
    from services.retrain.jobs import start_retrain

    clicked = time.monotonic()
    job = start_retrain(engine=engine, actor=Principal("bench", Role.OPERATOR), model="churn",
                        start=window[0], end=window[1], preset=preset, min_per_class=50)
    ended, reads = _watch(engine, job.id)
    total = time.monotonic() - clicked
    peak = re.search(rf"job {job.id} \w+ \(peak memory ([\d.]+) MB\)",
                     log.read_text(errors="replace"))
    ages = [age for _, _, age in reads]
    assert ended.started_at is not None
    return {
        f"{preset}_status": ended.status,
        f"{preset}_click_to_end_s": total,
        f"{preset}_pick_up_s": (ended.started_at - ended.created_at).total_seconds(),
        f"{preset}_training_child_peak_rss_mb": float(peak.group(1)) if peak else None,
        f"{preset}_progress_reads": len(reads),
        f"{preset}_progress_age_median_s": statistics.median(ages) if ages else None,
        f"{preset}_progress_age_max_s": max(ages) if ages else None,
        f"{preset}_progress_still_max_s": _still(reads),
        f"{preset}_target_s": TARGETS_S[preset],
        f"{preset}_met": ended.status == "succeeded" and total <= TARGETS_S[preset],
        f"{preset}_result_version": ended.result_version,
    }


def _peak_of(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = machine()
    with tempfile.TemporaryDirectory(prefix="opsdash-retrain-worker-bench-") as var_dir:
        began = time.perf_counter()
        engine, seeded, start, end = _seed(var_dir)
        figures.update(demo_predictions=seeded.predictions,
                       demo_seed_s=time.perf_counter() - began,
                       window=f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
        log = Path(var_dir) / "worker.log"
        worker = _worker(var_dir, log)
        try:
            for preset in ("same", "search"):
                figures.update(_one(engine, (start, end), preset, log))
            figures["worker_peak_rss_mb"] = _peak_of(worker.pid)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
            engine.dispose()
    report(rounded(figures), args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
