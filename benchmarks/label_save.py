"""Benchmark: saving ground-truth labels (``save_labels``) on SQLite.

Logs predictions of one binary model into a temporary store, then times, several runs each:

* an import of ``--rows`` new labels (all or nothing, ``source=csv``: what a CSV import or
  ``POST /feedback`` does after its checks), each run on predictions not labelled before;
* ``--rows`` replacements of those labels (``replace_conflicts``, every row a change);
* a labeling-page save of 20 edits;
* the floor of the new-label imports, in the same run: the same labels, with their history
  rows, written by raw ``sqlite3`` ``executemany`` into a copy of the store taken before any
  label was saved (same schema, indexes and pragmas; :mod:`benchmarks.floor`), one
  transaction an import, each right after ours; ``import_new_ratio_to_raw`` is our median
  rate over the floor's.
  Replacements and the page save get no floor: a raw ``UPDATE`` skips the reading and
  comparing that is their whole work, and 20 rows time the transaction, not the rows.

Each save is one write transaction, as in the application; the rate bounds how many rows
one import may hold (``OPSDASH_LABEL_IMPORT_MAX_ROWS``) so that other writers, waiting at
most the 5 s busy timeout, are not refused.

Run with ``make bench-labels`` (or ``.venv/bin/python -m benchmarks.label_save``).
Prints the figures and writes them as JSON to ``benchmarks/results/label_save.json``
(``--output`` elsewhere).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from benchmarks.floor import RawStore, copy_store, ratio, store_pragmas
from benchmarks.report import report
from db.repositories import registry
from db.repositories.predictions import insert_predictions
from db.schema import upgrade
from db.session import make_engine, session_scope
from services.access import Principal, Role
from services.labels.save import LabelEdit, SaveResult, save_labels
from services.settings import PROJECT_ROOT, Settings

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "label_save.json"
TARGET_ROWS_PER_S = 10_000
UI_EDITS = 20
IMPORTER = Principal(username="bench-importer", role=Role.LABELER)


def seed_predictions(engine: Engine, n: int) -> list[str]:
    """``n`` unlabelled predictions of a binary model, one a minute back from now (shared
    by the label benchmarks)."""
    with session_scope(engine, write=True) as session:
        model = registry.create_model(
            session=session, name="churn", task="binary", class_labels=["stays", "churns"],
            feature_schema=[{"name": "tenure_months", "type": "number"}])
        version = registry.add_version(
            session=session, model_id=model.id, artifact_path="/nonexistent/churn-v1.pkl",
            artifact_sha256="0" * 64, created_by="benchmark", holdout_metrics={})
        model_id, version_id = model.id, version.id
    now = datetime.now(UTC)
    ids = [uuid.uuid4().hex for _ in range(n)]
    for start in range(0, n, 10_000):
        rows: list[dict[str, Any]] = [
            {"id": pid, "model_id": model_id, "version_id": version_id,
             "ts": now - timedelta(minutes=start + i), "features": {"tenure_months": i % 60},
             "predicted_class": "churns" if i % 3 == 0 else "stays",
             "scores": {"stays": 0.4, "churns": 0.6}, "top_score": 0.6, "latency_ms": 4.0}
            for i, pid in enumerate(ids[start:start + 10_000])
        ]
        with session_scope(engine, write=True) as session:
            insert_predictions(session=session, rows=rows)
    return ids


#: A save's wall and CPU seconds, and its result.
Timed = tuple[float, float, SaveResult]


def _timed(save: Callable[[], SaveResult]) -> Timed:
    wall, cpu = time.perf_counter(), time.process_time()
    result = save()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _figures(name: str, rows: int, runs: list[tuple[float, float, SaveResult]]) -> dict[str, Any]:
    walls = [wall for wall, _, _ in runs]
    return {
        f"{name}_rows": rows,
        f"{name}_median_s": round(statistics.median(walls), 3),
        f"{name}_best_s": round(min(walls), 3),
        f"{name}_cpu_median_s": round(statistics.median(cpu for _, cpu, _ in runs), 3),
        f"{name}_rows_per_s_median": round(rows / statistics.median(walls)),
        f"{name}_rows_per_s_best": round(rows / min(walls)),
    }


def new_labels(part: list[str]) -> list[tuple[str, str]]:
    """The labels each import of ``part`` saves (the same for the floor)."""
    return [(pid, "churns" if i % 2 else "stays") for i, pid in enumerate(part)]


def with_floor(engine: Engine, path: Path, slices: list[list[str]],
               ours: Callable[[list[str]], Timed]) -> tuple[list[Timed], dict[str, Any]]:
    """``ours`` of each slice, each followed by its floor: the same labels in one transaction
    of raw ``sqlite3`` ``executemany`` (:mod:`benchmarks.floor`) into ``path``, a copy of
    the store taken before any label was saved. Alternating keeps a change of the machine's
    load from favouring either."""
    raw = RawStore(path, store_pragmas(engine))
    timed, walls = [], []
    try:
        facts = raw.facts()
        for part in slices:
            timed.append(ours(part))
            walls.append(raw.write(raw.label_statements(
                facts, new_labels(part), labeler=IMPORTER.username, source="csv"), len(part)))
        labels, history = raw.count("feedback"), raw.count("feedback_history")
    finally:
        raw.close()
    rows = len(slices[0])
    return timed, {"raw_import_new_median_s": round(statistics.median(walls), 3),
            "raw_import_new_rows_per_s_median": round(rows / statistics.median(walls)),
            "raw_import_new_labels": labels, "raw_import_new_history_rows": history}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000,
                        help="labels per import (default 10000)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each save (default 5)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the JSON file")
    args = parser.parse_args(argv)
    rows, runs = args.rows, args.runs
    with tempfile.TemporaryDirectory(prefix="opsdash-bench-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'opsdash.db'}")
        try:
            upgrade(engine)
            ids = seed_predictions(engine, runs * rows + runs * UI_EDITS)
            slices = [ids[i * rows:(i + 1) * rows] for i in range(runs)]
            ui_ids = ids[runs * rows:]
            copy_store(engine, Path(tmp) / "floor.db")  # before any label is saved

            def new(part: list[str]) -> SaveResult:
                return save_labels(engine=engine, actor=IMPORTER, source="csv",
                                   all_or_nothing=True,
                                   edits=[LabelEdit(pid, label, None)
                                          for pid, label in new_labels(part)])

            def replaced(part: list[str]) -> SaveResult:
                return save_labels(engine=engine, actor=IMPORTER, source="csv",
                                   all_or_nothing=True, replace_conflicts=True,
                                   edits=[LabelEdit(pid, "stays" if i % 2 else "churns", None)
                                          for i, pid in enumerate(part)])

            def ui(part: list[str]) -> SaveResult:
                actor = Principal(username="bench-labeler", role=Role.LABELER)
                return save_labels(engine=engine, actor=actor,
                                   edits=[LabelEdit(pid, "stays", None) for pid in part])

            new_runs, floor = with_floor(engine, Path(tmp) / "floor.db", slices,
                                         lambda part: _timed(lambda: new(part)))
            replace_runs = [_timed(lambda part=part: replaced(part)) for part in slices]
            ui_runs = [_timed(lambda i=i: ui(ui_ids[i * UI_EDITS:(i + 1) * UI_EDITS]))
                       for i in range(runs)]
        finally:
            engine.dispose()
    for wanted, timed in ((rows, new_runs), (rows, replace_runs), (UI_EDITS, ui_runs)):
        if any(result.saved != wanted for _, _, result in timed):
            raise SystemExit(f"a save stored {[r.saved for *_, r in timed]}, not {wanted}")
    new_median = rows / statistics.median(wall for wall, _, _ in new_runs)
    ui_ms = [wall * 1000 for wall, _, _ in ui_runs]
    figures: dict[str, Any] = {
        "benchmark": "label_save",
        "database": "sqlite",
        "runs": runs,
        **_figures("import_new", rows, new_runs),
        **floor,
        "import_new_ratio_to_raw": ratio(new_median, floor["raw_import_new_rows_per_s_median"]),
        **_figures("import_replace", rows, replace_runs),
        "ui_save_edits": UI_EDITS,
        "ui_save_median_ms": round(statistics.median(ui_ms), 1),
        "label_import_max_rows": Settings().label_import_max_rows,
        "import_of_max_rows_s": round(Settings().label_import_max_rows / new_median, 2),
        "target_rows_per_s": TARGET_ROWS_PER_S,
        "meets_target": new_median >= TARGET_ROWS_PER_S,
    }
    report(figures, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
