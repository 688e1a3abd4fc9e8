"""The worker's ``retrain`` task: fail abandoned jobs, claim the next one, watch its child.

Each turn (:meth:`RetrainTask.step`) first fails every running job whose lease ran out (its
worker died: :func:`services.retrain.jobs.reap_expired`), then looks at the training child
it started, if any, and otherwise claims the oldest queued job and starts a child for it
(``python -m services.worker.train_job JOB WORKER``). A turn never waits for training, so
the worker's other tasks (the bake watch) keep their cadence while a job runs.

The child reports progress and renews the lease itself. When it exits without ending its
job (it crashed, or was killed: out of memory, say), the job is failed here with the exit
status. When the job ends while its child lives on (another worker failed it after a
missed lease), the child is killed after one more lease. On a stop, the child is stopped
and its job failed, so a restart never waits a lease for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from services.retrain import jobs
from services.settings import PROJECT_ROOT
from services.worker.train_job import EXIT_LOST

__all__ = ["RetrainTask", "new_worker_id", "train_command"]

logger = logging.getLogger(__name__)

Command = Callable[[int, str], Sequence[str]]


def new_worker_id() -> str:
    """``host:pid:random``: unique to this worker process, readable in the job's row."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def train_command(job_id: int, worker_id: str) -> list[str]:
    """The training child's command line."""
    return [sys.executable, "-m", "services.worker.train_job", str(job_id), worker_id]


@dataclass
class _Child:
    job_id: int
    process: subprocess.Popen[bytes]
    #: When the job was first seen ended while the child still ran (monotonic seconds).
    orphaned_at: float | None = None


def _exit_text(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return f"the training process was killed by {name}"
    return f"the training process exited with status {code}"


class RetrainTask:
    """Runs retrain jobs one at a time in a child process (module notes).

    Args:
        engine: the store.
        lease_seconds: the jobs' lease (``OPSDASH_RETRAIN_LEASE_SECONDS``).
        worker_id: this worker's id in the jobs it claims.
        command: the child's command line for a job (the real one by default).
    """

    def __init__(self, *, engine: Engine, lease_seconds: float, worker_id: str | None = None,
                 command: Command = train_command) -> None:
        self.engine = engine
        self.lease_seconds = lease_seconds
        self.worker_id = worker_id or new_worker_id()
        self._command = command
        self._child: _Child | None = None

    @property
    def running_job(self) -> int | None:
        """The job whose child is running, if any."""
        return self._child.job_id if self._child is not None else None

    def step(self) -> None:
        """One turn: reap, then watch the child or claim and start the next job."""
        for job_id in jobs.reap_expired(engine=self.engine):
            logger.warning("job %d failed: its worker stopped answering", job_id)
        if self._child is not None and not self._watch(self._child):
            return
        self._child = None
        job = jobs.claim_next(engine=self.engine, worker_id=self.worker_id,
                              lease_seconds=self.lease_seconds)
        if job is None:
            return
        try:
            process = subprocess.Popen(list(self._command(job.id, self.worker_id)),
                                       cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL)
        except OSError as exc:
            error = f"the training process could not start: {exc}"
            jobs.finish(engine=self.engine, job_id=job.id, worker_id=self.worker_id,
                        status="failed", error=error)
            logger.error("job %d failed: %s", job.id, error)
            return
        self._child = _Child(job_id=job.id, process=process)
        logger.info("job %d claimed: retraining %s (%s preset) in process %d", job.id,
                    job.model, job.preset, process.pid)
        self._say(job.id, f"training in process {process.pid} of worker {self.worker_id}")

    def _say(self, job_id: int, line: str) -> None:
        with contextlib.suppress(jobs.LeaseLostError):
            jobs.report(engine=self.engine, job_id=job_id, worker_id=self.worker_id,
                        stage="loading data", percent=0.0, message="starting",
                        log=line, lease_seconds=self.lease_seconds)

    def _watch(self, child: _Child) -> bool:
        """Whether the child is done with (its exit handled); else keep watching."""
        code = child.process.poll()
        if code is not None:
            self._exited(child.job_id, code)
            return True
        try:
            active = jobs.get_job(engine=self.engine, job_id=child.job_id).active
        except LookupError:  # its model was deleted, and the job with it
            active = False
        if active:
            return False
        now = time.monotonic()
        if child.orphaned_at is None:
            child.orphaned_at = now
        elif now - child.orphaned_at > self.lease_seconds:
            logger.warning("job %d ended but its training process %d lives on; killing it",
                           child.job_id, child.process.pid)
            child.process.kill()
            child.process.wait()
            return True
        return False

    def _exited(self, job_id: int, code: int) -> None:
        if code in (0, EXIT_LOST):
            return  # it ended its job, or the job was not its own any more
        error = (f"{_exit_text(code)} before the job ended; nothing was registered "
                 "unless the job names a version")
        try:
            jobs.finish(engine=self.engine, job_id=job_id, worker_id=self.worker_id,
                        status="failed", error=error)
        except jobs.LeaseLostError:
            return
        logger.error("job %d failed: %s", job_id, error)

    def close(self, *, grace_s: float = 10.0) -> None:
        """Stop the running child, if any (SIGTERM, then SIGKILL after ``grace_s``), and
        fail its job, so a restarted worker does not wait for its lease to run out."""
        child, self._child = self._child, None
        if child is None:
            return
        child.process.terminate()
        try:
            child.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
        with contextlib.suppress(jobs.LeaseLostError):
            jobs.finish(engine=self.engine, job_id=child.job_id, worker_id=self.worker_id,
                        status="failed", error="the worker was stopped while the job ran; "
                        "nothing was registered unless the job names a version")
