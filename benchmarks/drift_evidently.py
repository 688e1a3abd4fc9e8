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
generator (:func:`make_frames`) needs only numpy and pandas; Evidently is imported only
when the benchmark runs.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from benchmarks.report import machine, report
from services.drift.compare import DatasetDrift, compare_frames
from services.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "drift_evidently.json"
SIZES = (50_000, 500_000)
SEED = 20_240_601
TARGETS = {
    "same_verdict_every_column": True,
    "speedup_at_50k_min": 50.0,  # ours at least this many times faster than Evidently
    "ours_at_500k_max_s": 1.0,
    "ours_at_50k_max_s_strict": 0.05,
}
DRIFT_SHARE = 0.5
#: Evidently's display names of the tests our engine knows (its legacy stattests modules).
EVIDENTLY_TESTS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
}
_P_VALUE_TESTS = {"ks", "chisquare", "z"}

Sampler = Callable[[np.random.Generator, int], npt.NDArray[Any]]


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Column:
    """One generated column: how the reference and the current values are drawn."""

    name: str
    kind: str  # "numeric" or "categorical"
    change: str  # what differs in the current sample (and the expected statistic)
    reference: Sampler
    current: Sampler


def _normal(mean: float = 0.0, std: float = 1.0) -> Sampler:
    return lambda rng, n: rng.normal(mean, std, n)


def _lognormal(mean: float, sigma: float, shift: float = 0.0) -> Sampler:
    return lambda rng, n: rng.lognormal(mean, sigma, n) + shift


def _uniform(low: float, high: float) -> Sampler:
    return lambda rng, n: rng.uniform(low, high, n)


def _exponential(scale: float, shift: float = 0.0) -> Sampler:
    return lambda rng, n: rng.exponential(scale, n) + shift


def _gamma(shape: float, scale: float, shift: float = 0.0) -> Sampler:
    return lambda rng, n: rng.gamma(shape, scale, n) + shift


def _poisson(lam: float) -> Sampler:
    return lambda rng, n: rng.poisson(lam, n).astype(np.float64)


def _integers(shares: Sequence[float]) -> Sampler:
    """Whole numbers 0, 1, … drawn with the given shares (as floats)."""
    p = np.asarray(shares, dtype=np.float64)
    return lambda rng, n: rng.choice(p.size, size=n, p=p / p.sum()).astype(np.float64)


