"""Hostile values and bodies on ``POST /predict`` and ``POST /feedback``: each is a 422 naming
the field (``body`` when the JSON cannot be parsed), counted as ``reason="validation"``,
never a 500, never stored, and logged without a traceback."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from db.models import Feedback
from db.session import session_scope
from services.registry.features import MAX_CATEGORY_CHARS
from services.serving import create_app
from services.serving.body import MAX_JSON_DEPTH
from services.serving.payload import MAX_REQUEST_TEXT_CHARS
from services.settings import Settings
from tests.factories import log_predictions, make_model
from tests.serving_models import GOOD, register_model

TOKEN = "a-feedback-token-of-some-length"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEEP = 200_000


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    register_model(engine, folder=Path(settings.var_dir) / "artifacts")
    fast = settings.replace(model_reload_seconds=0.2, log_flush_seconds=0.2,
                            feedback_token=TOKEN)
    app = create_app(engine=engine, settings=fast)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _errors(client: TestClient, reason: str) -> float:
    """The sum of ``opsdash_prediction_errors_total`` over the series with ``reason``."""
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("opsdash_prediction_errors_total{") and f'reason="{reason}"' in line:
            total += float(line.rpartition(" ")[2])
    return total


def _post(client: TestClient, path: str, raw: str) -> Any:
    return client.post(path, content=raw.encode("utf-8", "surrogatepass"),
                       headers={"content-type": "application/json", **AUTH})


def _features(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def _fields(response: Any) -> list[str]:
    return [problem["field"] for problem in response.json()["detail"]]


def test_a_lone_surrogate_is_a_validation_422_not_a_model_error(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = '{"model": "churn", "features": {"tenure": 12, "spend": 40.5, "plan": "\\udc80"}}'

    response = _post(client, "/predict", raw)

    assert response.status_code == 422
    assert _fields(response) == ["plan"]
    assert "surrogate" in response.json()["detail"][0]["message"]
    assert _errors(client, "validation") == 1
    assert _errors(client, "model_error") == 0
    assert [r for r in caplog.records if r.exc_info] == []
    assert len([r for r in caplog.records if r.name.startswith("services.")]) <= 1


def test_a_7_mb_category_value_is_refused_naming_the_field(client: TestClient) -> None:
    response = client.post("/predict", json={"model": "churn",
                                             "features": _features(plan="x" * 7_000_000)})

    assert response.status_code == 422
    assert _fields(response) == ["plan"]
    assert f"at most {MAX_CATEGORY_CHARS:,}" in response.json()["detail"][0]["message"]


def test_a_batch_of_1000_values_of_7_kb_is_refused(client: TestClient) -> None:
    instances = [_features(plan="y" * 7_000)] * 1000

    response = client.post("/predict", json={"model": "churn", "instances": instances})

    assert response.status_code == 422
    assert set(_fields(response)) == {"plan"}
    assert _errors(client, "validation") == 1


def test_a_batch_over_the_total_text_limit_is_refused_naming_the_limit(
    client: TestClient, engine: Engine
) -> None:
    count = MAX_REQUEST_TEXT_CHARS // MAX_CATEGORY_CHARS + 1
    instances = [_features(plan="z" * MAX_CATEGORY_CHARS)] * count

    response = client.post("/predict", json={"model": "churn", "instances": instances})

    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["field"] == "instances"
    assert f"{count * MAX_CATEGORY_CHARS:,}" in problem["message"]
    assert f"at most {MAX_REQUEST_TEXT_CHARS:,}" in problem["message"]
    assert _errors(client, "validation") == 1


def test_a_batch_at_the_total_text_limit_is_answered(client: TestClient) -> None:
    count = MAX_REQUEST_TEXT_CHARS // MAX_CATEGORY_CHARS
    instances = [_features(plan="z" * MAX_CATEGORY_CHARS)] * count

    response = client.post("/predict", json={"model": "churn", "instances": instances})

    assert response.status_code == 200
    assert len(response.json()["predictions"]) == count


@pytest.mark.parametrize("digits", [400, 5_000])
def test_a_huge_integer_is_a_422_naming_the_field(client: TestClient, digits: int) -> None:
    number = "9" * digits
    raw = f'{{"model": "churn", "features": {{"tenure": {number}, "spend": 1, "plan": "pro"}}}}'

    response = _post(client, "/predict", raw)

    assert response.status_code == 422
    assert _fields(response) == ["tenure"]
    assert "too large" in response.json()["detail"][0]["message"]
    assert _errors(client, "validation") == 1


def test_a_huge_integer_in_a_batch_names_the_instance(client: TestClient) -> None:
    raw = ('{"model": "churn", "instances": [{"tenure": 1, "spend": 1, "plan": "pro"}, '
           f'{{"tenure": 1, "spend": -{"7" * 5_000}, "plan": "pro"}}]}}')

    response = _post(client, "/predict", raw)

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "spend", "message": "is too large for a number (5,000 digits)", "instance": 1}]


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_json_is_a_422_on_the_body(client: TestClient, opener: str) -> None:
    raw = '{"model": "churn", "features": ' + opener * DEEP + "1"

    response = _post(client, "/predict", raw)

    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["field"] == "body"
    assert f"at most {MAX_JSON_DEPTH}" in problem["message"]
    assert _errors(client, "validation") == 1


def test_brackets_inside_strings_do_not_count_as_nesting(client: TestClient) -> None:
    plan = '[{"' * 300 + '\\"' + "]}" * 100
    instances = [_features(plan=plan[:MAX_CATEGORY_CHARS])] * 40

    response = client.post("/predict", json={"model": "churn", "instances": instances})

    assert response.status_code == 200


def test_a_body_that_is_not_utf_8_is_a_422_on_the_body(client: TestClient) -> None:
    response = client.post("/predict", content=b'{"model": "\xff"}',
                           headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert _fields(response) == ["body"]


# /feedback: the same classes of input.

@pytest.fixture
def ids(engine: Engine) -> list[str]:
    model_id, version_id = make_model(engine, name="tickets", production=False)
    return log_predictions(engine, model_id=model_id, version_id=version_id,
                           rows=[(datetime(2026, 11, 1, 12, tzinfo=UTC), "stays", None)] * 2)


def _labels(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Feedback)) or 0)


@pytest.mark.parametrize("field", ["prediction_id", "label", "labeler"])
def test_feedback_refuses_a_lone_surrogate_naming_the_field(
    client: TestClient, engine: Engine, ids: list[str], field: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    item = {"prediction_id": ids[0], "label": "stays", "labeler": "crm", field: "a\udc80"}
    raw = json.dumps({"labels": [item]})  # ASCII: the surrogate travels as the escape \udc80

    response = _post(client, "/feedback", raw)

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == [
        {"field": field, "message": "is not valid text (it holds a lone surrogate)",
         "instance": 0}]
    assert [r for r in caplog.records if r.exc_info] == []
    assert _labels(engine) == 0


def test_feedback_refuses_a_huge_integer_and_deep_nesting(
    client: TestClient, engine: Engine, ids: list[str]
) -> None:
    huge = _post(client, "/feedback", f'{{"prediction_id": {"1" * 5_000}, "label": "stays"}}')
    deep = _post(client, "/feedback", '{"labels": ' + "[" * DEEP)

    assert huge.status_code == 422
    assert _fields(huge) == ["prediction_id"]
    assert deep.status_code == 422
    assert _fields(deep) == ["body"]
    assert _labels(engine) == 0


def test_feedback_refuses_an_overlong_label(client: TestClient, ids: list[str]) -> None:
    response = client.post("/feedback", headers=AUTH,
                           json={"prediction_id": ids[0], "label": "s" * 200_000})

    assert response.status_code == 422
    assert _fields(response) == ["label"]
    assert f"at most {MAX_CATEGORY_CHARS:,}" in response.json()["detail"][0]["message"]


def test_feedback_refused_before_its_body_is_read_closes_the_connection(
    client: TestClient, ids: list[str]
) -> None:
    response = client.post("/feedback", json={"prediction_id": ids[0], "label": "stays"},
                           headers={"Authorization": "Bearer not-the-token"})

    assert response.status_code == 401
    # Else the server would read the unread body, however long, to its end.
    assert response.headers["connection"] == "close"


def _chunks() -> Iterator[bytes]:
    yield from [b" " * 1024] * 4


@pytest.mark.parametrize(("method", "path"), [("GET", "/healthz"), ("GET", "/metrics"),
                                              ("POST", "/nowhere")])
def test_an_answer_given_before_the_body_is_read_closes_the_connection(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, path, content=_chunks())

    assert response.headers["connection"] == "close"


def test_an_answer_after_the_whole_body_keeps_the_connection(client: TestClient) -> None:
    response = client.post("/predict", json={"model": "churn", "features": GOOD})
    metrics = client.get("/metrics")

    assert response.status_code == 200
    assert "connection" not in response.headers
    assert "connection" not in metrics.headers
