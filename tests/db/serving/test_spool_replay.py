"""The spool against a real store: a previous run's rows are stored first and once, rows the
store refuses for good are set aside and counted, and a full spool answers 503."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from db.models import Prediction
from db.repositories.predictions import insert_predictions
from db.session import session_scope
from services.serving import create_app
from services.serving.spool import REJECTED_FILE, Spool
from services.settings import Settings
from tests.serving_models import GOOD, logged_row, register_model


def _spool_dir(settings: Settings) -> Path:
    return Path(settings.var_dir) / "serving" / "spool"


def _left_by_a_crashed_run(settings: Settings, rows: list[dict[str, Any]]) -> None:
    spool = Spool(_spool_dir(settings), max_bytes=10_000_000)
    spool.open()
    spool.append(rows)  # never released nor closed: the process died, and with it its files
    for fd in (spool._fd, spool._lock_fd):
        if fd is not None:
            os.close(fd)


def _stored_ids(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Prediction.id)))


def _spool_count(metrics: str, event: str) -> float:
    found = re.search(
        rf'^opsdash_prediction_spool_rows_total{{event="{event}"}} (\S+)$', metrics, re.M)
    assert found, metrics
    return float(found.group(1))


def test_a_previous_runs_spool_is_stored_before_serving_and_only_once(
    engine: Engine, settings: Settings
) -> None:
    model_id, version_id = register_model(engine, folder=Path(settings.var_dir) / "artifacts")
    rows = [logged_row(model_id, version_id) for _ in range(8)]
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=rows[:3])  # stored just before the crash
    _left_by_a_crashed_run(settings, rows)

    slow = settings.replace(log_flush_seconds=600)  # only the replay at start can store them
    with TestClient(create_app(engine=engine, settings=slow)) as client:
        stored = _stored_ids(engine)
        metrics = client.get("/metrics").text

    assert sorted(stored) == sorted(row["id"] for row in rows)
    assert _spool_count(metrics, "replayed") == 8
    assert _spool_count(metrics, "rejected") == 0
    assert not list(_spool_dir(settings).glob("segment-*.jsonl"))


def test_a_replayed_row_the_store_refuses_is_set_aside_counted_and_not_retried(
    engine: Engine, settings: Settings
) -> None:
    model_id, version_id = register_model(engine, folder=Path(settings.var_dir) / "artifacts")
    good = [logged_row(model_id, version_id) for _ in range(3)]
    orphan = logged_row(model_id, version_id + 99)  # names a version that does not exist
    _left_by_a_crashed_run(settings, [good[0], orphan, *good[1:]])

    with TestClient(create_app(engine=engine, settings=settings)) as client:
        stored = _stored_ids(engine)
        metrics = client.get("/metrics").text
        log = client.app.state.serving.log  # type: ignore[attr-defined]
        assert log.failed_writes == 0

    assert sorted(stored) == sorted(row["id"] for row in good)
    assert _spool_count(metrics, "rejected") == 1
    (item,) = [json.loads(line) for line in
               (_spool_dir(settings) / REJECTED_FILE).read_text().splitlines()]
    assert item["row"]["id"] == orphan["id"]
    assert "store rejected" in item["reason"]
    assert not list(_spool_dir(settings).glob("segment-*.jsonl"))


def test_a_full_spool_answers_503_and_every_answered_prediction_is_stored(
    engine: Engine, settings: Settings
) -> None:
    register_model(engine, folder=Path(settings.var_dir) / "artifacts")
    capped = settings.replace(spool_max_bytes=2_000, log_flush_seconds=600, log_batch_size=1000)
    answered: list[str] = []
    with TestClient(create_app(engine=engine, settings=capped)) as client:
        for _ in range(50):
            response = client.post("/predict", json={"model": "churn", "features": GOOD})
            if response.status_code != 200:
                break
            answered.append(response.json()["prediction_id"])
        assert response.status_code == 503
        assert "spool is full" in response.json()["detail"]
        health = client.get("/healthz")
        assert health.status_code == 503
        assert "spool is full" in health.json()["reason"]
        metrics = client.get("/metrics").text
        assert _spool_count(metrics, "spooled") == len(answered)

    assert answered
    assert sorted(_stored_ids(engine)) == sorted(answered)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == len(answered)
