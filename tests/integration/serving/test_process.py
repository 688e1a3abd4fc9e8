"""``python -m services.serving`` as a real process: schema check, serving, SIGTERM flush."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from db.models import Prediction
from db.session import session_scope
from devstack.processes import free_loopback_port
from services.settings import PROJECT_ROOT, Settings
from tests.serving_models import GOOD, register_model

pytestmark = pytest.mark.integration




def _env(var_dir: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSDASH_")}
    env.update({"OPSDASH_VAR_DIR": var_dir, "PYTHONPATH": str(PROJECT_ROOT), **extra})
    return env


def _call(url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_database_without_the_schema_exits_2_with_a_one_line_reason(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.serving", "--port", str(free_loopback_port())],
        cwd=PROJECT_ROOT,
        env=_env(str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "services.cli init-db" in result.stderr


def test_sigterm_writes_every_answered_prediction_before_exit(
    engine: Engine, settings: Settings
) -> None:
    register_model(engine, folder=Path(settings.var_dir) / "artifacts")
    port = free_loopback_port()
    base = f"http://127.0.0.1:{port}"
    # A flush interval longer than the test: only the shutdown drain can write the rows.
    env = _env(settings.var_dir, OPSDASH_LOG_FLUSH_SECONDS="600", OPSDASH_LOG_BATCH_SIZE="1000",
               OPSDASH_DATABASE_URL=settings.database_url)
    process = subprocess.Popen(
        [sys.executable, "-m", "services.serving", "--port", str(port), "--log-level", "warning"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120  # far beyond a busy machine's start-up
        while True:
            try:
                if _call(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the service did not become healthy"
            time.sleep(0.1)
        ids = [
            _call(f"{base}/predict", {"model": "churn", "features": GOOD})[1]["prediction_id"]
            for _ in range(20)
        ]
        with session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(Prediction)) == 0

        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, stderr
    with session_scope(engine) as session:
        stored = set(session.scalars(select(Prediction.id)))
    assert stored == set(ids)
