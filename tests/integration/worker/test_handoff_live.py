"""``python -m services.worker`` with the webhook backend, as a real process: it hands a
queued retrain job to a receiver on loopback, signed; with an unusable hand-off
configuration it refuses to start, in one line that shows no secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from services.retrain.jobs import get_job, start_retrain
from services.settings import PROJECT_ROOT, Settings
from tests.db.retrain.jobs_store import ANN, PER_CLASS, T0, T1, seed_models
from tests.integration.worker.test_process import _env, _wait_for_line, _worker
from tests.receiver import receiver

pytestmark = pytest.mark.integration

SECRET = "a shared secret of the hand-off, long enough"


def test_the_running_worker_hands_a_queued_job_to_the_receiver(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    seed_models(engine, tmp_path / "models")
    job_id = start_retrain(engine=engine, actor=ANN, model="churn", start=T0, end=T1,
                           preset="same", min_per_class=PER_CLASS, backend="webhook").id
    log = tmp_path / "worker.log"
    with receiver([503, 200]) as hook, _worker(
            settings, log, OPSDASH_RETRAIN_BACKEND="webhook",
            OPSDASH_RETRAIN_WEBHOOK_URL=hook.url, OPSDASH_RETRAIN_WEBHOOK_SECRET=SECRET,
            OPSDASH_RETRAIN_CALLBACK_URL="http://serving.internal:8000") as process:
        _wait_for_line(log, f"retrain job {job_id} handed off", process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert len(hook.received) == 2  # a 503 first: asked again (after a second)
    got = hook.received[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Opsdash-Signature"] == expected
    body = json.loads(got.body)
    assert body["callback"]["progress_url"] == (
        f"http://serving.internal:8000/jobs/{job_id}/progress")
    job = get_job(engine=engine, job_id=job_id)
    assert (job.status, job.stage) == ("running", "handed off")
    text = log.read_text(encoding="utf-8")
    assert SECRET not in text
    assert body["callback"]["token"] not in text


def test_a_webhook_backend_without_a_long_secret_does_not_start(
        engine: Engine, settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.worker"], cwd=PROJECT_ROOT, capture_output=True,
        text=True, timeout=60, check=False,
        env=_env(settings, OPSDASH_RETRAIN_BACKEND="webhook",
                 OPSDASH_RETRAIN_WEBHOOK_URL="http://127.0.0.1:9/hook",
                 OPSDASH_RETRAIN_WEBHOOK_SECRET="hunter2-short"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "worker: OPSDASH_RETRAIN_BACKEND=webhook needs OPSDASH_RETRAIN_WEBHOOK_SECRET of at "
        "least 32 characters"]
    assert "hunter2" not in result.stderr + result.stdout
