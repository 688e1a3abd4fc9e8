"""Benchmark: the memory and time of importing prediction log files built to blow up.

Builds, in a temporary folder, a migrated SQLite store with the model ``churn`` (features
``tenure_months``, a number, and ``plan``, a category) and these files:

* ``dictionary_bomb`` — 300 rows whose ``plan`` is one dictionary value of 4 MiB, zstd
  compressed: a few kilobytes on disk, 1.2 GB once every row holds its value (the Arrow
  schema is stored, so Arrow reads the column as a dictionary);
* ``dictionary_bomb_plain`` — the same without the Arrow schema, as other writers leave
  it: Arrow reads the column as plain text;
* ``shared_value`` — 20,000 rows sharing one value of 100,000 characters: 5 bytes a row
  on disk, so the footer's sizes pass, 2 GB once repeated;
* ``wide_csv`` — a CSV header of 20,000 columns;
* ``clean`` — a valid file of 100,000 rows, the cost of an ordinary import.

Each file is imported in a fresh Python process (so its peak resident set, ``VmHWM``, is
that import's alone) with ``--dry-run`` and, for the bombs, for real; the figures are the
outcome and first line of the message, the seconds, the resident set before the import
(interpreter, libraries, engine) and the peak. Run with ``make bench-import-bombs`` (or
``.venv/bin/python -m benchmarks.import_bombs``); ``--small`` builds every file at a
thousandth of its size. Prints the figures and writes them as JSON to
``benchmarks/results/import_bombs.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import machine, peak_rss_mb, report, rss_mb
from services.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "import_bombs.json"
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
#: (file, modes): every file is checked (dry run); the bombs are also imported for real.
CASES: dict[str, tuple[str, ...]] = {
    "dictionary_bomb": ("dry_run", "import"),
    "dictionary_bomb_plain": ("dry_run", "import"),
    "shared_value": ("dry_run", "import"),
    "wide_csv": ("dry_run",),
    "clean": ("dry_run",),
}


def _log(path: Path, rows: int, plan: Any, *, store_schema: bool = True) -> Path:
    """A prediction log of ``rows`` valid rows of ``churn`` v1 but for ``plan``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({
        "prediction_id": [f"p-{i}" for i in range(rows)],
        "timestamp": pa.array([T0] * rows, pa.timestamp("us", tz="UTC")),
        "model": ["churn"] * rows, "version": [1] * rows,
        "predicted": ["stays" if i % 3 else "churns" for i in range(rows)],
        "score_churns": [0.2 if i % 3 else 0.7 for i in range(rows)],
        "tenure_months": [float(i % 60) for i in range(rows)], "plan": plan,
    }), path, compression="zstd", store_schema=store_schema)
    return path


def _shared(rows: int, chars: int) -> Any:
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()),
                                          pa.array(["x" * chars]))


def build_files(folder: Path, *, scale: float = 1.0) -> dict[str, Path]:
    """The files of :data:`CASES`, at ``scale`` of their sizes (values and rows)."""
    bomb_rows = max(3, round(300 * scale))
    bomb_chars = max(2000, round((4 << 20) * scale))
    shared_rows = max(20, round(20_000 * scale))
    wide = folder / "wide.csv"
    wide.write_text(",".join(["prediction_id", "timestamp", "model", "version", "predicted",
                              *(f"f{i}" for i in range(19_995))]) + "\n", encoding="utf-8")
    clean_rows = max(100, round(100_000 * scale))
    return {
        "dictionary_bomb": _log(folder / "bomb.parquet", bomb_rows,
                                _shared(bomb_rows, bomb_chars)),
        "dictionary_bomb_plain": _log(folder / "bomb-plain.parquet", bomb_rows,
                                      _shared(bomb_rows, bomb_chars), store_schema=False),
        "shared_value": _log(folder / "shared.parquet", shared_rows,
                             _shared(shared_rows, 100_000), store_schema=False),
        "wide_csv": wide,
        "clean": _log(folder / "clean.parquet", clean_rows,
                      [("basic", "plus", "pro")[i % 3] for i in range(clean_rows)]),
    }


def _store(url: str) -> None:
    from db.repositories import registry
    from db.schema import upgrade
    from db.session import make_engine, session_scope

    engine = make_engine(url)
    try:
        upgrade(engine)
        with session_scope(engine, write=True) as session:
            model = registry.create_model(
                session=session, name="churn", task="binary", class_labels=["stays", "churns"],
                feature_schema=[{"name": "tenure_months", "type": "number"},
                                {"name": "plan", "type": "category"}])
            registry.add_version(
                session=session, model_id=model.id, artifact_path="/nonexistent/churn.pkl",
                artifact_sha256="0" * 64, created_by="benchmark", holdout_metrics={})
    finally:
        engine.dispose()


def one_import(url: str, path: Path, *, dry_run: bool) -> dict[str, Any]:
    """Import ``path`` once in this process; what happened, how long and how much memory."""
    # Loaded by any Parquet import: part of the baseline, not of the import.
    import numpy  # noqa: F401
    import pyarrow.compute
    import pyarrow.parquet  # noqa: F401

    from db.session import make_engine
    from services.access import CLI
    from services.predictions.importer import PredictionImportError, import_predictions

    engine = make_engine(url)
    before = rss_mb()
    began = time.perf_counter()
    try:
        result = import_predictions(engine=engine, actor=CLI, path=path, dry_run=dry_run)
        outcome, message = "accepted", f"{result.rows:,} rows"
    except PredictionImportError as exc:
        outcome, message = "refused", str(exc).splitlines()[0]
    seconds = time.perf_counter() - began
    engine.dispose()
    return {"outcome": outcome, "message": message[:200], "seconds": round(seconds, 3),
            "rss_before_mb": round(before or 0.0, 1), "peak_rss_mb": round(peak_rss_mb(), 1)}


def _in_fresh_process(url: str, path: Path, *, dry_run: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.import_bombs", "--one", str(path),
               "--url", url, *(["--dry-run"] if dry_run else [])]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=dict(os.environ), check=False,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        return {"outcome": "crashed", "message": done.stderr.strip().splitlines()[-1][:200]
                if done.stderr.strip() else f"exit status {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(folder: Path, *, scale: float, cases: list[str],
        modes: tuple[str, ...] = ("dry_run", "import")) -> dict[str, Any]:
    """Build the store and the files in ``folder`` and import each; the figures."""
    url = f"sqlite:///{folder / 'opsdash.db'}"
    _store(url)
    files = build_files(folder, scale=scale)
    figures: dict[str, Any] = {"benchmark": "import_bombs", "scale": scale, **machine()}
    for case in cases:
        figures[f"{case}_file_bytes"] = files[case].stat().st_size
        for mode in (m for m in CASES[case] if m in modes):
            measured = _in_fresh_process(url, files[case], dry_run=mode == "dry_run")
            for key, value in measured.items():
                figures[f"{case}_{mode}_{key}"] = value
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true",
                        help="every file at a thousandth of its size (a quick run)")
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated cases (default all: {', '.join(CASES)})")
    parser.add_argument("--dry-run-only", action="store_true",
                        help="no real import (of a file the importer would accept, it writes)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:  # the child: one import, its figures as the last line
        print(json.dumps(one_import(args.url, args.one, dry_run=args.dry_run)))
        return 0
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(prefix="opsdash-bench-") as tmp:
        figures = run(Path(tmp), scale=0.001 if args.small else 1.0, cases=cases,
                      modes=("dry_run",) if args.dry_run_only else ("dry_run", "import"))
    report(figures, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
