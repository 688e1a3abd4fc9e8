"""The inference service follows the production pointer without a restart, safely."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from db.models import Prediction
from db.repositories import registry
from db.session import make_engine, session_scope
from services.serving import create_app
from services.serving.metrics import ServingMetrics
from services.serving.model_holder import ModelHolder
from services.serving.reloader import ModelReloader
from services.settings import Settings
from tests.serving_models import GOOD, add_version, register_model

#: The requirement: a promotion is served within 10 s (the default poll is every 5 s).
SWITCH_DEADLINE = 10.0


@pytest.fixture
def folder(settings: Settings) -> Path:
    return Path(settings.var_dir) / "artifacts"


@pytest.fixture
def model_ids(engine: Engine, folder: Path) -> tuple[int, int]:
    return register_model(engine, folder=folder)


@pytest.fixture
def client(engine: Engine, settings: Settings, model_ids: tuple[int, int]) -> Iterator[TestClient]:
    fast = settings.replace(model_reload_seconds=0.2, log_flush_seconds=0.2)
    with TestClient(create_app(engine=engine, settings=fast)) as test_client:
        yield test_client


def _wait_for(condition: Callable[[], bool], *, timeout: float) -> float:
    """Seconds until ``condition`` held; fails the test after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start


def _served_version(client: TestClient) -> int:
    response = client.post("/predict", json={"model": "churn", "features": GOOD})
    assert response.status_code == 200
    version: int = response.json()["version"]
    return version


def test_a_promoted_version_is_served_without_a_restart(
    engine: Engine, settings: Settings, folder: Path, model_ids: tuple[int, int]
) -> None:
    model_id, _ = model_ids
    fast = settings.replace(model_reload_seconds=0.2, log_flush_seconds=0.2)
    with TestClient(create_app(engine=engine, settings=fast)) as client:
        assert _served_version(client) == 1

        v2 = add_version(engine, folder=folder, model_id=model_id, seed=2)
        waited = _wait_for(lambda: _served_version(client) == 2, timeout=SWITCH_DEADLINE)

        assert waited < SWITCH_DEADLINE
        assert client.get("/healthz").json()["models"] == {"churn": 2}
        metrics = client.get("/metrics").text
        assert 'opsdash_model_info{model="churn",version="2"} 1.0' in metrics
        assert 'opsdash_model_info{model="churn",version="1"}' not in metrics

    with session_scope(engine) as session:
        versions = set(session.scalars(select(Prediction.version_id)))
    assert v2 in versions


def test_a_rollback_to_the_previous_version_is_served(
    client: TestClient, engine: Engine, folder: Path, model_ids: tuple[int, int]
) -> None:
    model_id, v1 = model_ids
    add_version(engine, folder=folder, model_id=model_id, seed=2)
    _wait_for(lambda: _served_version(client) == 2, timeout=SWITCH_DEADLINE)

    with session_scope(engine, write=True) as session:
        registry.set_production(
            session=session, model_id=model_id, version_id=v1, actor="test", kind="rollback"
        )

    _wait_for(lambda: _served_version(client) == 1, timeout=SWITCH_DEADLINE)


@pytest.mark.parametrize("tampering", ["wrong hash registered", "file replaced afterwards"])
def test_a_tampered_artifact_is_refused_and_the_old_version_keeps_serving(
    client: TestClient,
    engine: Engine,
    folder: Path,
    model_ids: tuple[int, int],
    caplog: pytest.LogCaptureFixture,
    tampering: str,
) -> None:
    model_id, _ = model_ids
    caplog.set_level(logging.ERROR, logger="services.serving")
    if tampering == "wrong hash registered":
        add_version(engine, folder=folder, model_id=model_id, seed=2, sha256="f" * 64)
    else:
        v2 = add_version(engine, folder=folder, model_id=model_id, seed=2, promote=False)
        with session_scope(engine, write=True) as session:
            path = Path(
                registry.get_model(session=session, name="churn").versions[-1].artifact_path
            )
            path.write_bytes(path.read_bytes() + b"tampered")
            registry.set_production(session=session, model_id=model_id, version_id=v2, actor="t")

    _wait_for(lambda: "refusing version 2" in caplog.text, timeout=SWITCH_DEADLINE)

    assert "sha256" in caplog.text
    assert _served_version(client) == 1
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["models"] == {"churn": 1}
    assert "version 2 refused" in health.json()["refused"]["churn"]


def test_a_refused_version_stops_being_reported_once_the_pointer_moves_back(
    client: TestClient, engine: Engine, folder: Path, model_ids: tuple[int, int]
) -> None:
    model_id, v1 = model_ids
    add_version(engine, folder=folder, model_id=model_id, seed=2, sha256="f" * 64)
    _wait_for(lambda: "refused" in client.get("/healthz").json(), timeout=SWITCH_DEADLINE)

    with session_scope(engine, write=True) as session:
        registry.set_production(
            session=session, model_id=model_id, version_id=v1, actor="test", kind="rollback"
        )

    _wait_for(lambda: "refused" not in client.get("/healthz").json(), timeout=SWITCH_DEADLINE)
    assert client.get("/healthz").json() == {"status": "ok", "models": {"churn": 1}}


def test_a_model_registered_after_startup_is_picked_up(
    client: TestClient, engine: Engine, folder: Path
) -> None:
    assert client.post("/predict", json={"model": "fraud", "features": GOOD}).status_code == 404

    register_model(engine, folder=folder, name="fraud")

    _wait_for(
        lambda: client.get("/healthz").json()["models"] == {"churn": 1, "fraud": 1},
        timeout=SWITCH_DEADLINE,
    )
    assert client.post("/predict", json={"model": "fraud", "features": GOOD}).status_code == 200


def test_a_registry_that_cannot_be_read_does_not_stop_serving(
    engine: Engine, model_ids: tuple[int, int], tmp_path: Path
) -> None:
    holder = ModelHolder()
    metrics = ServingMetrics()
    ModelReloader(engine=engine, holder=holder, metrics=metrics, interval_seconds=1).refresh()
    assert holder.served_versions() == {"churn": 1}

    broken = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables
    reloader = ModelReloader(engine=broken, holder=holder, metrics=metrics, interval_seconds=1)
    reloader.refresh()

    assert "cannot read the model registry" in reloader.last_error
    assert holder.served_versions() == {"churn": 1}
    broken.dispose()
