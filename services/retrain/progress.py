"""A running job's voice: its progress into its row, its heartbeat, and the answers it gets.

Every write goes through :func:`services.retrain.jobs.report`, which renews the job's lease
and answers whether a cancel was requested. The training code calls :meth:`Reporter.progress`
after each step (written at most every ``min_interval_s``, and at once when the stage
changes); a heartbeat thread calls :meth:`Reporter.beat` between steps, so a long step
never lets the lease run out. :meth:`Reporter.should_stop` is what training polls.

A child whose worker died (``alive()`` answers false) stops speaking for the job before it
registers anything: the lease then runs out and the next worker fails the job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from services.retrain import jobs

__all__ = ["Reporter"]

logger = logging.getLogger(__name__)


class Reporter:
    """Progress, heartbeat and stop flags of one job run by one worker.

    Args:
        engine: the store.
        job_id: the job.
        worker_id: the worker holding the job's lease.
        lease_seconds: how long each report extends the lease.
        alive: whether the worker that started this run still lives (always, by default).
        min_interval_s: progress reports closer together than this are not written
            (a change of stage always is).
    """

    def __init__(self, *, engine: Engine, job_id: int, worker_id: str, lease_seconds: float,
                 alive: Callable[[], bool] = lambda: True, min_interval_s: float = 0.5) -> None:
        self._engine = engine
        self.job_id = job_id
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self._alive = alive
        self._min_interval_s = min_interval_s
        self._lock = threading.Lock()
        self._stage, self._percent, self._message = "queued", 0.0, ""
        self._written_at = float("-inf")
        self.cancelled = False
        self.lost = False
        #: Set once the result is registered: from then on the run is finished even if
        #: its worker died (the version is whole; only its shadow scores remain).
        self.committed = False

    @property
    def stage(self) -> str:
        """The stage last reported."""
        return self._stage

    def should_stop(self) -> bool:
        """Whether training must stop: a cancel was requested or the job is not ours."""
        return self.cancelled or self.lost

    def progress(self, stage: str, percent: float, message: str = "") -> None:
        """Record progress (throttled); a new stage is written at once, with a log line.

        Raises:
            LeaseLostError: the job is no longer this worker's (or the worker died).
        """
        with self._lock:
            changed = stage != self._stage
            self._stage, self._percent, self._message = stage, percent, message
            due = changed or time.monotonic() - self._written_at >= self._min_interval_s
        if due:
            self._write(log=f"{stage}: {message}" if changed and message else "")

    def log(self, line: str) -> None:
        """Append a line to the job's log with the current progress.

        Raises:
            LeaseLostError: the job is no longer this worker's (or the worker died).
        """
        self._write(log=line)

    def beat(self) -> bool:
        """A heartbeat with the current progress; returns whether the run may go on
        (never raises: the heartbeat thread only stops)."""
        try:
            self._write(log="")
        except jobs.LeaseLostError as exc:
            logger.warning("job %d: %s", self.job_id, exc)
            return False
        except Exception:
            # Broad on purpose: a store that does not answer this once is retried at the
            # next beat; the lease decides whether the job is still ours.
            logger.exception("job %d: heartbeat failed; trying again", self.job_id)
        return not self.lost

    def _write(self, *, log: str) -> None:
        if self.lost:
            raise jobs.LeaseLostError(f"job {self.job_id} is no longer this worker's")
        if not self.committed and not self._alive():
            self.lost = True
            raise jobs.LeaseLostError(
                f"the worker that started job {self.job_id} stopped; the job is left to "
                "its lease's end")
        with self._lock:
            stage, percent, message = self._stage, self._percent, self._message
            self._written_at = time.monotonic()
        try:
            cancel = jobs.report(engine=self._engine, job_id=self.job_id,
                                 worker_id=self.worker_id, stage=stage,
                                 percent=round(min(max(percent, 0.0), 100.0), 1),
                                 message=message, log=log, lease_seconds=self.lease_seconds)
        except jobs.LeaseLostError:
            self.lost = True
            raise
        if cancel:
            self.cancelled = True
