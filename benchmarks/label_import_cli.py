"""Benchmark: the command line's import of a large label file on SQLite, and what a labeler
saving at the same time waits.

Logs ``--rows`` predictions of a binary model (plus a pool for the labeler) into a temporary
SQLite store and writes a label CSV file of ``--rows`` rows. The labeler first saves
``--baseline`` labels alone (one label a save, as the Label feedback page does), to show a
save's own time. Then two processes start: the labeler, saving one label after another in a
loop and timing each save, and the import
(:func:`services.labels.file_import.check_label_file`, then
:func:`~services.labels.file_import.write_label_file` in transactions of ``--batch-rows``),
each phase timed. The labeler stops when the import ends.

Prints and writes to ``benchmarks/results/label_import_cli.json``: the check's and the
writes' wall times and rows per second, the longest transaction, the importer process's
memory before it reads the file and at its peak, and the labeler's saves during the import
(count, median, p95, max, refused) and during the writes alone, against its baseline; and
the floor of the writes, measured after them: the same labels and history rows by raw
``sqlite3`` ``executemany`` into a copy of the store taken before the import, in
transactions of the same size (:mod:`benchmarks.floor`), with ``write_ratio_to_raw``, the
writes' rate over the floor's. The floor runs alone: the writes shared the store with the
labeler, so the ratio counts its waits too. Run
with ``make bench-label-import-cli`` (or ``.venv/bin/python -m benchmarks.label_import_cli``);
``--rows 20000`` takes seconds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

from sqlalchemy import Engine

from benchmarks.floor import RawStore, copy_store, ratio, store_pragmas
from benchmarks.label_save import seed_predictions
from benchmarks.report import machine, peak_rss_mb, report, rss_mb
from db.schema import upgrade
from db.session import make_engine
from services.access import Principal, Role
from services.labels.csv_file import FileLimits
from services.labels.file_import import check_label_file, write_label_file
from services.labels.save import LabelEdit, LabelsNotSavedError, save_labels
from services.settings import PROJECT_ROOT, Settings

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "label_import_cli.json"
IMPORTER = Principal(username="bench-importer", role=Role.LABELER)
LABELER = Principal(username="bench-labeler", role=Role.LABELER)
#: The wait the import's transactions are sized for (the Settings' comment, the README).
TARGET_WAIT_S = 2.0


@dataclass(frozen=True)
class Store:
    """The benchmark's store and file."""

    url: str
    csv: Path
    pool: list[str]  # the labeler's predictions


def build(folder: Path, rows: int, pool: int) -> Store:
    """A migrated store of ``rows + pool`` predictions and a label file of ``rows`` rows."""
    url = f"sqlite:///{folder / 'opsdash.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        ids = seed_predictions(engine, rows + pool)
    finally:
        engine.dispose()
    csv = folder / "vendor.csv"
    with csv.open("w", encoding="utf-8", newline="") as f:
        f.write("prediction_id,label,labeler\n")
        f.writelines(f"{pid},{'churns' if i % 3 == 0 else 'stays'},vendor-7\n"
                     for i, pid in enumerate(ids[:rows]))
    return Store(url, csv, ids[rows:])


def _save_one(engine: Engine, pid: str) -> tuple[float, float, bool]:
    """One labeler's save: its start (monotonic), its seconds, whether it was stored."""
    began = time.monotonic()
    try:
        save_labels(engine=engine, actor=LABELER, edits=[LabelEdit(pid, "churns", None)])
        stored = True
    except LabelsNotSavedError:
        stored = False
    return began, time.monotonic() - began, stored


def _labeler(url: str, pool_file: str, stop: Any, out: Any) -> None:
    """Save one label after another (the ids of ``pool_file``, one a line) until ``stop`` is
    set; send every save's timing."""
    engine = make_engine(url)
    saves = []
    for pid in Path(pool_file).read_text(encoding="utf-8").split():
        if stop.is_set():
            break
        saves.append(_save_one(engine, pid))
    engine.dispose()
    out.put(saves)


def _importer(url: str, csv: str, batch_rows: int, out: Any) -> None:
    """Check then write the file; send the phases' times and this process's peak memory."""
    engine = make_engine(url)
    path = Path(csv)
    rss_before = rss_mb() or 0.0
    began = time.monotonic()
    checked = check_label_file(engine=engine, actor=IMPORTER, path=path, filename=path.name,
                               replace=False, limits=FileLimits.command_line(Settings()))
    checked_at = time.monotonic()
    longest = 0.0
    last = checked_at
    saved = transactions = 0
    for done in write_label_file(engine=engine, actor=IMPORTER, checked=checked,
                                 batch_rows=batch_rows):
        now = time.monotonic()
        longest, last = max(longest, now - last), now
        saved, transactions = saved + done.saved, done.number
    engine.dispose()
    out.put({"began": began, "checked_at": checked_at, "ended": last, "rows": checked.rows,
             "saved": saved, "transactions": transactions, "longest_transaction_s": longest,
             "rss_before_mb": rss_before, "peak_rss_mb": peak_rss_mb()})


def _waits(saves: list[tuple[float, float, bool]], start: float, end: float,
           name: str) -> dict[str, Any]:
    """Figures of the saves that overlapped ``[start, end]``."""
    inside = [(took, stored) for began, took, stored in saves
              if began < end and began + took > start]
    took = sorted(t for t, _ in inside) or [0.0]
    return {f"{name}_saves": len(inside),
            f"{name}_refused": sum(not stored for _, stored in inside),
            f"{name}_median_s": round(statistics.median(took), 4),
            f"{name}_p95_s": round(took[min(len(took) - 1, int(0.95 * len(took)))], 4),
            f"{name}_max_s": round(took[-1], 4)}


