"""Benchmark: how long the command line takes as a whole process, start to exit.

Builds a small store in a temporary folder through the services (migrate, register a
binary model and a version, import a prediction log, save a label for each prediction),
then runs, each ``--runs`` times as a fresh ``python -m services.cli`` process on it:

* ``--help`` (building the parser and printing; no store),
* ``metrics --model churn --json`` (settings, the store, the quality report),
* ``models --json`` (settings, the store, the registry).

Nearly all of such a run is imports, so the figures show what each command loads. The
machine may be shared: compare minima and medians, and the CPU seconds (less sensitive to
other load), not single runs.

Run with ``make bench-cli`` (or ``.venv/bin/python -m benchmarks.cli_start``).
Prints the figures and writes them as JSON to ``benchmarks/results/cli_start.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.report import machine, report
from services.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "cli_start.json"
PREDICTIONS = 200
COMMANDS: dict[str, list[str]] = {
    "help": ["--help"],
    "metrics": ["metrics", "--model", "churn", "--json"],
    "models": ["models", "--json"],
}


def _prediction_log(folder: Path, n: int) -> Path:
    """A CSV log of ``n`` predictions of ``churn`` v1, in the import format."""
    lines = ["prediction_id,timestamp,model,version,predicted,score_stays,score_churns,"
             "tenure_months,plan"]
    for i in range(n):
        predicted, p = ("stays", 0.7) if i % 3 else ("churns", 0.2)
        lines.append(f"bench-{i},2024-05-01T{i % 24:02d}:{i % 60:02d}:00Z,churn,1,{predicted},"
                     f"{p},{1 - p:.1f},{i % 60},{'pro' if i % 2 else 'basic'}")
    path = folder / "log.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build_store(folder: Path, n: int) -> str:
    """Migrate a SQLite store in ``folder`` and fill it; returns its URL."""
    from db.schema import upgrade
    from db.session import make_engine
    from services.access import CLI
    from services.labels.save import LabelEdit, save_labels
    from services.predictions.importer import import_predictions
    from services.registry.registration import register_model, register_version

    url = f"sqlite:///{folder / 'opsdash.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        register_model(engine=engine, actor=CLI, name="churn", task="binary",
                       classes=["stays", "churns"],
                       features=[{"name": "tenure_months", "type": "number"},
                                 {"name": "plan", "type": "category"}])
        register_version(engine=engine, actor=CLI, model="churn")
        import_predictions(engine=engine, actor=CLI, path=_prediction_log(folder, n))
        save_labels(engine=engine, actor=CLI, source="csv", all_or_nothing=True,
                    edits=[LabelEdit(f"bench-{i}", "stays" if i % 4 else "churns", None)
                           for i in range(n)])
    finally:
        engine.dispose()
    return url


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """The wall and CPU seconds (user and system) of one run of the command line."""
    began, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"`{' '.join(args)}` failed ({done.returncode}):\n"
                         f"{done.stderr[-3000:]}")
    return seconds, _children_cpu() - cpu


def _check(env: dict[str, str], n: int) -> None:
    """Stop the benchmark unless ``metrics`` reports on the store's labelled predictions."""
    done = subprocess.run([sys.executable, "-m", "services.cli", *COMMANDS["metrics"]],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    labelled = json.loads(done.stdout)["n_labelled"]
    if labelled != n:
        raise SystemExit(f"metrics saw {labelled} labelled predictions, not {n}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (default 10)")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {
        "benchmark": "cli_start", "runs": args.runs, **machine(),
        # Without the bytecode cache (PYTHONDONTWRITEBYTECODE set) every run compiles the
        # project's modules again, as no installed copy would.
        "bytecode_cached": not os.environ.get("PYTHONDONTWRITEBYTECODE"),
    }
    with tempfile.TemporaryDirectory(prefix="opsdash-bench-") as tmp:
        env = {**os.environ, "OPSDASH_VAR_DIR": tmp,
               "OPSDASH_DATABASE_URL": build_store(Path(tmp), PREDICTIONS)}
        _check(env, PREDICTIONS)
        for name, command in COMMANDS.items():
            # Interleaved with the other commands would mix their page-cache effects; one
            # unmeasured run first warms the files every command reads.
            _timed_run(command, env)
            runs = [_timed_run(command, env) for _ in range(args.runs)]
            times = [wall for wall, _ in runs]
            figures[f"{name}_min_s"] = round(min(times), 3)
            figures[f"{name}_median_s"] = round(statistics.median(times), 3)
            figures[f"{name}_max_s"] = round(max(times), 3)
            # CPU time depends less than wall time on what else the machine runs.
            figures[f"{name}_cpu_median_s"] = round(statistics.median(c for _, c in runs), 3)
    report(figures, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
