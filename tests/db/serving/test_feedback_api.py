"""``POST /feedback`` on the inference service: token, single and batch, all or nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from db.models import AuditLog, Feedback
from db.session import session_scope
from services.access import Principal, Role
from services.labels.save import LabelEdit, LabelsNotSavedError, save_labels
from services.serving import create_app
from services.serving import feedback as feedback_module
from services.serving.feedback import MAX_BODY_BYTES, MAX_LABELS
from services.settings import Settings
from tests.factories import log_predictions, make_model
from tests.serving_models import GOOD, register_model

TOKEN = "a-feedback-token-of-some-length"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
MakeClient = Callable[..., TestClient]


@pytest.fixture
def ids(engine: Engine) -> list[str]:
    """Three unlabelled churn predictions (classes stays, churns), no model in production."""
    model_id, version_id = make_model(engine, production=False)
    return log_predictions(engine, model_id=model_id, version_id=version_id,
                           rows=[(T0, "stays", None)] * 3)


@pytest.fixture
def make_client(engine: Engine, settings: Settings) -> Iterator[MakeClient]:
    clients: list[TestClient] = []

    def make(token: str = TOKEN, **changes: Any) -> TestClient:
        app = create_app(engine=engine,
                         settings=settings.replace(feedback_token=token, **changes))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


def _labels(engine: Engine) -> dict[str, tuple[str, str, str]]:
    with session_scope(engine) as session:
        return {pid: (label, labeler, source) for pid, label, labeler, source in session.execute(
            select(Feedback.prediction_id, Feedback.label, Feedback.labeler, Feedback.source))}


def _audit_actors(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return list(session.scalars(select(AuditLog.actor).order_by(AuditLog.id)))


@pytest.mark.parametrize("token", ["", "too-short"])
def test_without_a_usable_token_the_endpoint_is_off(
    make_client: MakeClient, ids: list[str], token: str
) -> None:
    response = make_client(token=token).post(
        "/feedback", json={"prediction_id": ids[0], "label": "stays"},
        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert "set OPSDASH_FEEDBACK_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong-token-of-some-length"}, {"Authorization": TOKEN},
    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer "},
], ids=["missing", "wrong", "no-scheme", "basic", "empty"])
def test_a_missing_or_wrong_token_is_401_and_stores_nothing(
    client: TestClient, engine: Engine, ids: list[str], headers: dict[str, str]
) -> None:
    response = client.post("/feedback", json={"prediction_id": ids[0], "label": "stays"},
                           headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert _labels(engine) == {}


def test_a_single_label_is_stored_as_the_feedback_api(
    client: TestClient, engine: Engine, ids: list[str]
) -> None:
    response = client.post("/feedback", json={"prediction_id": ids[0], "label": "churns"},
                           headers={"authorization": f"bearer {TOKEN}"})
    assert (response.status_code, response.json()) == (
        200, {"saved": 1, "unchanged": 0, "replaced": 0})
    assert _labels(engine) == {ids[0]: ("churns", "feedback-api", "api")}
    assert _audit_actors(engine) == ["feedback-api"]


def test_a_batch_with_labelers_is_stored(client: TestClient, engine: Engine,
                                         ids: list[str]) -> None:
    body = {"labels": [{"prediction_id": ids[0], "label": "churns", "labeler": "crm"},
                       {"prediction_id": ids[1], "label": "stays", "labeler": None}]}
    response = client.post("/feedback", json=body, headers=AUTH)
    assert (response.status_code, response.json()) == (
        200, {"saved": 2, "unchanged": 0, "replaced": 0})
    # A name the caller gives is the API's source, never a dashboard user's name.
    assert _labels(engine) == {ids[0]: ("churns", "feedback-api:crm", "api"),
                               ids[1]: ("stays", "feedback-api", "api")}
    again = client.post("/feedback", json=body, headers=AUTH)
    assert again.json() == {"saved": 0, "unchanged": 2, "replaced": 0}


def test_a_labeler_named_like_a_dashboard_user_is_stored_as_the_api(
    client: TestClient, engine: Engine, ids: list[str]
) -> None:
    response = client.post("/feedback", json={"prediction_id": ids[0], "label": "churns",
                                              "labeler": "admin"}, headers=AUTH)
    assert response.status_code == 200
    assert _labels(engine) == {ids[0]: ("churns", "feedback-api:admin", "api")}


def test_a_labeler_name_too_long_for_its_source_prefix_is_422(
    client: TestClient, engine: Engine, ids: list[str]
) -> None:
    response = client.post("/feedback", json={"prediction_id": ids[0], "label": "churns",
                                              "labeler": "x" * 88}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "labeler", "message": "must have 1 to 87 characters"}]
    assert _labels(engine) == {}


def test_unknown_ids_and_wrong_classes_are_422_per_item_and_nothing_is_stored(
    client: TestClient, engine: Engine, ids: list[str]
) -> None:
    body = {"labels": [{"prediction_id": ids[0], "label": "churns"},
                       {"prediction_id": "nope", "label": "stays"},
                       {"prediction_id": ids[1], "label": "maybe"},
                       {"prediction_id": ids[0], "label": "stays"}]}
    response = client.post("/feedback", json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "prediction_id", "message": "no prediction 'nope'", "instance": 1},
        {"field": "label", "message": "'maybe' is not a class of churn (stays, churns)",
         "instance": 2},
        {"field": "prediction_id", "message": f"prediction '{ids[0]}' is also on item 0",
         "instance": 3},
    ]
    assert _labels(engine) == {}
    single = client.post("/feedback", json={"prediction_id": "nope", "label": "x"},
                         headers=AUTH)
    assert single.status_code == 422
    assert single.json()["detail"] == [{"field": "prediction_id",
                                        "message": "no prediction 'nope'"}]


@pytest.mark.parametrize(("body", "problem"), [
    (b"{not json", {"field": "body"}),
    (b"[1]", {"field": "body", "message": "must be a JSON object"}),
    (b'{"label": "x"}', {"field": "prediction_id", "message": "is missing"}),
    (b'{"prediction_id": 3, "label": "x"}',
     {"field": "prediction_id", "message": "must be a non-empty string"}),
    (b'{"prediction_id": "p", "label": "x", "labeler": 5}',
     {"field": "labeler", "message": "must be a string or null"}),
    (b'{"prediction_id": "p", "label": "x", "replace": "yes"}',
     {"field": "replace", "message": "must be true or false"}),
    (b'{"prediction_id": "p", "label": "x", "model": "churn"}', {"field": "model"}),
    (b'{"labels": []}', {"field": "labels"}),
    (b'{"labels": [7]}', {"field": "labels", "message": "must be an object", "instance": 0}),
    (b'{"labels": [{"prediction_id": "p"}]}',
     {"field": "label", "message": "is missing", "instance": 0}),
    (b'{"labels": [], "label": "x"}', {"field": "label"}),
], ids=["not-json", "not-object", "missing", "not-string", "labeler", "replace", "extra",
        "empty-batch", "item-not-object", "item-missing", "batch-extra"])
def test_bad_bodies_are_422_naming_the_field(
    client: TestClient, ids: list[str], body: bytes, problem: dict[str, Any]
) -> None:
    response = client.post("/feedback", content=body,
                           headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422
    [found, *_] = response.json()["detail"]
    assert {k: found[k] for k in problem} == problem


def test_too_many_labels_is_422(client: TestClient, ids: list[str]) -> None:
    body = {"labels": [{"prediction_id": f"p{i}", "label": "x"} for i in range(MAX_LABELS + 1)]}
    response = client.post("/feedback", json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["message"] == (
        f"has {MAX_LABELS + 1} items; at most {MAX_LABELS}")


def test_a_body_over_the_limit_is_413(client: TestClient, ids: list[str]) -> None:
    response = client.post("/feedback", content=b" " * (MAX_BODY_BYTES + 1), headers=AUTH)
    assert response.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the stream itself is counted
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    response = client.post("/feedback", content=chunks(), headers=AUTH)
    assert response.status_code == 413


def test_a_conflict_is_409_with_the_stored_label_and_replace_overwrites(
    client: TestClient, engine: Engine, ids: list[str]
) -> None:
    save_labels(engine=engine, actor=Principal(username="ann", role=Role.LABELER),
                edits=[LabelEdit(ids[0], "churns", None)])
    body: dict[str, Any] = {"labels": [{"prediction_id": ids[1], "label": "stays"},
                                       {"prediction_id": ids[0], "label": "stays"}]}
    response = client.post("/feedback", json=body, headers=AUTH)
    assert response.status_code == 409
    [conflict] = response.json()["conflicts"]
    assert {k: v for k, v in conflict.items() if k != "stored_at"} == {
        "instance": 1, "prediction_id": ids[0], "stored_label": "churns", "stored_by": "ann",
        "your_label": "stays"}
    assert datetime.fromisoformat(conflict["stored_at"]).tzinfo is not None
    assert 'send "replace": true' in response.json()["detail"]
    assert _labels(engine) == {ids[0]: ("churns", "ann", "ui")}  # all or nothing

    response = client.post("/feedback", json={**body, "replace": True}, headers=AUTH)
    assert (response.status_code, response.json()) == (
        200, {"saved": 2, "unchanged": 0, "replaced": 1})
    assert _labels(engine)[ids[0]] == ("stays", "feedback-api", "api")


def test_a_busy_database_is_503_retry(
    client: TestClient, ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(**_: Any) -> Any:
        raise LabelsNotSavedError("not saved: the database is busy; try again")

    monkeypatch.setattr(feedback_module, "save_label_rows", busy)
    response = client.post("/feedback", json={"prediction_id": ids[0], "label": "stays"},
                           headers=AUTH)
    assert (response.status_code, response.json()) == (503, {"detail": "database busy, retry"})
    assert response.headers["retry-after"] == "1"


def test_an_unexpected_error_is_500_without_a_traceback(
    client: TestClient, ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(feedback_module, "save_label_rows", broken)
    response = client.post("/feedback", json={"prediction_id": ids[0], "label": "stays"},
                           headers=AUTH)
    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


def test_feedback_right_after_a_prediction_finds_it(
    engine: Engine, settings: Settings, make_client: MakeClient
) -> None:
    """The prediction still waits in the service's log; /feedback writes the log first."""
    register_model(engine, folder=Path(settings.var_dir) / "artifacts")
    client = make_client(log_flush_seconds=3600.0, log_batch_size=10_000)
    predicted = client.post("/predict", json={"model": "churn", "features": GOOD}).json()
    response = client.post("/feedback", json={"prediction_id": predicted["prediction_id"],
                                              "label": "stays"}, headers=AUTH)
    assert (response.status_code, response.json()["saved"]) == (200, 1)
