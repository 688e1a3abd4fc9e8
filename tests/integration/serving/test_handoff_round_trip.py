"""The hand-off end to end with real processes: the worker POSTs a queued retrain job to a
receiver on loopback (the orchestrator); the pipeline, with the token it got, reports
progress and registers its model on the running inference service; the job ends with the
new candidate and the token stops working (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from devstack.processes import free_loopback_port
from services.registry.artifacts import save_artifact
from services.retrain.jobs import get_job, start_retrain
from services.settings import PROJECT_ROOT, Settings
from tests.db.retrain.jobs_store import ANN, PER_CLASS, T0, T1, seed_models
from tests.integration.worker.test_process import _env, _wait_for_line, _worker
from tests.receiver import receiver
from tests.serving_models import train_pipeline

pytestmark = pytest.mark.integration

SECRET = "a shared secret of the hand-off, long enough"


def _post(url: str, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@contextmanager
def _serving(settings: Settings, port: int) -> Iterator[str]:
    """The inference service as a process on ``port``, healthy; its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "services.serving", "--port", str(port), "--log-level",
         "warning"], cwd=PROJECT_ROOT, env=_env(settings), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # far beyond a busy machine's start-up
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the service did not become healthy"
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_a_job_is_handed_off_reported_on_and_registered_through_the_service(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    artifacts = settings.resolved_artifacts_dir
    seed_models(engine, artifacts)
    job_id = start_retrain(engine=engine, actor=ANN, model="churn", start=T0, end=T1,
                           preset="same", min_per_class=PER_CLASS, backend="webhook").id
    port = free_loopback_port()
    log = tmp_path / "worker.log"
    with _serving(settings, port) as base, receiver() as hook, _worker(
            settings, log, OPSDASH_RETRAIN_BACKEND="webhook",
            OPSDASH_RETRAIN_WEBHOOK_URL=hook.url, OPSDASH_RETRAIN_WEBHOOK_SECRET=SECRET,
            OPSDASH_RETRAIN_CALLBACK_URL=base) as worker:
        _wait_for_line(log, f"retrain job {job_id} handed off", worker)
        callback = json.loads(hook.received[0].body)["callback"]
        token = callback["token"]
        assert _post(callback["progress_url"], token, {
            "stage": "training", "percent": 50, "message": "fold 3 of 5"}) == (
            200, {"cancel_requested": False})
        job = get_job(engine=engine, job_id=job_id)
        assert (job.stage, job.percent, job.message) == ("training", 50.0, "fold 3 of 5")
        trained = artifacts / f"churn-airflow-{job_id}.pkl"
        save_artifact(train_pipeline(seed=6), trained)
        assert _post(callback["register_url"], token, {
            "artifact": str(trained), "metrics": {"accuracy": 0.79}}) == (
            200, {"job": job_id, "model": "churn", "version": 2, "status": "succeeded"})
        status, _ = _post(callback["progress_url"], token, {"stage": "x", "percent": 1})
        assert status == 401
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
    done = get_job(engine=engine, job_id=job_id)
    assert (done.status, done.result_version) == ("succeeded", 2)
