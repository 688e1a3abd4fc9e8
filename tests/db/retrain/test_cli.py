"""``retrain``, ``jobs`` and ``cancel`` on the command line: the same checks and audit
entries as the page, exit status 2 for what the user must fix, and ``--wait`` following a
job to its end (0 when it succeeded, 1 when it failed) (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from db.base import utcnow
from services.access import CLI
from services.audit import query_audit
from services.retrain.jobs import Job, claim_next, finish, get_job, list_jobs, report
from tests.cli_runner import RunCli
from tests.db.retrain.jobs_store import PER_CLASS, T0, T1, candidate, seed_models

WINDOW = ("--since", T0.isoformat(), "--until", T1.isoformat())


@pytest.fixture(autouse=True)
def _thin_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    """The seeded windows hold ``PER_CLASS`` rows of each class: enough."""
    monkeypatch.setenv("OPSDASH_RETRAIN_MIN_PER_CLASS", str(PER_CLASS))


def test_retrain_queues_a_job_as_cli_and_a_second_one_names_it(
        run_cli: RunCli, engine: Engine, tmp_path: Path) -> None:
    seed_models(engine, tmp_path)
    status, out, err = run_cli("retrain", "--model", "churn", *WINDOW, "--preset", "search",
                               "--note", "after the drift", "--json")
    assert (status, err) == (0, "")
    job = json.loads(out)
    assert (job["model"], job["status"], job["preset"], job["note"], job["requested_by"]) == (
        "churn", "queued", "search", "after the drift", "cli")
    assert (job["window_start"], job["window_end"]) == (T0.isoformat(), T1.isoformat())
    [entry] = query_audit(engine=engine, actor=CLI, action="retrain_requested")
    assert (entry.actor, entry.object_id) == ("cli", str(job["id"]))
    status, out, err = run_cli("retrain", "--model", "churn", *WINDOW)
    assert (status, out) == (2, "")
    assert f"job {job['id']}, queued since" in err
    assert "started by cli" in err


def test_jobs_lists_newest_first_and_cancel_stops_a_queued_job(
        run_cli: RunCli, engine: Engine, tmp_path: Path) -> None:
    seed_models(engine, tmp_path, ("churn", "tickets"))
    first = json.loads(run_cli("retrain", "--model", "churn", *WINDOW, "--json")[1])["id"]
    second = json.loads(run_cli("retrain", "--model", "tickets", *WINDOW, "--json")[1])["id"]
    status, out, _ = run_cli("jobs", "--json")
    assert status == 0
    assert [j["id"] for j in json.loads(out)["jobs"]] == [second, first]
    status, out, _ = run_cli("jobs", "--model", "tickets")
    assert status == 0
    assert out.startswith(f"job {second}  tickets  queued")
    status, out, _ = run_cli("cancel", str(first))
    assert (status, out) == (0, f"job {first} cancelled\n")
    assert [j.status for j in list_jobs(engine=engine, model="churn")] == ["cancelled"]
    [entry] = query_audit(engine=engine, actor=CLI, action="retrain_cancelled")
    assert (entry.actor, entry.object_id) == ("cli", str(first))
    status, out, _ = run_cli("cancel", str(first))
    assert (status, out) == (0, f"job {first} already ended (cancelled); nothing to cancel\n")
    third = json.loads(run_cli("retrain", "--model", "churn", *WINDOW, "--json")[1])["id"]
    claim_next(engine=engine, worker_id="w1", lease_seconds=15)
    claim_next(engine=engine, worker_id="w1", lease_seconds=15)
    status, out, _ = run_cli("cancel", str(third), "--json")
    assert status == 0
    assert (json.loads(out)["status"], json.loads(out)["cancel_requested"]) == ("running", True)
    assert report(engine=engine, job_id=third, worker_id="w1", stage="training", percent=5,
                  lease_seconds=15) is True


@pytest.mark.parametrize(("args", "message"), [
    (("retrain", "--model", "churn", *WINDOW[:2], "--until", (T0 + timedelta(minutes=1))
      .isoformat()), "too few labelled predictions"),
    (("retrain", "--model", "churn", "--until", T1.isoformat()), "--until needs --since"),
    (("retrain", "--model", "churn", "--since", "yesterday"), "not an ISO 8601 time"),
    (("retrain", "--model", "churn", "--since", T1.isoformat(), "--until", T0.isoformat()),
     "the training window is empty"),
    (("retrain", "--model", "nothing", *WINDOW), "no model named 'nothing'"),
    (("jobs", "--model", "nothing"), "no model named 'nothing'"),
    (("cancel", "999"), "there is no retrain job 999"),
])
def test_what_the_user_must_fix_exits_2_in_one_line(
        run_cli: RunCli, engine: Engine, tmp_path: Path, args: tuple[str, ...],
        message: str) -> None:
    seed_models(engine, tmp_path)
    status, out, err = run_cli(*args)
    assert (status, out) == (2, "")
    assert message in err
    assert err.count("\n") == 1
    assert list_jobs(engine=engine) == []


def test_without_a_window_it_is_the_last_14_days(run_cli: RunCli, engine: Engine,
                                                 tmp_path: Path) -> None:
    seed_models(engine, tmp_path, start=utcnow() - timedelta(days=3))
    status, out, _ = run_cli("retrain", "--model", "churn", "--json")
    assert status == 0
    job = json.loads(out)
    start, end = (datetime.fromisoformat(job[k]) for k in ("window_start", "window_end"))
    assert end - start == timedelta(days=14)
    assert abs(end - utcnow()) < timedelta(minutes=5)


def _worker(engine: Engine, *, succeed: bool, seen: dict[str, threading.Event]
            ) -> threading.Thread:
    """A worker that takes the next job, reports two stages (each until ``--wait`` has
    seen it) and ends it."""

    def run() -> None:
        deadline = time.monotonic() + 60
        while (job := claim_next(engine=engine, worker_id="w1", lease_seconds=15)) is None:
            assert time.monotonic() < deadline, "no job was queued"
            time.sleep(0.05)
        for stage, percent in (("training", 40.0), ("evaluating", 80.0)):
            report(engine=engine, job_id=job.id, worker_id="w1", stage=stage,
                   percent=percent, lease_seconds=15)
            assert seen[stage].wait(timeout=60)
        if succeed:
            finish(engine=engine, job_id=job.id, worker_id="w1", status="succeeded",
                   result_version_id=candidate(engine, job.model))
        else:
            finish(engine=engine, job_id=job.id, worker_id="w1", status="failed",
                   error="ValueError: the pipeline raised")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("succeed", [True, False])
def test_wait_follows_the_job_to_its_end(run_cli: RunCli, engine: Engine, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         succeed: bool) -> None:
    seed_models(engine, tmp_path)
    seen = {stage: threading.Event() for stage in ("training", "evaluating")}

    def looked_at(**kwargs: Any) -> Job:
        job = get_job(**kwargs)
        if job.stage in seen:
            seen[job.stage].set()
        return job

    monkeypatch.setattr("services.retrain.jobs.get_job", looked_at)
    worker = _worker(engine, succeed=succeed, seen=seen)
    status, out, _ = run_cli("retrain", "--model", "churn", *WINDOW, "--wait")
    worker.join(timeout=60)
    lines = out.splitlines()
    running = [line for line in lines if "running" in line]
    assert running[-2:] == ["job 1: running, training 40 %", "job 1: running, evaluating 80 %"]
    assert lines[-2].startswith("job 1: succeeded, done 100 %" if succeed
                                else "job 1: failed, evaluating 80 %")
    if succeed:
        assert status == 0
        assert lines[-1].endswith("succeeded: churn v2 is a candidate; judge it with "
                                  "`promote --dry-run`")
    else:
        assert status == 1
        assert lines[-1].endswith("failed: ValueError: the pipeline raised")


def test_wait_says_when_no_worker_takes_the_job(run_cli: RunCli, engine: Engine,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    seed_models(engine, tmp_path)
    monkeypatch.setenv("OPSDASH_RETRAIN_LEASE_SECONDS", "0.05")  # the hint after 0.1 s
    looks = threading.Semaphore(0)

    def looked_at(**kwargs: Any) -> Job:
        looks.release()
        return get_job(**kwargs)

    def late_worker() -> None:
        for _ in range(2):  # the second look comes after the hint was due
            assert looks.acquire(timeout=60)
        job = claim_next(engine=engine, worker_id="w1", lease_seconds=15)
        assert job is not None
        finish(engine=engine, job_id=job.id, worker_id="w1", status="cancelled")

    monkeypatch.setattr("services.retrain.jobs.get_job", looked_at)
    worker = threading.Thread(target=late_worker, daemon=True)
    worker.start()
    status, out, _ = run_cli("retrain", "--model", "churn", *WINDOW, "--wait")
    worker.join(timeout=60)
    assert status == 1
    assert out.count("no worker has taken job 1 yet: is `python -m services.worker` "
                     "running?") == 1
    assert out.splitlines()[-1] == "job 1 cancelled"
