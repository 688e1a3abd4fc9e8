"""The prediction spool keeps rows on disk until released, survives a crash and caps its size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.serving.spool import REJECTED_FILE, Spool, SpoolFullError, encode_row
from services.settings import PROJECT_ROOT


def _row(n: int) -> dict[str, Any]:
    return {
        "id": f"{n:032x}",
        "model_id": 1,
        "version_id": 2,
        "ts": datetime(2026, 1, 2, 3, 4, 5, n, tzinfo=UTC),
        "features": {"tenure": n, "plan": "basic"},
        "predicted_class": "stays",
        "scores": {"churns": 0.25, "stays": 0.75},
        "top_score": 0.75,
        "latency_ms": 1.5,
    }


def _die(spool: Spool) -> None:
    """What the kernel does to a killed process's spool: its files closed, nothing else."""
    for fd in (spool._fd, spool._lock_fd):
        if fd is not None:
            os.close(fd)


def _segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("segment-*.jsonl"))


def test_appended_rows_are_in_a_file_at_once_and_leave_it_when_released(tmp_path: Path) -> None:
    events: list[tuple[str, int]] = []
    spool = Spool(tmp_path, max_bytes=1_000_000, on_event=lambda e, n: events.append((e, n)))
    spool.open()

    spool.append([_row(0), _row(1)])
    spool.append([_row(2)])

    (segment,) = _segments(tmp_path)
    assert [json.loads(line)["id"] for line in segment.read_text().splitlines()] == [
        _row(n)["id"] for n in range(3)]
    assert spool.bytes == segment.stat().st_size
    spool.release(2)
    assert _segments(tmp_path) == [segment]  # one of its rows is not stored yet
    spool.release(1)
    assert _segments(tmp_path) == []
    assert spool.bytes == 0
    assert events == [("spooled", 2), ("spooled", 1)]


def test_a_new_run_gets_back_every_unreleased_row_in_order(tmp_path: Path) -> None:
    crashed = Spool(tmp_path, max_bytes=1_000_000, segment_bytes=600)
    crashed.open()
    for n in range(10):
        crashed.append([_row(n)])
    crashed.release(3)  # stored; the rest were not when the process died (no close)
    _die(crashed)
    assert len(_segments(tmp_path)) > 1

    events: list[tuple[str, int]] = []
    spool = Spool(tmp_path, max_bytes=1_000_000, on_event=lambda e, n: events.append((e, n)))
    rows = spool.open()

    # Rows of a segment only partly stored come back too: the store skips those ids.
    assert [row["id"] for row in rows][-7:] == [_row(n)["id"] for n in range(3, 10)]
    assert rows[-1] == _row(9)
    spool.append([_row(10)])
    spool.release(len(rows))
    assert events == [("spooled", 1), ("replayed", len(rows))]
    assert [json.loads(line)["id"] for p in _segments(tmp_path)
            for line in p.read_text().splitlines()] == [_row(10)["id"]]


def test_a_torn_last_line_and_a_corrupt_line_are_set_aside_not_fatal(tmp_path: Path) -> None:
    crashed = Spool(tmp_path, max_bytes=1_000_000)
    crashed.open()
    crashed.append([_row(0)])
    crashed.append([_row(1)])
    _die(crashed)
    (segment,) = _segments(tmp_path)
    whole = segment.read_bytes()
    segment.write_bytes(b"\x00garbage{\n" + whole + whole[:40])  # a write cut short at the end

    events: list[tuple[str, int]] = []
    spool = Spool(tmp_path, max_bytes=1_000_000, on_event=lambda e, n: events.append((e, n)))
    rows = spool.open()

    assert rows == [_row(0), _row(1)]
    assert spool.rejected == 2
    assert events == [("rejected", 2)]
    rejected = [json.loads(line) for line in (tmp_path / REJECTED_FILE).read_text().splitlines()]
    assert len(rejected) == 2
    assert all("unreadable line" in item["reason"] for item in rejected)
    spool.release(2)
    assert _segments(tmp_path) == []


def test_a_full_spool_refuses_rows_and_takes_them_again_once_released(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=700)
    spool.open()
    spool.append([_row(0), _row(1)])
    size = spool.bytes

    with pytest.raises(SpoolFullError, match="spool is full"):
        spool.append([_row(2), _row(3)])

    assert spool.bytes == size
    assert sum(p.stat().st_size for p in _segments(tmp_path)) == size
    spool.release(2)
    spool.append([_row(2), _row(3)])
    assert spool.spooled == 4


def test_rows_set_aside_are_kept_with_their_reason_and_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.open()

    spool.reject([_row(5)], reason="the store rejected them: IntegrityError")

    (item,) = [json.loads(line) for line in (tmp_path / REJECTED_FILE).read_text().splitlines()]
    assert item["row"]["id"] == _row(5)["id"]
    assert "IntegrityError" in item["reason"]
    assert spool.rejected == 1


def test_a_second_process_cannot_take_a_spool_in_use(tmp_path: Path) -> None:
    first = Spool(tmp_path, max_bytes=1_000_000)
    first.open()
    first.append([_row(0)])

    # Run in another process: flock belongs to the open file, so the test needs a process
    # that did not open it.
    code = ("import sys; from pathlib import Path; from services.serving.spool import Spool; "
            "Spool(Path(sys.argv[1]), max_bytes=10).open()")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "SpoolInUseError" in result.stderr
    assert "OPSDASH_VAR_DIR" in result.stderr

    first.close()
    again = Spool(tmp_path, max_bytes=1_000_000)
    assert again.open() == [_row(0)]


def test_a_line_with_columns_the_store_lacks_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "segment-000000000001.jsonl").write_bytes(
        encode_row({**_row(0), "extra": 1}) + encode_row(_row(1)))

    spool = Spool(tmp_path, max_bytes=1_000_000)

    assert spool.open() == [_row(1)]
    assert spool.rejected == 1
