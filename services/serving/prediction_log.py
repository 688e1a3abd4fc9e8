"""The prediction log: answered predictions queued in memory and written to the store in batches.

The request path only appends to a list. A background thread writes whenever
``batch_size`` rows are pending or ``flush_seconds`` have passed, one transaction per
batch (never one commit a request). A failed write (the database is locked or down)
keeps the rows and retries with a growing pause. Stopping drains everything it can.

With a :class:`~services.serving.spool.Spool`, every submitted row is first appended to
it (before the answer is sent) and taken out once stored: rows the store still refuses
when the service stops stay there and are stored at the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from db.repositories.predictions import insert_predictions
from db.session import session_scope
from services.serving.spool import Spool

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
            # Rows replayed from the spool may be stored already: those ids are skipped.
            insert_predictions(session=session, rows=rows, skip_existing=True)

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
        spool: where each row is written before it is queued, and where single rows the
            store rejects as bad data (see :func:`is_bad_data`) are set aside; ``None``
            to keep rows in memory only (and only log rejected ones).
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
        spool: Spool | None = None,
        is_bad_data: Callable[[BaseException], bool] = is_bad_data,
    ) -> None:
        self._sink = sink
        self._batch_size = max(1, batch_size)
        self._flush_seconds = max(0.01, flush_seconds)
        self._max_pending = max_pending
        self._drain_seconds = drain_seconds
        self._spool = spool
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
        """Spool rows and queue them for writing (never touches the database).

        Raises:
            SpoolFullError: the spool has no room; nothing was queued.
            OSError: the spool file cannot be written; nothing was queued.
        """
        with self._cond:
            # Under the same lock as the queue: the spool releases rows in queue order.
            if self._spool is not None:
                self._spool.append(rows)
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

    def replay(self, rows: Sequence[dict[str, Any]]) -> None:
        """Queue rows a previous run spooled (they are in the spool already)."""
        with self._cond:
            self._pending.extend(rows)

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
        if self._spool is not None:
            self._spool.release(rows)
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
        if rejected:
            # Set aside before they leave the spool, so a crash in between loses nothing.
            self.rejected_rows += len(rejected)
            self._save(rejected, reason=f"the store rejected them: {self.last_error}")
        if processed:
            self._written(processed, stored=stored)
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
        if self._spool is not None:
            # The rows stay queued too: the spool releases rows in queue order, so a row
            # submitted after the stop must not be taken for one of these.
            rows = self.pending
            if rows:
                logger.error("%d logged predictions stay in the spool, to be stored at the next "
                             "start: the store refused them until shutdown: %s",
                             rows, self.last_error)
            return
        with self._cond:
            lost, self._pending = len(self._pending), []
        if lost:
            logger.error("lost %d logged predictions: the store refused them until "
                         "shutdown: %s", lost, self.last_error)

    def _save(self, rows: list[dict[str, Any]], *, reason: str) -> None:
        """Set aside rows the store can never take, loudly."""
        if self._spool is not None:
            self._spool.reject(rows, reason=reason)
        else:
            logger.error("lost %d logged predictions: %s", len(rows), reason)


def _describe(exc: BaseException) -> str:
    # SQLAlchemy errors go on with the statement and its parameters; the first line says it.
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {first}"
