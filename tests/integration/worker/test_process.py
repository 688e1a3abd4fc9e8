"""``python -m services.worker`` as a real process: schema check, clean stop on SIGTERM, and
an automatic rollback made by the running worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import registry
from db.session import session_scope
from devstack.processes import free_loopback_port
from services.promotion.actions import ledger
from services.settings import PROJECT_ROOT, Settings
from tests.factories import log_predictions, make_model

pytestmark = pytest.mark.integration


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSDASH_")}
    env.update({
        "OPSDASH_VAR_DIR": settings.var_dir,
        "OPSDASH_DATABASE_URL": settings.database_url,
        "PYTHONPATH": str(PROJECT_ROOT),
        # Nothing listens there: the worker must carry on without Prometheus.
        "OPSDASH_PROMETHEUS_URL": f"http://127.0.0.1:{free_loopback_port()}",
        "OPSDASH_PROMETHEUS_TIMEOUT": "0.5",
        "OPSDASH_BAKE_CHECK_SECONDS": "0.5",
        **extra,
    })
    return env


@contextmanager
def _worker(settings: Settings, log: Path, **extra: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "services.worker"], cwd=PROJECT_ROOT,
                                   env=_env(settings, **extra), stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60  # start-up imports take seconds on a busy machine
    while text not in (written := log.read_text(encoding="utf-8", errors="replace")):
        assert process.poll() is None, written
        assert "failed; next try" not in written, written
        assert time.monotonic() < deadline, f"no {text!r} in the worker's log"
        time.sleep(0.1)


def test_a_database_without_the_schema_exits_2_with_a_one_line_reason(tmp_path: Path) -> None:
    settings = Settings(var_dir=str(tmp_path), database_url="")
    result = subprocess.run([sys.executable, "-m", "services.worker"], cwd=PROJECT_ROOT,
                            env=_env(settings), capture_output=True, text=True, timeout=60,
                            check=False)

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "services.cli init-db" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_worker_cleanly(
        engine: Engine, settings: Settings, tmp_path: Path, sig: signal.Signals) -> None:
    log = tmp_path / "worker.log"
    with _worker(settings, log, OPSDASH_BAKE_CHECK_SECONDS="3600") as process:
        _wait_for_line(log, "started: bake watch every 3600 s", process)
        process.send_signal(sig)
        # It stops within a second or two, even mid-wait, on a quiet machine; the bound
        # leaves room for a loaded one (a worker that ignored the signal would never stop).
        code = process.wait(timeout=20)

    assert code == 0
    text = log.read_text(encoding="utf-8")
    assert "services.worker: stopped" in text
    assert "Traceback" not in text


def test_the_running_worker_rolls_back_a_promotion_whose_accuracy_drops(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    promoted_at = utcnow() - timedelta(minutes=20)
    model_id, v1 = make_model(engine, at=promoted_at - timedelta(days=2))
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(session=session, model_id=model_id,
                                  artifact_path="/nonexistent/churn-v2.pkl",
                                  artifact_sha256="1" * 64, created_by="test").id
        registry.set_production(session=session, model_id=model_id, version_id=v2,
                                actor="alice", at=promoted_at)
    before = promoted_at - timedelta(minutes=10)
    after = promoted_at + timedelta(minutes=1)
    log_predictions(engine, model_id=model_id, version_id=v1, rows=[
        (before + timedelta(seconds=i), "stays", "stays" if i < 95 else "churns")
        for i in range(100)])
    log_predictions(engine, model_id=model_id, version_id=v2, rows=[
        (after + timedelta(seconds=i), "stays", "stays" if i < 60 else "churns")
        for i in range(100)])
    log = tmp_path / "worker.log"

    with _worker(settings, log) as process:
        _wait_for_line(log, "rolled back to v1", process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0

    latest = ledger(engine=engine, model="churn")[0]
    assert (latest.kind, latest.from_version, latest.to_version, latest.actor) == (
        "rollback", 2, 1, "system")
    assert latest.trigger["new_accuracy"] == pytest.approx(0.6)
    assert latest.trigger["old_accuracy"] == pytest.approx(0.95)
    text = log.read_text(encoding="utf-8")
    assert "no serving figures this time" in text  # Prometheus down: logged, not fatal
