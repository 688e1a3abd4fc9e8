"""Faults against the inference service as a real process: every prediction whose answer
reached a client is in the store after a restart, once.

Clients post from threads and record each id whose answer they read in full; the service is
then killed (``kill -9``) or stopped while the store refuses writes; a new process replays
the spool before it serves. The store lock lasts ``LOCK_SECONDS`` against a busy timeout of
``BUSY_TIMEOUT_MS``: writes fail and are retried for the whole lock, which is what a lock
ten times longer would do, only for longer.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import Engine, func, select

from db.models import Prediction
from db.session import session_scope
from devstack.processes import free_loopback_port
from services.settings import PROJECT_ROOT, Settings
from tests.serving_models import GOOD, register_model

pytestmark = pytest.mark.integration

#: How long the store stays write-locked: enough for many failed writes.
LOCK_SECONDS = 3.0
#: How long the service's writes wait for the lock before failing (and retrying later).
BUSY_TIMEOUT_MS = 200
#: Generous deadline for anything the tests wait for on a busy machine.
DEADLINE = 120.0
#: Settings under which nothing is written before the fault: every row must be replayed.
NO_WRITES = {"OPSDASH_LOG_FLUSH_SECONDS": "600", "OPSDASH_LOG_BATCH_SIZE": "1000000"}
#: Settings under which rows are written as they come (the service's own pace).
WRITES = {"OPSDASH_LOG_FLUSH_SECONDS": "0.1", "OPSDASH_LOG_BATCH_SIZE": "50"}


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _post(url: str) -> tuple[int, Any]:
    data = json.dumps({"model": "churn", "features": GOOD}).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Service:
    """One ``python -m services.serving`` process on a free loopback port."""

    def __init__(self, settings: Settings, log: IO[str], **env: str) -> None:
        self.port = free_loopback_port()
        self.base = f"http://127.0.0.1:{self.port}"
        variables = {k: v for k, v in os.environ.items()
                     if not k.startswith("OPSDASH_")}
        variables.update({"OPSDASH_VAR_DIR": settings.var_dir,
                          "OPSDASH_DATABASE_URL": settings.database_url,
                          "OPSDASH_SERVING_BUSY_TIMEOUT_MS": str(BUSY_TIMEOUT_MS),
                          "PYTHONPATH": str(PROJECT_ROOT), **env})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.serving", "--port", str(self.port),
             "--log-level", "warning"],
            cwd=PROJECT_ROOT, env=variables, stdout=log, stderr=log, text=True)
        _wait_for(self._healthy, "the service to become healthy")

    def _healthy(self) -> bool:
        assert self.process.poll() is None, "the service exited"
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=5) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.HTTPError):
            return False

    def metric(self, event: str) -> float:
        with urllib.request.urlopen(f"{self.base}/metrics", timeout=5) as response:
            text = response.read().decode()
        found = re.search(
            rf'^opsdash_prediction_spool_rows_total{{event="{event}"}} (\S+)$', text, re.M)
        assert found, text
        return float(found.group(1))

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=DEADLINE)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=DEADLINE)


class Clients:
    """Threads posting predictions until stopped, keeping each id whose answer arrived."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.answered: list[str] = []
        self.refusals: list[Any] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(url,), daemon=True)
                         for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self, url: str) -> None:
        while not self._stop.is_set():
            try:
                status, body = _post(url)
            except (OSError, http.client.HTTPException):
                return  # the service is gone (or went mid-answer): no answer reached this client
            with self._lock:
                if status == 200:
                    self.answered.append(body["prediction_id"])
                else:
                    self.refusals.append((status, body))

    def count(self) -> int:
        with self._lock:
            return len(self.answered)

    def stop(self) -> list[str]:
        self._stop.set()
        for thread in self._threads:
            thread.join(DEADLINE)
        with self._lock:
            return list(self.answered)


def _stored(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Prediction.id)))


def _assert_all_stored_once(engine: Engine, answered: list[str]) -> None:
    stored = _stored(engine)
    assert answered
    assert len(set(answered)) == len(answered)
    assert set(answered) <= set(stored), f"{len(set(answered) - set(stored))} answers lost"
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == len(set(stored))


@pytest.fixture
def service_log(tmp_path: Path) -> Iterator[IO[str]]:
    with (tmp_path / "service.log").open("w+", encoding="utf-8") as log:
        yield log


