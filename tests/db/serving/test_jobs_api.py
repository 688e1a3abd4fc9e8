"""``POST /jobs/{id}/progress`` and ``/jobs/{id}/result`` on the inference service: a
pipeline reports on the job handed to it with the job's one-time token; anyone else gets a
401 that says nothing; bad values are a 422 naming the field (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from services.promotion.ledger import versions
from services.registry.artifacts import save_artifact
from services.retrain.handoff import deliver_next
from services.retrain.jobs import cancel_job, get_job, start_retrain
from services.serving import create_app
from services.serving.jobs_api import MAX_BODY_BYTES
from services.settings import Settings
from tests.db.retrain.jobs_store import ANN, PER_CLASS, T0, T1, seed_models
from tests.receiver import receiver
from tests.serving_models import train_pipeline

SECRET = "a shared secret of the hand-off, long enough"


@pytest.fixture
def handed_off(engine: Engine, settings: Settings, tmp_path: Path) -> tuple[int, str]:
    """A churn job delivered to a receiver: ``(job id, its callback token)``."""
    seed_models(engine, tmp_path / "models")
    job_id = start_retrain(engine=engine, actor=ANN, model="churn", start=T0, end=T1,
                           preset="same", min_per_class=PER_CLASS, backend="webhook").id
    with receiver() as hook:
        deliver_next(engine=engine, settings=settings.replace(
            retrain_backend="webhook", retrain_webhook_url=hook.url,
            retrain_webhook_secret=SECRET), worker_id="w1", backoff_s=0)
        return job_id, json.loads(hook.received[0].body)["callback"]["token"]


@pytest.fixture
def client(engine: Engine, settings: Settings, handed_off: tuple[int, str]
           ) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine, settings=settings),
                    raise_server_exceptions=False) as test_client:
        yield test_client


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_progress_with_the_token_updates_the_job(
        client: TestClient, engine: Engine, handed_off: tuple[int, str]) -> None:
    job_id, token = handed_off
    answer = client.post(f"/jobs/{job_id}/progress", headers=_auth(token),
                         json={"stage": "training", "percent": 35.5, "message": "fold 2 of 5"})
    assert (answer.status_code, answer.json()) == (200, {"cancel_requested": False})
    job = get_job(engine=engine, job_id=job_id)
    assert (job.status, job.stage, job.percent, job.message) == (
        "running", "training", 35.5, "fold 2 of 5")


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong-token-of-some-length"},
    {"Authorization": "Basic d3Jvbmc6dG9rZW4="}, {"Authorization": "Bearer "}])
def test_without_the_token_nothing_is_said_and_nothing_changes(
        client: TestClient, engine: Engine, handed_off: tuple[int, str],
        headers: dict[str, str]) -> None:
    job_id, _token = handed_off
    for path in (f"/jobs/{job_id}/progress", f"/jobs/{job_id}/result"):
        answer = client.post(path, headers=headers, json={"stage": "x", "percent": 1,
                                                          "metrics": {}})
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert answer.json() == {"detail": "missing, wrong or spent callback token"}
    assert get_job(engine=engine, job_id=job_id).stage == "handed off"


def test_another_job_or_no_job_is_refused_alike(
        client: TestClient, handed_off: tuple[int, str]) -> None:
    job_id, token = handed_off
    for other in (str(job_id + 1), "abc", "99999999999999999999999"):
        answer = client.post(f"/jobs/{other}/progress", headers=_auth(token),
                             json={"stage": "x", "percent": 1})
        assert (answer.status_code, answer.json()) == (
            401, {"detail": "missing, wrong or spent callback token"})


@pytest.mark.parametrize(("body", "field"), [
    ({"stage": "training", "percent": 101}, "percent"),
    ({"stage": "training", "percent": "half"}, "percent"),
    ({"stage": "training", "percent": True}, "percent"),
    ({"stage": "", "percent": 5}, "stage"),
    ({"stage": "x" * 41, "percent": 5}, "stage"),
    ({"stage": "a\x00b", "percent": 5}, "stage"),
    ({"percent": 5}, "stage"),
    ({"stage": "training"}, "percent"),
    ({"stage": "training", "percent": 5, "message": 3}, "message"),
    ({"stage": "training", "percent": 5, "eta": 3}, "eta"),
    ([1, 2], "body"),
])
def test_a_bad_progress_value_is_a_422_naming_its_field(
        client: TestClient, engine: Engine, handed_off: tuple[int, str], body: object,
        field: str) -> None:
    job_id, token = handed_off
    answer = client.post(f"/jobs/{job_id}/progress", headers=_auth(token), json=body)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == field
    assert get_job(engine=engine, job_id=job_id).stage == "handed off"


def test_a_body_over_the_limit_is_refused_unread(
        client: TestClient, handed_off: tuple[int, str]) -> None:
    job_id, token = handed_off
    answer = client.post(f"/jobs/{job_id}/progress", headers=_auth(token),
                         content=b"{" + b" " * MAX_BODY_BYTES + b"}")
    assert answer.status_code == 413


def test_the_result_registers_the_version_ends_the_job_and_spends_the_token(
        client: TestClient, engine: Engine, settings: Settings, handed_off: tuple[int, str],
        tmp_path: Path) -> None:
    job_id, token = handed_off
    outside = tmp_path / "trained.pkl"
    save_artifact(train_pipeline(seed=4), outside)
    artifact = settings.resolved_artifacts_dir / "churn-dag-run-12.pkl"
    artifact.parent.mkdir(parents=True, exist_ok=True)
    save_artifact(train_pipeline(seed=4), artifact)
    for wrong in (outside, settings.resolved_artifacts_dir, artifact.parent / "missing.pkl"):
        refused = client.post(f"/jobs/{job_id}/result", headers=_auth(token),
                              json={"metrics": {"accuracy": 0.81}, "artifact": str(wrong)})
        assert (refused.status_code, refused.json()["detail"][0]["field"]) == (422,
                                                                                "artifact")
    answer = client.post(f"/jobs/{job_id}/result", headers=_auth(token),
                         json={"metrics": {"accuracy": 0.81}, "artifact": str(artifact),
                               "notes": "dag run 12", "fingerprint": {"seed": 12}})
    assert (answer.status_code, answer.json()) == (200, {
        "job": job_id, "model": "churn", "version": 2, "status": "succeeded"})
    job = get_job(engine=engine, job_id=job_id)
    assert (job.status, job.result_version) == ("succeeded", 2)
    again = client.post(f"/jobs/{job_id}/progress", headers=_auth(token),
                        json={"stage": "x", "percent": 1})
    assert again.status_code == 401
    twice = client.post(f"/jobs/{job_id}/result", headers=_auth(token), json={"metrics": {}})
    assert twice.status_code == 401


def test_a_result_without_metrics_is_refused(
        client: TestClient, handed_off: tuple[int, str]) -> None:
    job_id, token = handed_off
    for body, field in (({"artifact": None}, "metrics"), ({"metrics": [1]}, "metrics"),
                        ({"metrics": {}, "artifact": 5}, "artifact")):
        answer = client.post(f"/jobs/{job_id}/result", headers=_auth(token), json=body)
        assert (answer.status_code, answer.json()["detail"][0]["field"]) == (422, field)


def test_a_failed_run_ends_the_job_failed_with_its_reason(
        client: TestClient, engine: Engine, handed_off: tuple[int, str]) -> None:
    job_id, token = handed_off
    mixed = client.post(f"/jobs/{job_id}/result", headers=_auth(token),
                        json={"error": "out of memory", "metrics": {}})
    assert (mixed.status_code, mixed.json()["detail"][0]["field"]) == (422, "error")
    empty = client.post(f"/jobs/{job_id}/result", headers=_auth(token), json={"error": ""})
    assert (empty.status_code, empty.json()["detail"][0]["field"]) == (422, "error")
    answer = client.post(f"/jobs/{job_id}/result", headers=_auth(token),
                         json={"error": "out of memory on the training node"})
    assert (answer.status_code, answer.json()) == (200, {
        "job": job_id, "model": "churn", "version": None, "status": "failed"})
    job = get_job(engine=engine, job_id=job_id)
    assert (job.status, job.error, job.result_version) == (
        "failed", "the pipeline failed: out of memory on the training node", None)
    again = client.post(f"/jobs/{job_id}/result", headers=_auth(token),
                        json={"metrics": {"accuracy": 0.9}})
    assert again.status_code == 401


def test_a_result_for_a_cancelled_job_is_refused_and_registers_nothing(
        client: TestClient, engine: Engine, handed_off: tuple[int, str]) -> None:
    job_id, token = handed_off
    cancel_job(engine=engine, actor=ANN, job_id=job_id)
    progress = client.post(f"/jobs/{job_id}/progress", headers=_auth(token),
                           json={"stage": "training", "percent": 80})
    assert (progress.status_code, progress.json()) == (200, {"cancel_requested": True})
    answer = client.post(f"/jobs/{job_id}/result", headers=_auth(token),
                         json={"metrics": {"accuracy": 0.8}})
    assert (answer.status_code, answer.json()) == (409, {
        "detail": f"retrain job {job_id} was cancelled by an operator; nothing was registered"})
    job = get_job(engine=engine, job_id=job_id)
    assert (job.status, job.result_version) == ("running", None)
    assert [v.version for v in versions(engine=engine, model="churn")] == [1]