def _bimodal(right_share: float) -> Sampler:
    """Half-and-half N(-2, 1) and N(2, 1) by default; ``right_share`` in the right mode."""

    def draw(rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        right = rng.random(n) < right_share
        return rng.normal(0.0, 1.0, n) + np.where(right, 2.0, -2.0)

    return draw


def _categories(names: Sequence[str], shares: Sequence[float]) -> Sampler:
    labels = np.asarray(names, dtype=object)
    p = np.asarray(shares, dtype=np.float64)
    return lambda rng, n: labels[rng.choice(labels.size, size=n, p=p / p.sum())]


def _with_missing(sampler: Sampler, share: float, missing: Any) -> Sampler:
    """``sampler``'s values with about ``share`` of them replaced by ``missing``."""

    def draw(rng: np.random.Generator, n: int) -> npt.NDArray[Any]:
        values = sampler(rng, n)
        values[rng.random(n) < share] = missing
        return values

    return draw


_ZIPF = 1.0 / np.arange(1, 31) ** 1.1
_ZIPF_TILTED = _ZIPF * np.exp(0.1 * np.linspace(-1.0, 1.0, 30))
_CITIES = [f"city_{i:02d}" for i in range(30)]

#: Every generated column, numeric first. Statistics in brackets are the population values
#: (Wasserstein over the reference's standard deviation, or Jensen–Shannon distance).
COLUMNS: tuple[Column, ...] = (
    Column("num_00", "numeric", "none: N(0, 1)", _normal(), _normal()),
    Column("num_01", "numeric", "none: N(10, 2)", _normal(10, 2), _normal(10, 2)),
    Column("num_02", "numeric", "none: lognormal", _lognormal(0, 0.5), _lognormal(0, 0.5)),
    Column("num_03", "numeric", "none: uniform(0, 1)", _uniform(0, 1), _uniform(0, 1)),
    Column("num_04", "numeric", "shift 0.02 sd (W 0.02)", _exponential(1), _exponential(1, 0.02)),
    Column("num_05", "numeric", "shift 0.05 sd (W 0.05)", _normal(), _normal(0.05)),
    Column("num_06", "numeric", "shift 0.08 sd (W 0.08)", _normal(5, 3), _normal(5 + 0.08 * 3, 3)),
    Column("num_07", "numeric", "shift 0.095 sd (W 0.095, just under)", _normal(), _normal(0.095)),
    Column("num_08", "numeric", "shift 0.105 sd (W 0.105, just over)", _normal(), _normal(0.105)),
    Column("num_09", "numeric", "shift 0.12 sd (W 0.12)", _normal(-3, 0.5),
           _normal(-3 + 0.12 * 0.5, 0.5)),
    Column("num_10", "numeric", "shift 0.3 sd (W 0.3)", _normal(), _normal(0.3)),
    Column("num_11", "numeric", "gamma shifted 1 sd (W 1.0)", _gamma(2, 1),
           _gamma(2, 1, math.sqrt(2))),
    Column("num_12", "numeric", "sd x1.15 (W 0.12)", _normal(), _normal(0, 1.15)),
    Column("num_13", "numeric", "sd x1.12 (W 0.096, just under)", _normal(), _normal(0, 1.12)),
    Column("num_14", "numeric", "Poisson 3 to 3.3, ties (W 0.17)", _poisson(3), _poisson(3.3)),
    Column("num_15", "numeric", "none: Poisson 8, ties", _poisson(8), _poisson(8)),
    Column("num_16", "numeric", "none: 4 values (Jensen-Shannon)", _integers([4, 3, 2, 1]),
           _integers([4, 3, 2, 1])),
    Column("num_17", "numeric", "5 values, mix moves (JS 0.13)", _integers([1, 1, 1, 1, 1]),
           _integers([0.10, 0.15, 0.20, 0.25, 0.30])),
    Column("num_18", "numeric", "2 % missing both sides, shift 0.15 sd (W 0.15)",
           _with_missing(_normal(), 0.02, np.nan),
           _with_missing(_normal(0.15), 0.02, np.nan)),
    Column("num_19", "numeric", "bimodal, right mode 50 % to 55.5 % (W 0.098, at the edge)",
           _bimodal(0.5), _bimodal(0.555)),
    Column("cat_0", "categorical", "none: 4 categories",
           _categories(list("ABCD"), [0.4, 0.3, 0.2, 0.1]),
           _categories(list("ABCD"), [0.4, 0.3, 0.2, 0.1])),
    Column("cat_1", "categorical", "mix 50/30/20 to 30/30/40 (JS 0.17)",
           _categories(["red", "green", "blue"], [0.5, 0.3, 0.2]),
           _categories(["red", "green", "blue"], [0.3, 0.3, 0.4])),
    Column("cat_2", "categorical", "new category at 5 % (JS 0.13)",
           _categories(["web", "mail", "phone"], [0.40, 0.35, 0.25]),
           _categories(["web", "mail", "phone", "chat"],
                       [0.40 * 0.95, 0.35 * 0.95, 0.25 * 0.95, 0.05])),
    Column("cat_3", "categorical", "mix 25 % each to 31.8/31.8/18.2/18.2 (JS 0.097, just under)",
           _categories(["n", "e", "s", "w"], [0.25] * 4),
           _categories(["n", "e", "s", "w"], [0.318, 0.318, 0.182, 0.182])),
    Column("cat_4", "categorical", "30 categories (Zipf), tilted, 1 % missing (JS 0.018)",
           _with_missing(_categories(_CITIES, _ZIPF), 0.01, None),
           _with_missing(_categories(_CITIES, _ZIPF_TILTED), 0.01, None)),
)
NUMERIC_COLUMNS = tuple(c.name for c in COLUMNS if c.kind == "numeric")
CATEGORICAL_COLUMNS = tuple(c.name for c in COLUMNS if c.kind == "categorical")


def make_frames(rows: int, *, seed: int = SEED,
                current_rows: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference and current frames: every column of :data:`COLUMNS` in order, numeric
    ones ``float64`` (missing: NaN), categorical ones ``object`` (text; missing: None).

    The same seed gives the same frames.
    """
    rng = np.random.default_rng(seed)
    current_rows = rows if current_rows is None else current_rows
    reference: dict[str, pd.Series] = {}
    current: dict[str, pd.Series] = {}
    for column in COLUMNS:
        dtype = np.float64 if column.kind == "numeric" else object
        reference[column.name] = pd.Series(column.reference(rng, rows), dtype=dtype)
        current[column.name] = pd.Series(column.current(rng, current_rows), dtype=dtype)
    return pd.DataFrame(reference), pd.DataFrame(current)


# --------------------------------------------------------------------------- the two engines


@dataclass(frozen=True)
class Verdict:
    """One column's verdict from either engine."""

    test: str
    statistic: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class Verdicts:
    columns: dict[str, Verdict]
    drifted_columns: int
    tested_columns: int
    drifted_share: float
    drifted: bool
    notes: tuple[str, ...] = ()


def ours(reference: pd.DataFrame, current: pd.DataFrame) -> DatasetDrift:
    return compare_frames(reference, current, categorical=CATEGORICAL_COLUMNS,
                          drift_share=DRIFT_SHARE)


def ours_verdicts(result: DatasetDrift) -> Verdicts:
    return Verdicts(
        columns={c.column: Verdict(test=c.test, statistic=math.nan if c.statistic is None
                                   else c.statistic, threshold=c.threshold, drifted=c.drifted)
                 for c in result.columns},
        drifted_columns=result.drifted_columns,
        tested_columns=result.tested,
        drifted_share=result.drifted_share,
        drifted=result.drifted,
    )


def evidently_datasets(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[Any, Any]:
    """Both frames as Evidently datasets, numeric and categorical columns named."""
    from evidently import DataDefinition, Dataset

    definition = DataDefinition(numerical_columns=list(NUMERIC_COLUMNS),
                                categorical_columns=list(CATEGORICAL_COLUMNS))
    return (Dataset.from_pandas(reference, data_definition=definition),
            Dataset.from_pandas(current, data_definition=definition))


def evidently_report(reference: Any, current: Any) -> Any:
    """``DataDriftPreset`` with its default tests (they carry each column's verdict)."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    return Report([DataDriftPreset(drift_share=DRIFT_SHARE)], include_tests=True).run(
        current_data=current, reference_data=reference)


def evidently_verdicts(snapshot: Any) -> Verdicts:
    """Per-column verdicts out of the snapshot's dict.

    ``ValueDrift`` metrics give the column, the resolved method (display name) and
    threshold, and the statistic; their tests (one per column, ``FAIL`` when the legacy
    stattest said drift) give the verdict, checked here against the statistic, threshold
    and the direction of the test. ``DriftedColumnsCount`` gives the dataset's count and
    share.
    """
    data = snapshot.dict()
    drift_metrics: dict[str, dict[str, Any]] = {}
    counted: dict[str, Any] | None = None
    for metric in data["metrics"]:
        kind = metric["config"]["type"]
        if kind.endswith(":ValueDrift"):
            drift_metrics[metric["id"]] = metric
        elif kind.endswith(":DriftedColumnsCount"):
            counted = metric
    if counted is None:
        raise RuntimeError("no DriftedColumnsCount in Evidently's snapshot")
    status = {t["metric_config"]["metric_id"]: t["status"] for t in data["tests"]
              if t["metric_config"]["params"]["type"].endswith(":ValueDrift")}
    columns: dict[str, Verdict] = {}
    notes = []
    for metric_id, metric in drift_metrics.items():
        config = metric["config"]
        test = EVIDENTLY_TESTS.get(config["method"], config["method"])
        value, threshold = float(metric["value"]), float(config["threshold"])
        if metric_id not in status:
            raise RuntimeError(f"no ValueDrift test for column {config['column']!r}")
        drifted = status[metric_id] == "FAIL"
        by_rule = (value <= threshold if test == "ks" else value < threshold
                   if test in _P_VALUE_TESTS else value >= threshold)
        if drifted != by_rule:
            notes.append(f"{config['column']}: test status {status[metric_id]} but value "
                         f"{value} against threshold {threshold}")
        columns[config["column"]] = Verdict(test=test, statistic=value, threshold=threshold,
                                            drifted=drifted)
    share = float(counted["value"]["share"])
    return Verdicts(columns=columns, drifted_columns=round(counted["value"]["count"]),
                    tested_columns=len(columns), drifted_share=share,
                    drifted=share >= counted["config"].get("drift_share", DRIFT_SHARE),
                    notes=tuple(notes))


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
