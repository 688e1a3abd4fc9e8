"""The command line of the hand-off: ``retrain`` queues a webhook job when the backend is
``webhook``; the pipeline reports with ``jobs progress`` and registers its result with
``add-version --job`` on the store; ``jobs`` still lists jobs (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from services.registry.artifacts import save_artifact
from services.retrain.handoff import deliver_next
from services.retrain.jobs import cancel_job, get_job
from services.settings import Settings
from tests.cli_runner import RunCli
from tests.db.retrain.jobs_store import ANN, PER_CLASS, T0, T1, seed_models
from tests.receiver import Receiver, receiver
from tests.serving_models import train_pipeline

SECRET = "a shared secret of the hand-off, long enough"
WINDOW = ("--since", T0.isoformat(), "--until", T1.isoformat())


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv("OPSDASH_RETRAIN_MIN_PER_CLASS", str(PER_CLASS))
    with receiver() as server:
        monkeypatch.setenv("OPSDASH_RETRAIN_BACKEND", "webhook")
        monkeypatch.setenv("OPSDASH_RETRAIN_WEBHOOK_URL", server.url)
        monkeypatch.setenv("OPSDASH_RETRAIN_WEBHOOK_SECRET", SECRET)
        yield server


def _handed_off(run_cli: RunCli, engine: Engine, settings: Settings, hook: Receiver,
                folder: Path) -> int:
    seed_models(engine, folder)
    status, out, err = run_cli("retrain", "--model", "churn", *WINDOW, "--json")
    assert (status, err) == (0, "")
    job = json.loads(out)
    assert (job["backend"], job["status"]) == ("webhook", "queued")
    deliver_next(engine=engine, settings=settings.replace(
        retrain_backend="webhook", retrain_webhook_url=hook.url,
        retrain_webhook_secret=SECRET), worker_id="w1", backoff_s=0)
    return int(job["id"])


def test_the_pipeline_reports_and_registers_its_result_from_the_command_line(
        run_cli: RunCli, engine: Engine, settings: Settings, hook: Receiver,
        tmp_path: Path) -> None:
    job_id = _handed_off(run_cli, engine, settings, hook, tmp_path / "models")
    status, out, err = run_cli("jobs", "progress", str(job_id), "--stage", "training",
                               "--percent", "60", "--message", "fold 3 of 5")
    assert (status, err, out) == (0, "", f"job {job_id}: training 60 %\n")
    job = get_job(engine=engine, job_id=job_id)
    assert (job.stage, job.percent, job.message) == ("training", 60.0, "fold 3 of 5")
    status, out, _ = run_cli("jobs", "--model", "churn", "--json")
    [listed] = json.loads(out)["jobs"]
    assert (status, listed["id"], listed["stage"]) == (0, job_id, "training")
    assert (listed["delivery"]["delivered"], listed["delivery"]["status"]) == (True, 200)
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"accuracy": 0.8, "f1": 0.7}))
    artifact = tmp_path / "trained.pkl"
    save_artifact(train_pipeline(seed=5), artifact)
    status, out, err = run_cli("add-version", "churn", "--artifact", str(artifact),
                               "--metrics", str(metrics), "--job", str(job_id), "--json")
    assert (status, err) == (0, "")
    assert json.loads(out) == {"model": "churn", "version": 2, "status": "candidate",
                               "job": job_id}
    done = get_job(engine=engine, job_id=job_id)
    assert (done.status, done.result_version) == ("succeeded", 2)
    status, _, err = run_cli("jobs", "progress", str(job_id), "--stage", "x", "--percent", "1")
    assert status == 2
    assert f"retrain job {job_id} is not a running job handed to a pipeline" in err


def test_a_cancelled_job_tells_the_pipeline_to_stop(
        run_cli: RunCli, engine: Engine, settings: Settings, hook: Receiver,
        tmp_path: Path) -> None:
    job_id = _handed_off(run_cli, engine, settings, hook, tmp_path)
    cancel_job(engine=engine, actor=ANN, job_id=job_id)
    status, out, _ = run_cli("jobs", "progress", str(job_id), "--stage", "training",
                             "--percent", "70")
    assert status == 3
    assert "cancelled by an operator: stop the pipeline" in out


@pytest.mark.parametrize(("case", "says"), [
    ("percent out of range", "percent: must be a number from 0 to 100"),
    ("no metrics", "--job needs --metrics"),
    ("metrics not JSON", "is not a JSON file"),
    ("another model's job", "is not a job of tickets"),
])
def test_bad_reports_exit_2_with_one_line(
        run_cli: RunCli, engine: Engine, settings: Settings, hook: Receiver,
        tmp_path: Path, case: str, says: str) -> None:
    job_id = _handed_off(run_cli, engine, settings, hook, tmp_path)
    bad, empty = tmp_path / "bad.json", tmp_path / "empty.json"
    bad.write_text("{not json")
    empty.write_text("{}")
    command = {
        "percent out of range": ("jobs", "progress", str(job_id), "--stage", "x", "--percent",
                                 "120"),
        "no metrics": ("add-version", "churn", "--job", str(job_id)),
        "metrics not JSON": ("add-version", "churn", "--job", str(job_id), "--metrics",
                             str(bad)),
        "another model's job": ("add-version", "tickets", "--job", str(job_id), "--metrics",
                                str(empty)),
    }[case]
    status, out, err = run_cli(*command)
    assert (status, out) == (2, "")
    assert says in err
    assert len(err.strip().splitlines()) == 1
    assert get_job(engine=engine, job_id=job_id).status == "running"


def test_jobs_fail_ends_the_job_with_the_pipelines_reason(
        run_cli: RunCli, engine: Engine, settings: Settings, hook: Receiver,
        tmp_path: Path) -> None:
    job_id = _handed_off(run_cli, engine, settings, hook, tmp_path)
    status, out, err = run_cli("jobs", "fail", str(job_id), "--error", "the cluster is gone")
    assert (status, err) == (0, "")
    assert out == f"job {job_id} failed: the pipeline failed: the cluster is gone\n"
    job = get_job(engine=engine, job_id=job_id)
    assert (job.status, job.result_version) == ("failed", None)
    assert "(reported by cli)" in job.log
