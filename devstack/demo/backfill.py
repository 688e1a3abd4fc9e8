"""Prometheus history of the inference service, derived from the predictions in the store.

:func:`write_openmetrics` writes an OpenMetrics text file for ``promtool tsdb
create-blocks-from openmetrics``, so Prometheus shows the seeded days at once and its
charts agree with the store: every counter and histogram is the cumulative count of the
stored predictions at each step. Series carry ``job`` and ``instance`` as the live scrape
does, so the backfilled history and the scraped present are the same series.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine

from db.repositories.predictions import served_predictions
from db.repositories.registry import list_models
from db.session import session_scope
from devstack.demo.generator import FloatArray
from services.prometheus import metric_names as names

__all__ = ["write_openmetrics"]

#: Share of requests answered with a validation error (the simulator sends about as many).
ERROR_SHARE = 0.008
#: CPU seconds the serving process spends idle per second, and per prediction.
_CPU_IDLE = 0.003
_CPU_PER_PREDICTION = 0.0012
_RSS_BASE = 160e6
_HELP = {
    names.PREDICTIONS_TOTAL: "Predictions served, by predicted class.",
    names.ERRORS_TOTAL: "Prediction requests that were not answered, by reason.",
    names.LATENCY_SECONDS: "Time to handle one answered /predict request, in seconds.",
    names.SCORE: "Probability of the predicted (top) class, one observation per prediction.",
    names.MODEL_INFO: "1 for the model version currently loaded and served.",
    "process_cpu_seconds_total": "Total user and system CPU time spent in seconds.",
    "process_resident_memory_bytes": "Resident memory size in bytes.",
}


@dataclass(frozen=True)
class _Served:
    """Stored predictions of one model version, sorted by time."""

    model: str
    version: int
    classes: tuple[str, ...]
    seconds: FloatArray
    predicted: NDArray[np.str_]
    top_score: FloatArray
    latency_s: FloatArray


@dataclass(frozen=True)
class _Block:
    """Series written together, timestamp by timestamp (one histogram's metric points)."""

    prefixes: tuple[str, ...]
    values: tuple[Sequence[str], ...]
    steps: NDArray[np.int64]


def write_openmetrics(
    *, engine: Engine, path: Path, end: datetime, instance: str, step_seconds: int = 60
) -> int:
    """Write the serving metrics' history from the first stored prediction to ``end``.

    Args:
        engine: the store.
        path: the OpenMetrics file to (over)write.
        end: last moment of the history (usually the seed's ``now``).
        instance: the ``instance`` label of the live scrape target, e.g. ``127.0.0.1:8000``.
        step_seconds: interval between samples of a series.

    Returns:
        The number of samples written; 0 when the store has no predictions (the file
        then holds only ``# EOF``).

    Raises:
        ValueError: ``step_seconds`` is not positive or ``end`` is naive.
    """
    if step_seconds <= 0:
        raise ValueError(f"step_seconds must be positive, got {step_seconds}")
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    served = _read(engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = np.zeros(0, dtype=np.int64)
    if served:
        first = min(float(s.seconds[0]) for s in served)
        grid = np.arange(
            int(first // step_seconds) * step_seconds, int(end.timestamp()) + 1, step_seconds
        )
    with path.open("w", encoding="utf-8", newline="\n") as out:
        if len(grid) == 0:
            out.write("# EOF\n")
            return 0
        common = f'instance="{_escape(instance)}",job="{names.SERVING_JOB}"'
        count = 0
        families = (
            (names.PREDICTIONS_TOTAL, "counter", _prediction_counts(served, grid, common)),
            (names.ERRORS_TOTAL, "counter", _errors(served, grid, common)),
            (names.LATENCY_SECONDS, "histogram", _histograms(served, grid, common, latency=True)),
            (names.SCORE, "histogram", _histograms(served, grid, common, latency=False)),
            (names.MODEL_INFO, "gauge", _model_info(served, grid, common)),
            ("process_cpu_seconds_total", "counter", _process_cpu(served, grid, common)),
            ("process_resident_memory_bytes", "gauge", _process_memory(grid, common)),
        )
        for name, kind, blocks in families:
            family = name.removesuffix("_total") if kind == "counter" else name
            out.write(f"# HELP {family} {_HELP[name]}\n# TYPE {family} {kind}\n")
            for block in blocks:
                count += _write_block(out, block)
        out.write("# EOF\n")
    return count


def _read(engine: Engine) -> list[_Served]:
    """Only the columns the metrics need, one group per model version."""
    with session_scope(engine) as session:
        classes = {m.name: tuple(m.class_labels) for m in list_models(session=session)}
        rows = served_predictions(session=session)
    served = []
    for (model, version), group in itertools.groupby(rows, key=lambda r: (r.model, r.version)):
        _, _, ts, predicted, top, latency = zip(*group, strict=True)
        served.append(
            _Served(
                model=model,
                version=version,
                classes=tuple(sorted(set(classes.get(model, ())) | set(predicted))),
                seconds=np.array([t.timestamp() for t in ts]),
                predicted=np.array(predicted, dtype=str),
                top_score=np.array(top, dtype=np.float64),
                latency_s=np.array(latency, dtype=np.float64) / 1000.0,
            )
        )
    return served


def _steps_of(served: _Served, grid: NDArray[np.int64]) -> NDArray[np.int64]:
    """The grid from the step holding the version's first prediction on."""
    first = int(np.searchsorted(grid, served.seconds[0], side="right")) - 1
    return grid[max(first, 0) :]


def _cumulative(times: FloatArray, steps: NDArray[np.int64]) -> list[str]:
    """How many of the sorted ``times`` are at or before each step, as text."""
    return [str(v) for v in np.searchsorted(times, steps, side="right").tolist()]


def _labels(common: str, **labels: str) -> str:
    extra = "".join(f',{k}="{_escape(v)}"' for k, v in labels.items())
    return common + extra


def _prediction_counts(
    served: list[_Served], grid: NDArray[np.int64], common: str
) -> Iterable[_Block]:
    for s in served:
        steps = _steps_of(s, grid)
        for cls in s.classes:
            labels = _labels(common, model=s.model, version=str(s.version), predicted_class=cls)
            yield _Block(
                prefixes=(f"{names.PREDICTIONS_TOTAL}{{{labels}}}",),
                values=(_cumulative(s.seconds[s.predicted == cls], steps),),
                steps=steps,
            )


def _errors(served: list[_Served], grid: NDArray[np.int64], common: str) -> Iterable[_Block]:
    for s in served:
        # A fixed stream per model version: the same store gives the same file.
        rng = np.random.default_rng(zlib.crc32(f"{s.model}-v{s.version}".encode()))
        chosen = rng.random(len(s.seconds)) < ERROR_SHARE
        times = np.sort(s.seconds[chosen] + rng.uniform(0.0, 1.0, int(chosen.sum())))
        steps = _steps_of(s, grid)
        labels = _labels(common, model=s.model, version=str(s.version), reason="validation")
        yield _Block(
            prefixes=(f"{names.ERRORS_TOTAL}{{{labels}}}",),
            values=(_cumulative(times, steps),),
            steps=steps,
        )


def _histograms(
    served: list[_Served], grid: NDArray[np.int64], common: str, *, latency: bool
) -> Iterable[_Block]:
    name, bounds = (
        (names.LATENCY_SECONDS, names.LATENCY_BUCKETS)
        if latency
        else (names.SCORE, names.SCORE_BUCKETS)
    )
    for s in served:
        steps = _steps_of(s, grid)
        observed = s.latency_s if latency else s.top_score
        labels = _labels(common, model=s.model, version=str(s.version))
        prefixes, values = [], []
        for bound in (*bounds, float("inf")):
            le = "+Inf" if bound == float("inf") else repr(float(bound))
            prefixes.append(f'{name}_bucket{{{labels},le="{le}"}}')
            values.append(_cumulative(s.seconds[observed <= bound], steps))
        upto = np.searchsorted(s.seconds, steps, side="right")
        running = np.concatenate(([0.0], np.cumsum(observed)))
        prefixes += [f"{name}_count{{{labels}}}", f"{name}_sum{{{labels}}}"]
        values += [[str(v) for v in upto.tolist()], [repr(v) for v in running[upto].tolist()]]
        yield _Block(prefixes=tuple(prefixes), values=tuple(values), steps=steps)


def _model_info(served: list[_Served], grid: NDArray[np.int64], common: str) -> Iterable[_Block]:
    """1 while a version is the one serving its model (until the next version's first use)."""
    for s in served:
        steps = _steps_of(s, grid)
        later = [o.seconds[0] for o in served if o.model == s.model and o.seconds[0] > s.seconds[0]]
        if later:
            steps = steps[steps < min(later)]
        labels = _labels(common, model=s.model, version=str(s.version))
        yield _Block(
            prefixes=(f"{names.MODEL_INFO}{{{labels}}}",), values=(["1"] * len(steps),), steps=steps
        )


def _process_cpu(served: list[_Served], grid: NDArray[np.int64], common: str) -> Iterable[_Block]:
    everything = np.sort(np.concatenate([s.seconds for s in served]))
    done = np.searchsorted(everything, grid, side="right")
    cpu = _CPU_IDLE * (grid - grid[0]) + _CPU_PER_PREDICTION * done
    yield _Block(
        prefixes=(f"process_cpu_seconds_total{{{common}}}",),
        values=([f"{v:.2f}" for v in cpu.tolist()],),
        steps=grid,
    )


def _process_memory(grid: NDArray[np.int64], common: str) -> Iterable[_Block]:
    rng = np.random.default_rng(0)
    hours = (grid - grid[0]) / 3600.0
    # Warm-up after start, a slow daily breathing of caches, small scrape-to-scrape noise.
    rss = (
        _RSS_BASE
        + 35e6 * (1.0 - np.exp(-hours / 2.0))
        + 6e6 * np.sin(2 * np.pi * hours / 24.0)
        + rng.normal(0.0, 1.5e6, len(grid))
    )
    yield _Block(
        prefixes=(f"process_resident_memory_bytes{{{common}}}",),
        values=([str(int(v)) for v in rss.tolist()],),
        steps=grid,
    )


def _write_block(out: IO[str], block: _Block) -> int:
    """Write a block's samples timestamp-major; returns the number of samples."""
    stamps = [str(t) for t in block.steps.tolist()]
    columns = [
        [f"{prefix} {value} {stamp}\n" for value, stamp in zip(values, stamps, strict=True)]
        for prefix, values in zip(block.prefixes, block.values, strict=True)
    ]
    out.writelines(itertools.chain.from_iterable(zip(*columns, strict=True)))
    return len(stamps) * len(columns)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
