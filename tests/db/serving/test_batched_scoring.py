"""Concurrent ``POST /predict`` requests are scored together, and each gets its own answer.

The requests go through the whole app (lifespan, middleware, routes) in one event loop, so
they all arrive while the first waits for company; a batch is scored as soon as it holds
``batch_max_rows`` rows, so nothing here waits on a clock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select

from db.models import Prediction
from db.session import session_scope
from services.registry.scoring import score_records
from services.serving import create_app
from services.settings import Settings
from tests.serving_models import SCHEMA, register_model

CLIENTS = 8


def _records(count: int) -> list[dict[str, Any]]:
    plans = ("basic", "plus", "pro")
    return [{"tenure": float(3 * i), "spend": 20.0 + 7.5 * i, "plan": plans[i % 3]}
            for i in range(count)]


async def _post_all(app: FastAPI, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return list(await asyncio.gather(
                *(client.post("/predict", json=body) for body in bodies)))


def _stored(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Prediction)) or 0)


@pytest.fixture
def batch_settings(settings: Settings, engine: Engine) -> Settings:
    register_model(engine, folder=Path(settings.var_dir) / "artifacts")
    # The longest wait allowed: the batch is scored when full, long before it.
    return settings.replace(batch_max_rows=CLIENTS, batch_wait_ms=1000.0,
                            log_flush_seconds=0.2)


def test_concurrent_single_records_are_scored_in_one_call_each_answered_alone(
        engine: Engine, batch_settings: Settings) -> None:
    app = create_app(engine=engine, settings=batch_settings)
    records = _records(CLIENTS)

    responses = asyncio.run(_post_all(
        app, [{"model": "churn", "features": record} for record in records]))

    batcher = app.state.serving.batcher
    assert (batcher.batches, batcher.rows) == (1, CLIENTS)
    loaded = app.state.serving.holder.get("churn").loaded
    for record, response in zip(records, responses, strict=True):
        assert response.status_code == 200
        alone = score_records(model=loaded, schema=SCHEMA, records=[record])[0]
        body = response.json()
        assert body["predicted_class"] == alone.predicted_class
        for label, probability in alone.probabilities.items():
            assert body["probabilities"][label] == pytest.approx(probability, abs=1e-12)
    assert len({r.json()["prediction_id"] for r in responses}) == CLIENTS
    # The lifespan's shutdown drained the log: every answered prediction is stored.
    assert _stored(engine) == CLIENTS


def test_a_bad_record_in_a_concurrent_batch_is_refused_alone(
        engine: Engine, batch_settings: Settings) -> None:
    app = create_app(engine=engine, settings=batch_settings)
    bodies: list[dict[str, Any]] = [
        {"model": "churn", "features": record} for record in _records(CLIENTS - 1)]
    bodies.insert(3, {"model": "churn", "features": {"tenure": "long", "spend": 1.0,
                                                     "plan": "pro"}})

    responses = asyncio.run(_post_all(app, bodies))

    assert [r.status_code for r in responses] == [200] * 3 + [422] + [200] * (CLIENTS - 4)
    assert responses[3].json()["detail"][0]["field"] == "tenure"
    assert _stored(engine) == CLIENTS - 1


def test_with_batching_off_every_request_is_scored_alone(
        engine: Engine, batch_settings: Settings) -> None:
    app = create_app(engine=engine, settings=batch_settings.replace(batch_scoring=False))

    responses = asyncio.run(_post_all(
        app, [{"model": "churn", "features": record} for record in _records(CLIENTS)]))

    assert [r.status_code for r in responses] == [200] * CLIENTS
    batcher = app.state.serving.batcher
    assert (batcher.batches, batcher.rows) == (CLIENTS, CLIENTS)