@pytest.fixture
def started(engine: Engine, settings: Settings, service_log: IO[str]
            ) -> Iterator[Callable[..., Service]]:
    register_model(engine, folder=Path(settings.var_dir) / "artifacts")
    services: list[Service] = []

    def start(**env: str) -> Service:
        services.append(Service(settings, service_log, **env))
        return services[-1]

    yield start
    for service in services:
        if service.process.poll() is None:
            service.kill()


@contextmanager
def _write_locked(engine: Engine) -> Iterator[sqlite3.Connection]:
    """Another writer holding SQLite's write lock (``BEGIN IMMEDIATE``) until the block ends."""
    connection = sqlite3.connect(str(engine.url.database), isolation_level=None, timeout=30)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield connection
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def test_kill_9_mid_load_loses_no_answered_prediction(
    engine: Engine, started: Callable[..., Service]
) -> None:
    service = started(**NO_WRITES)
    clients = Clients(f"{service.base}/predict")
    _wait_for(lambda: clients.count() >= 100, "100 answers")

    service.kill()
    answered = clients.stop()
    assert _stored(engine) == []  # nothing was written: all must come from the spool

    again = started(**NO_WRITES)
    _assert_all_stored_once(engine, answered)
    assert again.metric("replayed") >= len(answered)
    assert again.metric("rejected") == 0


@pytest.mark.sqlite_only
def test_store_write_locked_then_kill_9_loses_no_answered_prediction(
    engine: Engine, started: Callable[..., Service]
) -> None:
    service = started(**WRITES)
    clients = Clients(f"{service.base}/predict")
    _wait_for(lambda: clients.count() >= 30 and len(_stored(engine)) > 0, "stored answers")

    with _write_locked(engine) as lock:
        at_lock = clients.count()
        locked_at = time.monotonic()
        # The service keeps answering while its writes fail for the length of the lock.
        _wait_for(lambda: clients.count() >= at_lock + 50
                  and time.monotonic() - locked_at >= LOCK_SECONDS, "answers under the lock")
        service.kill()
        answered = clients.stop()
        stored_at_kill = lock.execute("SELECT count(*) FROM predictions").fetchone()[0]
    assert stored_at_kill <= at_lock < len(answered)

    started(**WRITES)
    _assert_all_stored_once(engine, answered)


@pytest.mark.sqlite_only
def test_a_full_spool_answers_503_and_no_answered_prediction_is_lost(
    engine: Engine, started: Callable[..., Service]
) -> None:
    service = started(OPSDASH_SPOOL_MAX_BYTES="20000", **NO_WRITES)
    clients = Clients(f"{service.base}/predict")
    _wait_for(lambda: len(clients.refusals) >= 5, "refusals of a full spool")

    service.kill()
    answered = clients.stop()
    assert {status for status, _ in clients.refusals} == {503}
    assert all("spool is full" in body["detail"] for _, body in clients.refusals)

    again = started(OPSDASH_SPOOL_MAX_BYTES="20000", **WRITES)
    _assert_all_stored_once(engine, answered)
    assert _post(f"{again.base}/predict")[0] == 200  # room again once stored


@pytest.mark.sqlite_only
def test_sigterm_during_a_store_outage_keeps_the_rows_for_the_next_start(
    engine: Engine, started: Callable[..., Service], service_log: IO[str]
) -> None:
    service = started(**WRITES)
    with _write_locked(engine):
        clients = Clients(f"{service.base}/predict")
        _wait_for(lambda: clients.count() >= 50, "answers under the lock")
        answered = clients.stop()
        assert service.stop() == 0  # the drain gives up on the store; the rows stay spooled
    assert _stored(engine) == []
    service_log.seek(0)
    assert "stay in the spool" in service_log.read()

    again = started(**WRITES)
    _assert_all_stored_once(engine, answered)
    assert again.metric("replayed") == len(answered)


@pytest.mark.sqlite_only
def test_a_second_service_on_the_same_spool_refuses_to_start(
    settings: Settings, started: Callable[..., Service]
) -> None:
    started(**WRITES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSDASH_")}
    env.update({"OPSDASH_VAR_DIR": settings.var_dir, "OPSDASH_DATABASE_URL": settings.database_url,
                "PYTHONPATH": str(PROJECT_ROOT)})

    result = subprocess.run(
        [sys.executable, "-m", "services.serving", "--port", str(free_loopback_port())],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=DEADLINE, check=False)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "error: another inference service uses the prediction spool")
