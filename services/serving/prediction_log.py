"""The prediction log: answered predictions queued in memory and written to the store in batches.

The request path only appends to a list. A background thread writes whenever
``batch_size`` rows are pending or ``flush_seconds`` have passed, one transaction per
batch (never one commit a request). A failed write (the database is locked or down)
keeps the rows and retries with a growing pause. Stopping drains everything; rows that
still cannot be written at the end are saved to a JSON-lines file rather than dropped.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from db.repositories.predictions import insert_predictions
from db.session import session_scope
from services.files import private_dir

__all__ = ["MAX_PENDING", "PredictionLog", "Sink", "database_sink", "is_bad_data"]

logger = logging.getLogger(__name__)

#: A function that stores rows durably, or raises and stores none of them.
Sink = Callable[[Sequence[dict[str, Any]]], None]

#: Rows held in memory at most; beyond it the service refuses new predictions (503)
#: rather than answer ones it could not log.
MAX_PENDING = 100_000
#: Longest pause between two attempts after failed writes.
MAX_RETRY_SECONDS = 30.0


def database_sink(engine: Engine) -> Sink:
    """A sink that inserts rows into ``predictions`` in one write transaction."""

    def write(rows: Sequence[dict[str, Any]]) -> None:
        with session_scope(engine, write=True) as session:
            insert_predictions(session=session, rows=rows)

    return write


def is_bad_data(exc: BaseException) -> bool:
    """Whether a write failed because of the rows themselves, so retrying cannot help.

    Constraint violations and values the database or the column types refuse are bad
    data; locks, lost connections and everything else are worth retrying.
    """
    if isinstance(exc, (IntegrityError, DataError)):
        return True
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


class PredictionLog:
    """A batching, retrying writer of prediction rows.

    Args:
        sink: stores one batch (see :func:`database_sink`).
        batch_size: rows per write; reaching it triggers a write at once.
        flush_seconds: longest time a row waits before a write is attempted.
        max_pending: rows held at most before :attr:`accepting` turns false.
        drain_seconds: on :meth:`stop`, how long to keep retrying a failing sink.
        spill_dir: where rows are saved as JSON lines when they cannot be stored: all
            rows still refused at the end of :meth:`stop`, and single rows the store
            rejects as bad data (see :func:`is_bad_data`); ``None`` to only log them.
        is_bad_data: tells a rejected row from a store that is unavailable.
    """

    def __init__(
        self,
        *,
        sink: Sink,
        batch_size: int,
        flush_seconds: float,
        max_pending: int = MAX_PENDING,
        drain_seconds: float = 15.0,
        spill_dir: Path | None = None,
        is_bad_data: Callable[[BaseException], bool] = is_bad_data,
    ) -> None:
        self._sink = sink
        self._batch_size = max(1, batch_size)
        self._flush_seconds = max(0.01, flush_seconds)
        self._max_pending = max_pending
        self._drain_seconds = drain_seconds
        self._spill_dir = spill_dir
        self._is_bad_data = is_bad_data
        self._pending: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._over_cap_logged = False
        self._failures_in_a_row = 0
        #: Successful sink calls and the rows they stored (for health and tests).
        self.writes = 0
        self.rows_written = 0
        self.failed_writes = 0
        self.rejected_rows = 0
        self.last_error = ""

    @property
    def pending(self) -> int:
        """Rows queued and not yet stored."""
        return len(self._pending)

    @property
    def accepting(self) -> bool:
        """Whether the backlog leaves room for more rows."""
        return len(self._pending) < self._max_pending

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the writer thread."""
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="opsdash-prediction-log", daemon=True
        )
        self._thread.start()

    def submit(self, rows: Sequence[dict[str, Any]]) -> None:
        """Queue rows for writing (cheap; never touches the database)."""
        with self._cond:
            self._pending.extend(rows)
            size = len(self._pending)
            if size >= self._batch_size:
                self._cond.notify()
        if size >= self._max_pending and not self._over_cap_logged:
            self._over_cap_logged = True
            logger.error(
                "prediction log backlog reached %d rows (last write error: %s); "
                "refusing new predictions until the store accepts writes again",
                size,
                self.last_error or "none",
            )
        if self._stopping and not self.running:
            logger.warning("rows submitted after the prediction log stopped; writing them now")
            self.flush()

    def flush(self) -> bool:
        """Write every pending row now, batch by batch.

        Returns:
            True when nothing is pending any more; False when a write failed (the rows
            are kept for the next attempt).
        """
        with self._write_lock:
            while True:
                with self._cond:
                    batch = self._pending[: self._batch_size]
                if not batch:
                    return True
                try:
                    self._sink(batch)
                except Exception as exc:
                    if self._is_bad_data(exc):
                        # One bad row must not hold back the others for ever.
                        if not self._write_row_by_row(batch):
                            return False
                        continue
                    self._failed(exc, len(batch))
                    return False
                self._written(len(batch))

    def _failed(self, exc: Exception, rows: int) -> None:
        self.failed_writes += 1
        self.last_error = _describe(exc)
        logger.warning(
            "could not write %d logged predictions (%d pending), will retry: %s",
            rows,
            self.pending,
            self.last_error,
        )

    def _written(self, rows: int, *, stored: int | None = None) -> None:
        """Drop the first ``rows`` pending rows, of which ``stored`` reached the store."""
        with self._cond:
            # Only this writer removes rows, and submitters only append.
            del self._pending[:rows]
            below_cap = len(self._pending) < self._max_pending
        self.writes += 1
        self.rows_written += rows if stored is None else stored
        if self._failures_in_a_row or self._over_cap_logged:
            logger.warning("prediction log writes succeed again")
        self._failures_in_a_row = 0
        if below_cap:
            self._over_cap_logged = False

    def _write_row_by_row(self, batch: list[dict[str, Any]]) -> bool:
        """Write a batch the store rejected one row at a time, setting bad rows aside.

        Returns:
            False when a transient failure interrupted it (the rest stays pending).
        """
        stored, processed, interrupted = 0, 0, False
        rejected: list[dict[str, Any]] = []
        for row in batch:
            try:
                self._sink([row])
            except Exception as exc:
                if not self._is_bad_data(exc):
                    self._failed(exc, len(batch) - processed)
                    interrupted = True
                    break
                rejected.append(row)
                self.last_error = _describe(exc)
            else:
                stored += 1
            processed += 1
        if processed:
            self._written(processed, stored=stored)
        if rejected:
            self.rejected_rows += len(rejected)
            self._save(
                rejected, kind="rejected", reason=f"the store rejected them: {self.last_error}"
            )
        return not interrupted

    def stop(self, *, timeout: float | None = None) -> None:
        """Stop the writer and drain the queue (see the class notes on what cannot drain)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("prediction log writer did not stop within %s s", timeout)
                return
            self._thread = None
        else:
            self._drain()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._failures_in_a_row:
                    pause = min(self._flush_seconds * 2**self._failures_in_a_row, MAX_RETRY_SECONDS)
                    self._cond.wait_for(lambda: self._stopping, timeout=pause)
                else:
                    self._cond.wait_for(
                        lambda: self._stopping or len(self._pending) >= self._batch_size,
                        timeout=self._flush_seconds,
                    )
                if self._stopping:
                    break
            if self.flush():
                self._failures_in_a_row = 0
            else:
                self._failures_in_a_row += 1
        self._drain()

    def _drain(self) -> None:
        deadline = time.monotonic() + self._drain_seconds
        pause = min(0.1, self._flush_seconds)
        while not self.flush():
            if time.monotonic() + pause > deadline:
                self._spill()
                return
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _spill(self) -> None:
        with self._cond:
            rows, self._pending = self._pending, []
        if rows:
            self._save(
                rows,
                kind="unwritten",
                reason=f"the store refused them until shutdown: {self.last_error}",
            )

    def _save(self, rows: list[dict[str, Any]], *, kind: str, reason: str) -> None:
        """Keep rows that cannot go to the store in a JSON-lines file, loudly."""
        if self._spill_dir is not None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            path = self._spill_dir / f"{kind}-predictions-{stamp}.jsonl"
            try:
                private_dir(self._spill_dir)
                with path.open("a", encoding="utf-8") as fh:
                    for row in rows:
                        fh.write(json.dumps(row, default=_json_default) + "\n")
            except OSError as exc:
                logger.error("could not save %d logged predictions: %s", len(rows), exc)
            else:
                logger.error("%d logged predictions saved to %s: %s", len(rows), path, reason)
                return
        logger.error("lost %d logged predictions: %s", len(rows), reason)


def _describe(exc: BaseException) -> str:
    # SQLAlchemy errors go on with the statement and its parameters; the first line says it.
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {first}"


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
