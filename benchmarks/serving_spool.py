"""Benchmark: the cost of the prediction spool on the request path.

Appends ``--rows`` single-row requests (what ``POST /predict`` spools before answering) to a
spool in a temporary folder, then releases them in batches of 500 (what the writer does once
a batch is stored), and, as the floor measured in the same run, writes the same encoded lines
with bare ``os.write`` calls to a plain file. The appends are timed without fsync (the
default: a process crash loses nothing) and, over fewer rows, with ``OPSDASH_LOG_FSYNC``'s
fsync per append (what a power loss needs; bound by the disk's flush time).

Run with ``make bench-spool`` (or ``.venv/bin/python -m benchmarks.serving_spool``). Prints
the figures and writes them as JSON to ``benchmarks/results/serving_spool.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import machine, report, rounded
from services.serving.spool import Spool, encode_row
from services.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "serving_spool.json"
BATCH = 500


def _rows(n: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [{"id": uuid.uuid4().hex, "model_id": 1, "version_id": 1, "ts": now,
             "features": {"tenure": i % 72, "monthly_charges": 70.5, "contract": "month"},
             "predicted_class": "stays", "scores": {"churns": 0.2, "stays": 0.8},
             "top_score": 0.8, "latency_ms": 9.5} for i in range(n)]


def _spool_rate(folder: Path, rows: list[dict[str, Any]], *, fsync: bool) -> tuple[float, float]:
    """Appends a second, one row each, and rows released a second in batches."""
    spool = Spool(folder, max_bytes=1 << 40, fsync=fsync)
    spool.open()
    began = time.perf_counter()
    for row in rows:
        spool.append([row])
    appended = time.perf_counter() - began
    began = time.perf_counter()
    for _ in range(0, len(rows), BATCH):
        spool.release(BATCH)
    released = time.perf_counter() - began
    spool.close()
    return len(rows) / appended, len(rows) / released


def _floor_rate(path: Path, rows: list[dict[str, Any]]) -> float:
    """Bare ``os.write`` of the same lines, encoded beforehand: the disk path's ceiling."""
    lines = [encode_row(row) for row in rows]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    began = time.perf_counter()
    for line in lines:
        os.write(fd, line)
    elapsed = time.perf_counter() - began
    os.close(fd)
    return len(rows) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="appends without fsync")
    parser.add_argument("--fsync-rows", type=int, default=1_000, help="appends with fsync")
    args = parser.parse_args()
    rows = _rows(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        appends, releases = _spool_rate(folder / "spool", rows, fsync=False)
        floor = _floor_rate(folder / "floor.jsonl", rows)
        synced, _ = _spool_rate(folder / "synced", rows[: args.fsync_rows], fsync=True)
    report(rounded({
        **machine(),
        "rows": args.rows,
        "row_bytes": len(encode_row(rows[0])),
        "appends_per_s": round(appends),
        "raw_os_write_per_s": round(floor),
        "appends_vs_raw_write_pct": 100 * appends / floor,
        "append_us": 1e6 / appends,
        "released_rows_per_s": round(releases),
        "fsync_rows": args.fsync_rows,
        "fsynced_appends_per_s": round(synced),
    }), RESULTS)


if __name__ == "__main__":
    main()
