"""Benchmark: our drift engine (``services/drift/``) against Evidently's ``DataDriftPreset``.

Generates, with numpy (seeded, nothing downloaded), a reference and a current frame of the
same number of rows with 20 numeric columns (``float64``, one with missing values) and 5
categorical ones (text, ``object`` dtype, one with missing values). The current frame
drifts in some columns and not in others, several of them near a threshold (see
:data:`COLUMNS`): numeric shifts of 0.02 to 1 standard deviation, scale changes, counts,
two numeric columns with at most 5 values (Jensen–Shannon), a bimodal mixture whose
weights move, categories whose mix changes, a new category, missing values.

For every size (``--sizes``, default 50,000 and 500,000 rows on each side) it times, on the
same DataFrames already in memory (generating them is not timed):

* ours: ``compare_frames(reference, current, categorical=[...])`` (it prepares columns on
  two threads), the median of ``--runs`` runs after one warm-up run, with the fastest run
  and the median CPU time of both threads (steadier than wall time on a busy machine);
* Evidently 0.7.23: ``Dataset.from_pandas`` of both frames with a ``DataDefinition`` naming
  the numeric and categorical columns, then ``Report([DataDriftPreset()],
  include_tests=True).run(current_data=..., reference_data=...)``; the median of
  ``--evidently-runs`` runs after one warm-up run, except above ``--slow-rows`` rows, where
  it runs ``--evidently-slow-runs`` times without a separate warm-up (the smaller size
  already ran its code paths in this process).

Then it compares the verdicts column by column: the test each side chose, its statistic
(distance or p-value) and whether the column drifted. Evidently's verdict on a column is
its ``ValueDrift`` test status in the snapshot (``FAIL``: drift detected), its statistic
the ``ValueDrift`` value, its test the resolved ``method``; its dataset verdict is the
``DriftedColumnsCount`` share against ``drift_share`` 0.5 (``>=``, as its legacy
``get_dataset_drift``).

Targets: the same verdict on every column; ours at least 50 times faster than Evidently at
50,000 rows; ours under 1 s at 500,000 against 500,000; and the stricter bar, ours under
50 ms at 50,000.

Run with ``make bench-drift`` (its own venv from ``requirements-bench-drift.txt``: Evidently
needs pandas 2; ``python -m benchmarks.drift_evidently`` from the repository root; a quick
run: ``--sizes 20000 --runs 3 --evidently-runs 1``). Prints the figures and writes them as
JSON to ``benchmarks/results/drift_evidently.json`` (``--output`` elsewhere). The data
generator (:mod:`benchmarks.drift_data`) needs only numpy and pandas; Evidently is imported only
when the benchmark runs.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.drift_data import CATEGORICAL_COLUMNS, COLUMNS, NUMERIC_COLUMNS, SEED, make_frames
from benchmarks.drift_verdicts import (
    DRIFT_SHARE,
    Verdicts,
    evidently_datasets,
    evidently_report,
    evidently_verdicts,
    ours_verdicts,
)
from benchmarks.report import machine, report
from services.drift.compare import DatasetDrift, compare_frames
from services.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "drift_evidently.json"
SIZES = (50_000, 500_000)
TARGETS = {
    "same_verdict_every_column": True,
    "speedup_at_50k_min": 50.0,  # ours at least this many times faster than Evidently
    "ours_at_500k_max_s": 1.0,
    "ours_at_50k_max_s_strict": 0.05,
}


def ours(reference: pd.DataFrame, current: pd.DataFrame) -> DatasetDrift:
    return compare_frames(reference, current, categorical=CATEGORICAL_COLUMNS,
                          drift_share=DRIFT_SHARE)


# --------------------------------------------------------------------------- measuring


def _median_time(call: Callable[[], Any], runs: int, *,
                 warm_up: bool) -> tuple[float, float, float, Any]:
    """``(median wall seconds, fastest, median CPU seconds of all threads, first result)``
    of ``runs`` calls (after one more when ``warm_up``)."""
    first = call() if warm_up else None
    wall, cpu = [], []
    for _ in range(runs):
        began, began_cpu = time.perf_counter(), time.process_time()
        result = call()
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
        if first is None:
            first = result
    return statistics.median(wall), min(wall), statistics.median(cpu), first


def _evidently_timed(reference: pd.DataFrame, current: pd.DataFrame, runs: int, *,
                     warm_up: bool) -> tuple[float, float, float, Any]:
    """``(median total, median wrapping, median run, first snapshot)`` in seconds."""
    if warm_up:
        evidently_report(*evidently_datasets(reference, current))
    totals, wraps, reports = [], [], []
    snapshot = None
    for _ in range(runs):
        began = time.perf_counter()
        datasets = evidently_datasets(reference, current)
        wrapped = time.perf_counter()
        result = evidently_report(*datasets)
        done = time.perf_counter()
        totals.append(done - began)
        wraps.append(wrapped - began)
        reports.append(done - wrapped)
        snapshot = result if snapshot is None else snapshot
    return (statistics.median(totals), statistics.median(wraps), statistics.median(reports),
            snapshot)


class _Table(list[dict[str, Any]]):
    """Rows written to the JSON in full but printed as one short line (shown as a table)."""

    def __str__(self) -> str:
        return f"{len(self)} columns (table above)"


def compare_columns(mine: Verdicts, theirs: Verdicts) -> _Table:
    rows = _Table()
    for column in COLUMNS:
        a = mine.columns.get(column.name)
        b = theirs.columns.get(column.name)
        if a is None or b is None:
            rows.append({"column": column.name, "kind": column.kind, "agree": False,
                         "missing_on": "ours" if a is None else "evidently"})
            continue
        diff = abs(a.statistic - b.statistic)
        rows.append({
            "column": column.name, "kind": column.kind, "change": column.change,
            "test_ours": a.test, "test_evidently": b.test,
            "statistic_ours": a.statistic, "statistic_evidently": b.statistic,
            "abs_diff": diff, "threshold_ours": a.threshold, "threshold_evidently": b.threshold,
            "drifted_ours": a.drifted, "drifted_evidently": b.drifted,
            "agree": a.drifted == b.drifted,
        })
    return rows


def print_table(rows: Sequence[dict[str, Any]], label: str) -> None:
    print(f"\nper column at {label} rows (test and statistic: ours | Evidently; "
          "drifted: ours/Evidently)")
    print(f"{'column':<7} {'test':<27} {'ours':>12} {'Evidently':>12} {'|diff|':>8} "
          f"{'thr':>5} {'drifted':>7} {'agree':>5}  change")
    for row in rows:
        if "test_ours" not in row:
            print(f"{row['column']:<7} missing on {row['missing_on']}")
            continue
        test = (row["test_ours"] if row["test_ours"] == row["test_evidently"]
                else f"{row['test_ours']} | {row['test_evidently']}")
        drifted = "/".join("Y" if row[k] else "n" for k in ("drifted_ours", "drifted_evidently"))
        print(f"{row['column']:<7} {test:<27} {row['statistic_ours']:>12.6g} "
              f"{row['statistic_evidently']:>12.6g} {row['abs_diff']:>8.1e} "
              f"{row['threshold_ours']:>5g} {drifted:>7} {'yes' if row['agree'] else 'NO':>5}"
              f"  {row['change']}")


def _label(rows: int) -> str:
    if rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    if rows % 1000 == 0:
        return f"{rows // 1000}k"
    return str(rows)


def _dataset(v: Verdicts) -> str:
    return (f"{'drifted' if v.drifted else 'not drifted'}: {v.drifted_columns}/"
            f"{v.tested_columns} columns = {v.drifted_share:.3f}")


def measure(rows: int, *, runs: int, evidently_runs: int, evidently_warm_up: bool,
            seed: int) -> tuple[dict[str, Any], _Table]:
    """Every figure of one size, and the per-column comparison."""
    label = _label(rows)
    print(f"\n{label}: generating {rows:,} + {rows:,} rows ...", flush=True)
    reference, current = make_frames(rows, seed=seed)
    ours_s, ours_best_s, ours_cpu_s, result = _median_time(lambda: ours(reference, current),
                                                           runs, warm_up=True)
    print(f"{label}: ours {ours_s * 1000:.1f} ms (median of {runs}); Evidently "
          f"{evidently_runs} run(s){' after a warm-up' if evidently_warm_up else ''} ...",
          flush=True)
    ev_s, ev_wrap_s, ev_run_s, snapshot = _evidently_timed(
        reference, current, evidently_runs, warm_up=evidently_warm_up)
    mine, theirs = ours_verdicts(result), evidently_verdicts(snapshot)
    table = compare_columns(mine, theirs)
    print_table(table, label)
    diffs = [r["abs_diff"] for r in table if "abs_diff" in r and math.isfinite(r["abs_diff"])]
    disagree = [r["column"] for r in table if not r["agree"]]
    other_test = [r["column"] for r in table if r.get("test_ours") != r.get("test_evidently")]
    figures: dict[str, Any] = {
        f"ours_{label}_s": ours_s,
        f"ours_{label}_fastest_s": ours_best_s,
        f"ours_{label}_cpu_s": ours_cpu_s,
        f"ours_{label}_runs": runs,
        f"evidently_{label}_s": ev_s,
        f"evidently_{label}_dataset_from_pandas_s": ev_wrap_s,
        f"evidently_{label}_report_run_s": ev_run_s,
        f"evidently_{label}_runs": evidently_runs,
        f"evidently_{label}_warm_up": evidently_warm_up,
        f"speedup_{label}": ev_s / ours_s,
        f"columns_agree_{label}": f"{len(table) - len(disagree)}/{len(table)}",
        f"columns_disagree_{label}": disagree,
        f"columns_other_test_{label}": other_test,
        f"max_abs_statistic_diff_{label}": max(diffs) if diffs else None,
        f"dataset_ours_{label}": _dataset(mine),
        f"dataset_evidently_{label}": _dataset(theirs),
        f"dataset_agree_{label}": mine.drifted == theirs.drifted,
    }
    if theirs.notes:
        figures[f"evidently_status_vs_rule_{label}"] = list(theirs.notes)
    return figures, table


def _rounded(figures: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in figures.items():
        if isinstance(value, float) and "diff" not in key:
            value = round(value, 5 if key.endswith("_s") else 1 if "speedup" in key else 8)
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        default=list(SIZES),
                        help="rows on each side, comma-separated (default 50000,500000)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of ours (default 7)")
    parser.add_argument("--evidently-runs", type=int, default=3,
                        help="timed runs of Evidently up to --slow-rows (default 3)")
    parser.add_argument("--slow-rows", type=int, default=100_000,
                        help="above this many rows Evidently runs --evidently-slow-runs times, "
                             "no warm-up (default 100000)")
    parser.add_argument("--evidently-slow-runs", type=int, default=2,
                        help="timed runs of Evidently above --slow-rows (default 2)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"data seed (default {SEED})")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)
    if min(args.sizes) < 1 or min(args.runs, args.evidently_runs, args.evidently_slow_runs) < 1:
        parser.error("sizes and runs must be at least 1")
    import evidently

    started = time.perf_counter()
    before = machine()
    figures: dict[str, Any] = {
        "benchmark": "drift_evidently",
        "evidently_version": evidently.__version__,
        "pandas_version": pd.__version__,
        "numpy_version": np.__version__,
        "columns": f"{len(NUMERIC_COLUMNS)} numeric, {len(CATEGORICAL_COLUMNS)} categorical",
        "seed": args.seed,
    }
    tables: dict[str, _Table] = {}
    for rows in args.sizes:
        slow = rows > args.slow_rows
        sized, table = measure(
            rows, runs=args.runs, seed=args.seed,
            evidently_runs=args.evidently_slow_runs if slow else args.evidently_runs,
            evidently_warm_up=not slow)
        figures.update(sized)
        tables[_label(rows)] = table
        if slow:
            figures[f"evidently_{_label(rows)}_note"] = (
                f"Evidently run {args.evidently_slow_runs} time(s) only, without a separate "
                "warm-up (slow at this size; the smaller size warmed it up in this process)")
    print()
    figures.update({
        "total_s": time.perf_counter() - started,
        "machine_before": before,
        "machine_after": machine(),
        "targets": TARGETS,
    })
    met: dict[str, bool | None] = {
        "same_verdict_every_column": all(
            not figures[f"columns_disagree_{label}"] for label in tables),
        "speedup_at_50k": None, "ours_at_500k": None, "ours_at_50k_strict": None,
    }
    if "ours_50k_s" in figures:
        met["speedup_at_50k"] = figures["speedup_50k"] >= TARGETS["speedup_at_50k_min"]
        met["ours_at_50k_strict"] = figures["ours_50k_s"] < TARGETS["ours_at_50k_max_s_strict"]
    if "ours_500k_s" in figures:
        met["ours_at_500k"] = figures["ours_500k_s"] < TARGETS["ours_at_500k_max_s"]
    figures = _rounded(figures)
    figures["meets_targets"] = {k: ("n/a (size not run)" if v is None else
                                    "pass" if v else "FAIL") for k, v in met.items()}
    for label, table in tables.items():
        figures[f"per_column_{label}"] = table
    report(figures, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
