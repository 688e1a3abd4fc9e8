"""The worker's retrain task: it claims a job and starts a child for it without waiting,
fails the job of a child that died, and fails abandoned jobs (SQLite and PostgreSQL).

The children here are small Python commands standing in for the training child, so each
test shows one way a child can end."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Engine

from db.base import utcnow
from services.retrain import jobs
from services.worker.retrain_task import RetrainTask, new_worker_id
from tests.retrain_store import OPERATOR, retrain_store

LEASE_S = 30.0


def _queued(engine: Engine, folder: Path) -> jobs.Job:
    start, end, _ = retrain_store(engine, folder=folder, n=60, unlabelled=0)
    return jobs.start_retrain(engine=engine, actor=OPERATOR, model="churn", start=start,
                              end=end, preset="same", min_per_class=5)


def _python(code: str) -> Callable[[int, str], Sequence[str]]:
    return lambda job_id, worker_id: [sys.executable, "-c", code]


def _until_idle(task: RetrainTask, seconds: float = 60.0) -> None:
    """Turn the task until its child is done with."""
    deadline = time.monotonic() + seconds
    while task.running_job is not None:
        assert time.monotonic() < deadline, "the child never ended"
        time.sleep(0.05)
        task.step()


def test_a_turn_starts_the_child_and_returns_while_it_runs(engine: Engine,
                                                             tmp_path: Path) -> None:
    job = _queued(engine, tmp_path)
    marker = tmp_path / "released"
    task = RetrainTask(engine=engine, lease_seconds=LEASE_S, command=_python(
        f"import pathlib, time\nwhile not pathlib.Path({str(marker)!r}).exists(): "
        "time.sleep(0.05)"))
    task.step()
    assert task.running_job == job.id  # the turn returned with the child still running
    running = jobs.get_job(engine=engine, job_id=job.id)
    assert running.status == "running"
    assert f"of worker {task.worker_id}" in running.log
    task.step()
    assert task.running_job == job.id
    marker.touch()
    _until_idle(task)
    task.close()


def test_a_child_that_crashes_fails_its_job_with_the_exit_status(engine: Engine,
                                                                   tmp_path: Path) -> None:
    job = _queued(engine, tmp_path)
    task = RetrainTask(engine=engine, lease_seconds=LEASE_S,
                       command=_python("raise SystemExit(5)"))
    task.step()
    _until_idle(task)
    failed = jobs.get_job(engine=engine, job_id=job.id)
    assert failed.status == "failed"
    assert failed.error.startswith("the training process exited with status 5")
    assert failed.result_version is None


def test_a_child_killed_by_a_signal_fails_its_job_naming_the_signal(engine: Engine,
                                                                     tmp_path: Path) -> None:
    job = _queued(engine, tmp_path)
    task = RetrainTask(engine=engine, lease_seconds=LEASE_S, command=_python(
        "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    task.step()
    _until_idle(task)
    failed = jobs.get_job(engine=engine, job_id=job.id)
    assert failed.status == "failed"
    assert failed.error.startswith("the training process was killed by SIGKILL")


def test_a_child_that_cannot_start_fails_its_job_at_once(engine: Engine,
                                                          tmp_path: Path) -> None:
    job = _queued(engine, tmp_path)
    missing = str(tmp_path / "no-such-python")
    task = RetrainTask(engine=engine, lease_seconds=LEASE_S,
                       command=lambda job_id, worker_id: [missing])
    task.step()
    assert task.running_job is None
    failed = jobs.get_job(engine=engine, job_id=job.id)
    assert failed.status == "failed"
    assert failed.error.startswith("the training process could not start:")


def test_stopping_the_worker_stops_the_child_and_fails_its_job(engine: Engine,
                                                                tmp_path: Path) -> None:
    job = _queued(engine, tmp_path)
    task = RetrainTask(engine=engine, lease_seconds=LEASE_S,
                       command=_python("import time; time.sleep(600)"))
    task.step()
    assert task.running_job == job.id
    task.close(grace_s=5)
    assert task.running_job is None
    stopped = jobs.get_job(engine=engine, job_id=job.id)
    assert stopped.status == "failed"
    assert "the worker was stopped" in stopped.error


def test_a_turn_fails_the_job_of_a_worker_that_stopped_answering(engine: Engine,
                                                                  tmp_path: Path) -> None:
    job = _queued(engine, tmp_path)
    dead = new_worker_id()
    assert jobs.claim_next(engine=engine, worker_id=dead, lease_seconds=0.2) is not None
    deadline = time.monotonic() + 30
    while jobs.get_job(engine=engine, job_id=job.id).active:
        assert time.monotonic() < deadline, "the abandoned job was never failed"
        time.sleep(0.3)
        RetrainTask(engine=engine, lease_seconds=LEASE_S, command=_python("pass")).step()
    reaped = jobs.get_job(engine=engine, job_id=job.id)
    assert reaped.status == "failed"
    assert reaped.result_version is None
    assert reaped.finished_at is not None
    assert reaped.finished_at <= utcnow()
