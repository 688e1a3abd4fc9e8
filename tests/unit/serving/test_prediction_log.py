"""The prediction log batches writes, keeps rows through failures and drains on stop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError

from services.serving.prediction_log import PredictionLog, is_bad_data
from services.serving.spool import REJECTED_FILE, Spool


class FakeSink:
    """Stores batches in memory; fails the first ``failures`` calls (or every call)."""

    def __init__(self, *, failures: int = 0, always_fail: bool = False) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.calls = 0
        self._failures = failures
        self._always_fail = always_fail
        self._lock = threading.Lock()

    def __call__(self, rows: Sequence[dict[str, Any]]) -> None:
        with self._lock:
            self.calls += 1
            if self._always_fail or self.calls <= self._failures:
                raise RuntimeError("database is locked")
            self.batches.append(list(rows))

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [row for batch in self.batches for row in batch]


def _rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": f"{i:032x}", "n": i} for i in range(start, start + n)]


def _wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_rows_are_written_in_batches_not_one_write_a_row() -> None:
    sink = FakeSink()
    # No writer thread: submitting never writes, and the drain on stop writes what is
    # pending in full batches, so what each write holds does not depend on timing.
    log = PredictionLog(sink=sink, batch_size=10, flush_seconds=60)
    for i in range(95):
        log.submit(_rows(1, start=i))
    assert sink.calls == 0
    log.stop()

    assert [row["n"] for row in sink.rows] == list(range(95))
    assert [len(batch) for batch in sink.batches] == [10] * 9 + [5]
    assert (log.writes, log.rows_written, log.pending) == (10, 95, 0)


def test_rows_submitted_while_the_writer_runs_are_all_written_in_order() -> None:
    sink = FakeSink()
    log = PredictionLog(sink=sink, batch_size=10, flush_seconds=0.05)
    log.start()
    for i in range(95):
        log.submit(_rows(1, start=i))
    log.stop()

    # How the rows fall into writes depends on when the writer thread runs; never more
    # than a batch in one write.
    assert [row["n"] for row in sink.rows] == list(range(95))
    assert all(len(batch) <= 10 for batch in sink.batches)
    assert (log.writes, log.rows_written, log.pending) == (len(sink.batches), 95, 0)


def test_a_partial_batch_is_written_after_flush_seconds() -> None:
    sink = FakeSink()
    log = PredictionLog(sink=sink, batch_size=100, flush_seconds=0.05)
    log.start()
    log.submit(_rows(3))

    _wait_until(lambda: len(sink.rows) == 3)
    assert len(sink.batches) == 1
    log.stop()


def test_stop_drains_rows_that_wait_for_a_long_flush_interval() -> None:
    sink = FakeSink()
    log = PredictionLog(sink=sink, batch_size=100, flush_seconds=60)
    log.start()
    log.submit(_rows(7))

    started = time.monotonic()
    log.stop()

    assert time.monotonic() - started < 5
    assert len(sink.rows) == 7


def test_rows_survive_failed_writes_and_are_written_once_later() -> None:
    sink = FakeSink(failures=3)
    log = PredictionLog(sink=sink, batch_size=5, flush_seconds=0.01)
    log.start()
    log.submit(_rows(12))

    _wait_until(lambda: len(sink.rows) == 12)
    log.stop()

    assert [row["n"] for row in sink.rows] == list(range(12))
    assert log.failed_writes == 3
    assert "database is locked" in log.last_error


def test_rows_the_store_refuses_until_shutdown_stay_in_the_spool(tmp_path: Path) -> None:
    sink = FakeSink(always_fail=True)
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.open()
    log = PredictionLog(
        sink=sink, batch_size=5, flush_seconds=0.01, drain_seconds=0.2, spool=spool
    )
    log.start()
    log.submit(_rows(4))
    log.stop()
    spool.close()

    saved = [json.loads(line) for path in sorted(tmp_path.glob("segment-*.jsonl"))
             for line in path.read_text().splitlines()]
    assert [row["n"] for row in saved] == [0, 1, 2, 3]


def test_stored_rows_leave_the_spool(tmp_path: Path) -> None:
    sink = FakeSink(failures=1)
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.open()
    log = PredictionLog(sink=sink, batch_size=5, flush_seconds=60, spool=spool)

    log.submit(_rows(7))
    assert list(tmp_path.glob("segment-*.jsonl"))
    assert not log.flush()  # the store is locked: the rows stay spooled
    assert spool.bytes > 0
    assert log.flush()

    assert [row["n"] for row in sink.rows] == list(range(7))
    assert spool.bytes == 0
    assert not list(tmp_path.glob("segment-*.jsonl"))


def test_the_log_stops_accepting_when_the_backlog_reaches_its_cap() -> None:
    sink = FakeSink(always_fail=True)
    log = PredictionLog(sink=sink, batch_size=5, flush_seconds=60, max_pending=10)

    log.submit(_rows(9))
    assert log.accepting
    log.submit(_rows(1, start=9))
    assert not log.accepting

    sink._always_fail = False
    assert log.flush()
    assert log.accepting
    assert len(sink.rows) == 10


def test_a_row_the_store_rejects_is_set_aside_and_the_others_are_written(
    tmp_path: Path,
) -> None:
    written: list[dict[str, Any]] = []

    def sink(rows: Sequence[dict[str, Any]]) -> None:
        if any(row["n"] == 3 for row in rows):
            raise IntegrityError("INSERT INTO predictions", {}, Exception("FOREIGN KEY failed"))
        written.extend(rows)

    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.open()
    log = PredictionLog(sink=sink, batch_size=5, flush_seconds=60, spool=spool)
    log.submit(_rows(8))

    assert log.flush()

    assert [row["n"] for row in written] == [0, 1, 2, 4, 5, 6, 7]
    assert log.rejected_rows == 1
    saved = (tmp_path / REJECTED_FILE).read_text().splitlines()
    assert [json.loads(line)["row"]["n"] for line in saved] == [3]
    assert spool.rejected == 1
    assert spool.bytes == 0  # the rejected row left the spool too


def test_locks_and_lost_connections_are_retried_but_bad_rows_are_not() -> None:
    locked = OperationalError("INSERT", {}, Exception("database is locked"))
    duplicate = IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    assert not is_bad_data(locked)
    assert not is_bad_data(RuntimeError("connection reset"))
    assert is_bad_data(duplicate)


def test_rows_submitted_after_a_failed_stop_are_stored_after_the_spooled_ones(
    tmp_path: Path,
) -> None:
    sink = FakeSink(always_fail=True)
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.open()
    log = PredictionLog(sink=sink, batch_size=5, flush_seconds=60, drain_seconds=0.1,
                        spool=spool)
    log.submit(_rows(4))
    log.stop()

    sink._always_fail = False
    log.submit(_rows(1, start=4))  # a late request, after the stop

    assert [row["n"] for row in sink.rows] == [0, 1, 2, 3, 4]
    assert spool.bytes == 0