def _result(queue: Any, process: Any) -> Any:
    """What ``process`` puts on ``queue``; an error, not a wait without end, if it dies first."""
    while True:
        try:
            return queue.get(timeout=1)
        except Empty:
            if not process.is_alive():
                raise SystemExit(f"the {process.name} process ended with code "
                                 f"{process.exitcode} before it sent its figures") from None


def measure(store: Store, *, batch_rows: int, baseline: int) -> dict[str, Any]:
    """Run the baseline, then the labeler and the import side by side."""
    engine = make_engine(store.url)
    alone = [_save_one(engine, pid) for pid in store.pool[:baseline]]
    engine.dispose()
    # The labeler's ids go through a file: a process's arguments travel through a pipe that
    # a child which died before reading it would leave full.
    pool_file = store.csv.with_name("labeler-pool.txt")
    pool_file.write_text("\n".join(store.pool[baseline:]), encoding="utf-8")
    spawn = multiprocessing.get_context("spawn")
    stop, labels_out, import_out = spawn.Event(), spawn.Queue(), spawn.Queue()
    labeler = spawn.Process(target=_labeler,
                            args=(store.url, str(pool_file), stop, labels_out))
    labeler.start()
    importer = spawn.Process(target=_importer,
                             args=(store.url, str(store.csv), batch_rows, import_out))
    importer.start()
    imported: dict[str, Any] = _result(import_out, importer)
    importer.join()
    stop.set()
    saves: list[tuple[float, float, bool]] = _result(labels_out, labeler)
    labeler.join()
    return {"imported": imported, "saves": saves,
            **_waits(alone, 0, float("inf"), "labeler_alone")}


def _figures(rows: int, batch_rows: int, measured: dict[str, Any]) -> dict[str, Any]:
    imported, saves = measured["imported"], measured["saves"]
    check_s = imported["checked_at"] - imported["began"]
    write_s = imported["ended"] - imported["checked_at"]
    total_s = imported["ended"] - imported["began"]
    during = _waits(saves, imported["began"], imported["ended"], "labeler_during_import")
    writes = _waits(saves, imported["checked_at"], imported["ended"], "labeler_during_writes")
    return {
        "benchmark": "label_import_cli", "database": "sqlite", **machine(),
        "rows": rows, "batch_rows": batch_rows, "transactions": imported["transactions"],
        "saved": imported["saved"],
        "import_s": round(total_s, 2), "import_rows_per_s": round(rows / total_s),
        "check_s": round(check_s, 2), "check_rows_per_s": round(rows / check_s),
        "write_s": round(write_s, 2), "write_rows_per_s": round(rows / write_s),
        "longest_transaction_s": round(imported["longest_transaction_s"], 3),
        "importer_rss_before_mb": round(imported["rss_before_mb"], 1),
        "importer_peak_rss_mb": round(imported["peak_rss_mb"], 1),
        **{k: v for k, v in measured.items() if k.startswith("labeler_alone")},
        **during, **writes,
        "target_wait_s": TARGET_WAIT_S,
        "meets_target": during["labeler_during_import_max_s"] <= TARGET_WAIT_S
        and during["labeler_during_import_refused"] == 0,
    }


def floor_writes(store: Store, floor: Path, batch_rows: int) -> dict[str, Any]:
    """The floor of the writes: the file's labels, with their history rows, by raw
    ``sqlite3`` ``executemany`` into ``floor`` (a copy of the store before the import) in
    transactions of ``batch_rows``, alone on the machine (:mod:`benchmarks.floor`)."""
    engine = make_engine(store.url)
    try:
        pragmas = store_pragmas(engine)
    finally:
        engine.dispose()
    with store.csv.open(encoding="utf-8") as f:
        next(f)  # the header
        labels = [(pid, label) for pid, label, _ in (line.rstrip("\n").split(",") for line in f)]
    raw = RawStore(floor, pragmas)
    try:
        facts = raw.facts()
        for lo in range(0, len(labels), batch_rows):
            part = labels[lo:lo + batch_rows]
            raw.write(raw.label_statements(facts, part, labeler=IMPORTER.username,
                                           source="csv"), len(part))
        stored = raw.count("feedback")
    finally:
        raw.close()
    return {"raw_write_s": round(raw.seconds, 2), "raw_write_rows_per_s": round(raw.rows_per_s),
            "raw_write_labels": stored,
            "raw_write_transactions": -(-len(labels) // batch_rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000,
                        help="rows of the label file (default 200000)")
    parser.add_argument("--batch-rows", type=int, default=5_000,
                        help="rows per transaction (default 5000, the command line's)")
    parser.add_argument("--baseline", type=int, default=100,
                        help="labeler's saves timed before the import (default 100)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the JSON file")
    args = parser.parse_args(argv)
    pool = args.baseline + max(20_000, args.rows // 4)  # more than the labeler can save
    with tempfile.TemporaryDirectory(prefix="opsdash-bench-") as tmp:
        store = build(Path(tmp), args.rows, pool)
        floor = Path(tmp) / "floor.db"
        engine = make_engine(store.url)
        try:
            copy_store(engine, floor)  # before the import
        finally:
            engine.dispose()
        measured = measure(store, batch_rows=args.batch_rows, baseline=args.baseline)
        raw = floor_writes(store, floor, args.batch_rows)
    figures = _figures(args.rows, args.batch_rows, measured)
    figures.update(raw, write_ratio_to_raw=ratio(figures["write_rows_per_s"],
                                                 raw["raw_write_rows_per_s"]))
    if figures["saved"] != args.rows:
        raise SystemExit(f"the import stored {figures['saved']} labels, not {args.rows}")
    report(figures, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
