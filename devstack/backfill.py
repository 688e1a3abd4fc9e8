"""Backfilling the local Prometheus with the demo's history before its first start.

``promtool tsdb create-blocks-from openmetrics`` re-reads its whole input once for every
two-hour block it writes, so 14 days of history in one file (~170 blocks) take minutes. The
history is therefore split into one file a block window first, and promtool runs once a file,
a few at a time: each sample is then read about twice instead of ~170 times.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from devstack.processes import StartupError, tail
from devstack.specs import StackPaths

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["BLOCK_WINDOW_S", "backfill_prometheus", "split_openmetrics"]

#: promtool's (and Prometheus') block length; windows are aligned to multiples of it.
BLOCK_WINDOW_S = 2 * 3600
#: Seconds one promtool run may take before the backfill is abandoned.
PROMTOOL_TIMEOUT_S = 300.0
_EOF = "# EOF"


def _sample_timestamp(line: str, number: int) -> float:
    # name{labels} value timestamp [# {exemplar labels} value [timestamp]]
    body = line.split(" # {", 1)[0]
    after_labels = body[body.rfind("}") + 1 :] if "{" in body else body.split(None, 1)[-1]
    tokens = after_labels.split()
    if len(tokens) < 2:
        raise ValueError(f"line {number}: sample without a timestamp: {line[:120]!r}")
    try:
        return float(tokens[1])
    except ValueError:
        raise ValueError(f"line {number}: bad timestamp: {line[:120]!r}") from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as source:
        for number, raw in enumerate(source, start=1):
            line = raw.rstrip("\n")
            if line == _EOF:
                return
            if line:
                yield number, line


def split_openmetrics(source: Path, folder: Path, *, window_s: int = BLOCK_WINDOW_S) -> list[Path]:
    """Split an OpenMetrics file into one valid file per aligned time window.

    Each output file holds, in source order, the metadata (``# HELP/TYPE/UNIT``) of every
    metric family with samples in that window, followed by those samples, and ends with
    ``# EOF``.

    Args:
        source: the OpenMetrics file (every sample must carry a timestamp).
        folder: where ``window-<start>.om`` files are written (created when missing).
        window_s: window length in seconds.

    Returns:
        The files written, oldest window first.

    Raises:
        ValueError: a sample line has no (or a malformed) timestamp.
    """
    folder.mkdir(parents=True, exist_ok=True)
    outputs: dict[int, TextIO] = {}
    header: list[str] = []
    header_id = 0
    header_written: dict[int, int] = {}
    in_header = False
    with ExitStack() as stack:
        for number, line in _lines(source):
            if line.startswith("#"):
                if not in_header:
                    header, header_id, in_header = [], header_id + 1, True
                header.append(line)
                continue
            in_header = False
            window = math.floor(_sample_timestamp(line, number) / window_s)
            out = outputs.get(window)
            if out is None:
                path = folder / f"window-{window * window_s}.om"
                out = outputs[window] = stack.enter_context(path.open("w", encoding="utf-8"))
            if header_written.get(window) != header_id:
                out.writelines(f"{h}\n" for h in header)
                header_written[window] = header_id
            out.write(f"{line}\n")
        for out in outputs.values():
            out.write(f"{_EOF}\n")
    return [folder / f"window-{w * window_s}.om" for w in sorted(outputs)]


def _run_promtool(promtool: str, source: Path, staging: Path) -> tuple[Path, int, str]:
    result = subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--quiet",
            str(source),
            str(staging),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_S,
        check=False,
    )
    return source, result.returncode, result.stdout + result.stderr


def _is_empty_dir(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def _build_blocks(promtool: str, windows: list[Path], staging: Path, log_path: Path) -> None:
    """Run promtool on every window file, a few at a time, into ``staging``; every run's
    output goes to ``log_path``.

    Raises:
        StartupError: a run failed (the message names the first failed window).
    """
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda w: _run_promtool(promtool, w, staging), windows))
    with log_path.open("a", encoding="utf-8") as log:
        for window, code, output in results:
            log.write(f"--- {window.name}: exit code {code}\n{output}")
    failed = [(window, code) for window, code, _ in results if code != 0]
    if failed:
        window, code = failed[0]
        raise StartupError(
            f"promtool could not backfill Prometheus ({len(failed)} of {len(results)} "
            f"windows failed, first {window.name} with exit code {code}); "
            f"see {log_path}\n{tail(log_path)}"
        )


def backfill_prometheus(
    *, engine: Engine, paths: StackPaths, instance: str, promtool: str, end: datetime
) -> int:
    """Turn the demo's history into TSDB blocks in the (empty) Prometheus data folder.

    Blocks are built in a side folder and moved into place only when every promtool run
    succeeded, so an interrupted backfill is simply redone on the next start.

    Args:
        engine: the store holding the demo's predictions.
        paths: the stack's state folders.
        instance: ``instance`` label of the series, equal to the live scrape target.
        promtool: path of the ``promtool`` binary.
        end: last moment of the history.

    Returns:
        The number of samples written (0: nothing to backfill, data folder left absent).

    Raises:
        StartupError: the history file is malformed, or promtool failed (the message names
            its log file).
    """
    from devstack.demo.backfill import write_openmetrics

    paths.prometheus_dir.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    source = paths.prometheus_dir / "backfill.om"
    slices = paths.prometheus_dir / "backfill-windows"
    staging = paths.prometheus_dir / "data.backfill"
    for leftover in (slices, staging):
        shutil.rmtree(leftover, ignore_errors=True)
    log_path = paths.logs / "promtool.log"
    try:
        samples = int(write_openmetrics(engine=engine, path=source, end=end, instance=instance))
        if samples == 0:
            return 0
        try:
            windows = split_openmetrics(source, slices)
        except ValueError as exc:
            raise StartupError(f"the demo history for Prometheus is malformed: {exc}") from exc
        source.unlink()
        _build_blocks(promtool, windows, staging, log_path)
        if not _is_empty_dir(paths.prometheus_data):
            raise StartupError(f"{paths.prometheus_data} filled up during the backfill")
        if paths.prometheus_data.exists():
            paths.prometheus_data.rmdir()
        staging.rename(paths.prometheus_data)
        return samples
    finally:
        source.unlink(missing_ok=True)
        for leftover in (slices, staging):
            shutil.rmtree(leftover, ignore_errors=True)
