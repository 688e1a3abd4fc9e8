"""The inference service over HTTP: predictions, validation, metrics, health, the log."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from db.models import Prediction
from db.repositories import registry
from db.session import session_scope
from services.registry.artifacts import save_artifact
from services.serving import create_app
from services.settings import Settings
from tests.serving_models import CLASSES, GOOD, SCHEMA, register_model

HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return settings.replace(model_reload_seconds=0.2, log_flush_seconds=0.2, log_batch_size=50)


@pytest.fixture
def model_ids(engine: Engine, settings: Settings) -> tuple[int, int]:
    return register_model(engine, folder=Path(settings.var_dir) / "artifacts")


@pytest.fixture
def client(
    engine: Engine, fast_settings: Settings, model_ids: tuple[int, int]
) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine, settings=fast_settings)) as test_client:
        yield test_client


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, or None when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        series, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return None


def test_single_prediction_returns_id_class_and_probabilities(client: TestClient) -> None:
    response = client.post("/predict", json={"model": "churn", "features": GOOD})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"model", "version", "prediction_id", "predicted_class", "probabilities"}
    assert body["model"] == "churn"
    assert body["version"] == 1
    assert HEX32.match(body["prediction_id"])
    assert list(body["probabilities"]) == list(CLASSES)
    assert sum(body["probabilities"].values()) == pytest.approx(1.0)
    assert body["predicted_class"] == max(body["probabilities"], key=body["probabilities"].get)


def test_batch_prediction_answers_every_instance_in_order(client: TestClient) -> None:
    instances = [{**GOOD, "tenure": float(t)} for t in (0, 30, 60)]
    response = client.post("/predict", json={"model": "churn", "instances": instances})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"model", "version", "predictions"}
    assert body["version"] == 1
    assert len(body["predictions"]) == 3
    ids = {p["prediction_id"] for p in body["predictions"]}
    assert len(ids) == 3
    # Longer tenure means staying in the training data: the probability must rise.
    stays = [p["probabilities"]["stays"] for p in body["predictions"]]
    assert stays == sorted(stays)


@pytest.mark.parametrize(
    ("features", "field"),
    [
        ({"tenure": 1.0, "plan": "pro"}, "spend"),  # missing
        ({**GOOD, "colour": "red"}, "colour"),  # extra
        ({**GOOD, "tenure": "12"}, "tenure"),  # string for a number
        ({**GOOD, "plan": 3}, "plan"),  # number for a category
        ({**GOOD, "spend": True}, "spend"),  # bool is not a number
        ({**GOOD, "spend": None}, "spend"),  # null is not a number
    ],
)
def test_bad_features_get_422_naming_the_field(
    client: TestClient, features: dict[str, Any], field: str
) -> None:
    response = client.post("/predict", json={"model": "churn", "features": features})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [d["field"] for d in detail] == [field]
    assert detail[0]["message"]
    assert "instance" not in detail[0]


def test_batch_errors_name_the_instance_and_field(client: TestClient) -> None:
    instances = [GOOD, {**GOOD, "tenure": "x"}, GOOD, {"tenure": 1.0, "spend": 2.0}]
    response = client.post("/predict", json={"model": "churn", "instances": instances})

    assert response.status_code == 422
    assert [(d["instance"], d["field"]) for d in response.json()["detail"]] == [
        (1, "tenure"),
        (3, "plan"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"features": GOOD}, "model"),
        ({"model": 7, "features": GOOD}, "model"),
        ({"model": "churn"}, "features"),
        ({"model": "churn", "features": GOOD, "instances": [GOOD]}, "instances"),
        ({"model": "churn", "instances": []}, "instances"),
        ({"model": "churn", "instances": [GOOD] * 1001}, "instances"),
        ({"model": "churn", "features": GOOD, "debug": True}, "debug"),
        ([GOOD], "body"),
    ],
)
def test_malformed_requests_get_422_naming_the_field(
    client: TestClient, body: Any, field: str
) -> None:
    response = client.post("/predict", json=body)

    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["detail"]]


def test_invalid_json_gets_422(client: TestClient) -> None:
    response = client.post(
        "/predict", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body"


def test_unknown_model_gets_404(client: TestClient) -> None:
    response = client.post("/predict", json={"model": "nope", "features": GOOD})

    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


def test_metrics_count_predictions_latency_scores_and_errors(client: TestClient) -> None:
    for _ in range(5):
        assert client.post("/predict", json={"model": "churn", "features": GOOD}).is_success
    batch = client.post("/predict", json={"model": "churn", "instances": [GOOD] * 3})
    assert batch.is_success
    client.post("/predict", json={"model": "churn", "features": {**GOOD, "plan": 1}})
    client.post("/predict", json={"model": "nope", "features": GOOD})

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    total = sum(
        _sample(text, "opsdash_predictions_total", model="churn", version="1", predicted_class=c)
        or 0.0
        for c in CLASSES
    )
    assert total == 8
    assert (
        _sample(text, "opsdash_prediction_latency_seconds_count", model="churn", version="1") == 6
    )
    assert _sample(text, "opsdash_prediction_score_count", model="churn", version="1") == 8
    assert _sample(text, "opsdash_model_info", model="churn", version="1") == 1
    assert (
        _sample(
            text, "opsdash_prediction_errors_total", model="churn", version="1", reason="validation"
        )
        == 1
    )
    assert (
        _sample(
            text, "opsdash_prediction_errors_total", model="", version="", reason="unknown_model"
        )
        == 1
    )
    assert 'le="0.005"' in text  # the latency buckets of services.prometheus.metric_names
    assert _sample(text, "process_cpu_seconds_total") is not None
    assert _sample(text, "process_resident_memory_bytes") is not None


def test_healthz_reports_the_served_versions(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "models": {"churn": 1}}


def test_without_a_loaded_model_health_and_predict_say_unavailable(
    engine: Engine, fast_settings: Settings
) -> None:
    with session_scope(engine, write=True) as session:
        registry.create_model(
            session=session,
            name="draft",
            task="binary",
            class_labels=CLASSES,
            feature_schema=SCHEMA,
        )
    with TestClient(create_app(engine=engine, settings=fast_settings)) as client:
        health = client.get("/healthz")
        predict = client.post("/predict", json={"model": "draft", "features": GOOD})

    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"
    assert "no model loaded" in health.json()["reason"]
    assert predict.status_code == 503
    assert "no production version" in predict.json()["detail"]


def test_every_prediction_is_in_the_store_after_shutdown(
    engine: Engine, fast_settings: Settings, model_ids: tuple[int, int]
) -> None:
    answered: dict[str, dict[str, Any]] = {}
    # No timed flush during the test: rows go out when a batch of 50 fills and at shutdown,
    # however slowly a busy machine sends the requests.
    slow_flush = fast_settings.replace(log_flush_seconds=600.0)
    with TestClient(create_app(engine=engine, settings=slow_flush)) as client:
        for i in range(120):
            features = {**GOOD, "tenure": float(i)}
            body = client.post("/predict", json={"model": "churn", "features": features}).json()
            answered[body["prediction_id"]] = {**body, "features": features}
        batch = client.post("/predict", json={"model": "churn", "instances": [GOOD] * 30}).json()
        for p in batch["predictions"]:
            answered[p["prediction_id"]] = {**p, "features": GOOD}

    with session_scope(engine) as session:
        rows = {p.id: p for p in session.scalars(select(Prediction))}
    assert set(rows) == set(answered)
    model_id, version_id = model_ids
    for pid, answer in answered.items():
        row = rows[pid]
        assert (row.model_id, row.version_id) == (model_id, version_id)
        assert row.features == answer["features"]
        assert row.predicted_class == answer["predicted_class"]
        assert row.scores == pytest.approx(answer["probabilities"])
        assert row.top_score == pytest.approx(max(answer["probabilities"].values()))
        assert row.latency_ms > 0
        assert row.ts.tzinfo is not None


def _stored(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Prediction)) or 0)


def test_predictions_are_stored_a_full_batch_at_a_time_not_one_commit_a_request(
    engine: Engine, fast_settings: Settings, model_ids: tuple[int, int]
) -> None:
    # Batches of 50 and no timed flush during the test: a row reaches the store only when
    # its batch fills (or at shutdown), whatever the machine's speed or the driver.
    slow_flush = fast_settings.replace(log_flush_seconds=600.0)
    with TestClient(create_app(engine=engine, settings=slow_flush)) as client:
        for i in range(49):
            features = {**GOOD, "tenure": float(i)}
            assert client.post("/predict", json={"model": "churn", "features": features}).is_success
        assert _stored(engine) == 0

        assert client.post("/predict", json={"model": "churn", "features": GOOD}).is_success
        # The 50th fills the batch, which is written at once, not after the flush interval.
        deadline = time.monotonic() + 60
        while _stored(engine) < 50:
            assert time.monotonic() < deadline, "a full batch was not written"
            time.sleep(0.05)
        assert _stored(engine) == 50


class ExplodingModel:
    """Loads fine, fails to score (pickled by reference to this module)."""

    classes_ = ("churns", "stays")

    def predict_proba(self, frame: Any) -> Any:
        raise RuntimeError("boom")


def test_a_model_that_fails_to_score_gets_500_and_a_model_error_count(
    engine: Engine, fast_settings: Settings
) -> None:
    path = Path(fast_settings.var_dir) / "artifacts" / "exploding.pkl"
    sha = save_artifact(ExplodingModel(), path)
    with session_scope(engine, write=True) as session:
        model = registry.create_model(
            session=session, name="bad", task="binary", class_labels=CLASSES, feature_schema=SCHEMA
        )
        version = registry.add_version(
            session=session,
            model_id=model.id,
            artifact_path=str(path),
            artifact_sha256=sha,
            created_by="test",
        )
        registry.set_production(
            session=session, model_id=model.id, version_id=version.id, actor="test"
        )

    with TestClient(create_app(engine=engine, settings=fast_settings)) as client:
        response = client.post("/predict", json={"model": "bad", "features": GOOD})
        metrics = client.get("/metrics").text

    assert response.status_code == 500
    assert "RuntimeError" in response.json()["detail"]
    assert (
        _sample(metrics, "opsdash_prediction_errors_total", model="bad", reason="model_error") == 1
    )


def test_metrics_speak_openmetrics_to_a_scraper_that_asks(client: TestClient) -> None:
    client.post("/predict", json={"model": "churn", "features": GOOD})

    response = client.get(
        "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
    )

    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    assert "opsdash_prediction_score_count" in response.text
