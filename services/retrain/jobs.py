"""Retrain jobs: rows in the store that the dashboard, the command line and the worker share.

The dashboard and the command line *request* (``start_retrain``, ``cancel_job``) and *read*
(``list_jobs``, ``get_job``); the worker *runs* (``claim_next``, ``report``, ``finish``,
``reap_expired``). A job is claimed under a lease (``worker_id`` + ``lease_until``); a
heartbeat renews it; a job whose lease expired is failed by the next worker that looks.
At most one job per model is queued or running (the store enforces it, not only the page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine

from services.access import Principal

__all__ = [
    "STAGES",
    "Job",
    "JobConflictError",
    "JobStatus",
    "LeaseLostError",
    "cancel_job",
    "claim_next",
    "finish",
    "get_job",
    "list_jobs",
    "reap_expired",
    "report",
    "start_retrain",
]

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
#: Stages a job goes through, in order (``search fold k of n`` is reported as ``training``
#: with the fold in its message).
STAGES = ("queued", "loading data", "training", "evaluating", "registering",
          "shadow scoring", "done")
Preset = Literal["same", "search"]
Backend = Literal["local", "webhook"]


class JobConflictError(RuntimeError):
    """Another job of the model is queued or running; ``job`` is that job (who, since when)."""

    def __init__(self, message: str, job: Job) -> None:
        super().__init__(message)
        self.job = job


class LeaseLostError(RuntimeError):
    """The worker no longer holds the job (its lease expired and another worker failed it)."""


@dataclass(frozen=True)
class Job:
    """One retrain job as pages and commands show it."""

    id: int
    model: str
    status: JobStatus
    stage: str
    percent: float  # 0 to 100
    message: str  # e.g. "search fold 3 of 40"
    preset: Preset
    window_start: datetime
    window_end: datetime
    note: str
    backend: Backend
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    cancel_requested: bool
    result_version: int | None
    error: str
    log: str  # the job's log, newest lines last (bounded)

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ("queued", "running")


def start_retrain(*, engine: Engine, actor: Principal, model: str, start: datetime,
                  end: datetime, preset: Preset, note: str = "", min_per_class: int,
                  backend: Backend = "local") -> Job:
    """Queue a retrain of ``model`` on the labelled feedback of ``[start, end)``; audited.

    Raises:
        PermissionDenied: ``actor`` may not retrain.
        TrainingDataError: the window holds too few labelled rows of a class.
        JobConflictError: a job of this model is queued or running.
        RegistryError: no such model, or it has no artifact we hold (local backend).
    """
    raise NotImplementedError


def cancel_job(*, engine: Engine, actor: Principal, job_id: int) -> Job:
    """Ask a job to stop: a queued job is cancelled at once, a running one within seconds."""
    raise NotImplementedError


def list_jobs(*, engine: Engine, model: str | None = None, limit: int = 50) -> list[Job]:
    """Jobs, newest first."""
    raise NotImplementedError


def get_job(*, engine: Engine, job_id: int) -> Job:
    """One job. Raises LookupError when there is none."""
    raise NotImplementedError


def claim_next(*, engine: Engine, worker_id: str, lease_seconds: float) -> Job | None:
    """Claim the oldest queued local job atomically (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)."""
    raise NotImplementedError


def report(*, engine: Engine, job_id: int, worker_id: str, stage: str, percent: float,
           message: str = "", log: str = "", lease_seconds: float) -> bool:
    """Record progress and renew the lease; returns whether a cancel was requested.

    Raises:
        LeaseLostError: the job is no longer this worker's.
    """
    raise NotImplementedError


def finish(*, engine: Engine, job_id: int, worker_id: str,
           status: Literal["succeeded", "failed", "cancelled"], error: str = "",
           result_version_id: int | None = None) -> None:
    """End a job this worker holds. Raises LeaseLostError when it no longer holds it."""
    raise NotImplementedError


def reap_expired(*, engine: Engine, now: datetime | None = None) -> list[int]:
    """Fail running jobs whose lease expired (their worker died); returns their ids."""
    raise NotImplementedError
