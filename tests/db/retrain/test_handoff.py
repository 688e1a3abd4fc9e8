"""A retrain job handed to an outside orchestrator: delivered once, signed, to a real
receiver on loopback (retried when it is down or failing, failed when it stays so); the
pipeline reports with the job's one-time token and registers its result, which ends the
job with its version and spends the token (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from db.base import utcnow
from db.lifecycle_models import RetrainJob
from db.models import ModelVersion
from db.session import session_scope
from services.access import CLI
from services.audit import query_audit
from services.registry.artifacts import save_artifact
from services.retrain.callback import (
    CallbackError,
    NotHandedOffError,
    TokenRefusedError,
    register_result,
    report_progress,
)
from services.retrain.handoff import deliver_next, end_overdue
from services.retrain.jobs import (
    LeaseLostError,
    cancel_job,
    claim_next,
    get_job,
    reap_expired,
    report,
    start_retrain,
)
from services.settings import Settings
from tests.db.retrain.jobs_store import ANN, PER_CLASS, T0, T1, seed_models
from tests.receiver import Receiver, closed_port_url, receiver
from tests.serving_models import train_pipeline

SECRET = "a shared secret of the hand-off, long enough"


def _hooked(settings: Settings, url: str, **changes: Any) -> Settings:
    return settings.replace(retrain_backend="webhook", retrain_webhook_url=url,
                            retrain_webhook_secret=SECRET, **changes)


def _queue(engine: Engine, folder: Path, note: str = "after the drift") -> int:
    seed_models(engine, folder)
    return start_retrain(engine=engine, actor=ANN, model="churn", start=T0, end=T1,
                         preset="search", note=note, min_per_class=PER_CLASS,
                         backend="webhook").id


def _token_hash(engine: Engine, job_id: int) -> str | None:
    with session_scope(engine) as session:
        return session.scalar(select(RetrainJob.callback_token_sha256)
                              .where(RetrainJob.id == job_id))


def _delivery(engine: Engine, job_id: int) -> dict[str, Any]:
    found = get_job(engine=engine, job_id=job_id).delivery
    assert isinstance(found, dict)
    return found


def _delivered(engine: Engine, folder: Path, settings: Settings, hook: Receiver
               ) -> tuple[int, str]:
    """Queue and deliver a webhook job; ``(job id, the callback token the pipeline got)``."""
    job_id = _queue(engine, folder)
    deliver_next(engine=engine, settings=_hooked(settings, hook.url), worker_id="w1",
                 backoff_s=0)
    return job_id, json.loads(hook.received[-1].body)["callback"]["token"]


def test_a_delivered_job_is_signed_described_and_waits_for_the_pipeline(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    job_id = _queue(engine, tmp_path)
    with receiver() as hook:
        job = deliver_next(engine=engine, settings=_hooked(settings, hook.url),
                           worker_id="w1", backoff_s=0)
    [got] = hook.received
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Opsdash-Signature"], expected)
    assert got.headers["X-Opsdash-Job"] == str(job_id)
    body = json.loads(got.body)
    assert {k: body[k] for k in ("job_id", "model", "version_base", "preset", "note",
                                 "requested_by")} == {
        "job_id": job_id, "model": "churn", "version_base": 1, "preset": "search",
        "note": "after the drift", "requested_by": "ann"}
    assert body["window"] == {"start": T0.isoformat(), "end": T1.isoformat()}
    callback = body["callback"]
    assert callback["progress_url"] == f"{settings.serving_url}/jobs/{job_id}/progress"
    assert callback["register_url"] == f"{settings.serving_url}/jobs/{job_id}/result"
    assert f"--job {job_id}" in callback["cli"]["register"]
    token = callback["token"]
    assert len(token) >= 32
    assert job is not None
    assert (job.status, job.stage) == ("running", "handed off")
    assert _token_hash(engine, job_id) == hashlib.sha256(token.encode()).hexdigest()
    delivery = _delivery(engine, job_id)
    assert (delivery["delivered"], delivery["status"], delivery["attempts"]) == (True, 200, 1)
    assert "delivered to the pipeline (HTTP 200, 1 attempt)" in job.log
    assert token not in json.dumps(delivery) + job.log


def test_a_tampered_body_does_not_match_its_signature(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    _queue(engine, tmp_path)
    with receiver() as hook:
        deliver_next(engine=engine, settings=_hooked(settings, hook.url), worker_id="w1",
                     backoff_s=0)
    [got] = hook.received
    tampered = got.body.replace(b'"preset":"search"', b'"preset":"same"')
    assert tampered != got.body
    forged = "sha256=" + hmac.new(SECRET.encode(), tampered, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(got.headers["X-Opsdash-Signature"], forged)


def test_a_receiver_that_is_down_fails_the_job_after_bounded_retries(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    job_id = _queue(engine, tmp_path)
    job = deliver_next(engine=engine, settings=_hooked(
        settings, closed_port_url(), retrain_webhook_attempts=3), worker_id="w1", backoff_s=0)
    assert job is not None
    assert job.status == "failed"
    assert job.error.startswith("not delivered after 3 attempts: the receiver cannot be "
                                "reached")
    delivery = _delivery(engine, job_id)
    assert (delivery["delivered"], delivery["status"], delivery["attempts"]) == (False, None, 3)
    assert job.error in job.log
    assert _token_hash(engine, job_id) is not None  # never handed off: no report is taken
    with pytest.raises(TokenRefusedError):
        report_progress(engine=engine, job_id=job_id, token="anything", stage="x", percent=1)


def test_a_failing_receiver_is_retried_and_one_delivery_is_recorded(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    job_id = _queue(engine, tmp_path)
    with receiver([503, 200]) as hook:
        job = deliver_next(engine=engine, settings=_hooked(settings, hook.url),
                           worker_id="w1", backoff_s=0)
    assert [r.body for r in hook.received] == [hook.received[0].body] * 2
    assert job is not None
    assert (job.status, job.stage) == ("running", "handed off")
    delivery = _delivery(engine, job_id)
    assert (delivery["delivered"], delivery["status"], delivery["attempts"]) == (True, 200, 2)


def test_a_refusing_receiver_is_not_asked_again(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    job_id = _queue(engine, tmp_path)
    with receiver([403]) as hook:
        job = deliver_next(engine=engine, settings=_hooked(settings, hook.url),
                           worker_id="w1", backoff_s=0)
    assert len(hook.received) == 1
    assert job is not None
    assert job.status == "failed"
    assert "HTTP 403" in job.error
    assert _delivery(engine, job_id)["attempts"] == 1


def test_two_workers_deliver_a_job_once(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    _queue(engine, tmp_path)
    with receiver() as hook:
        hooked = _hooked(settings, hook.url)
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(
                lambda w: deliver_next(engine=engine, settings=hooked, worker_id=w,
                                       backoff_s=0), ["w1", "w2", "w3", "w4"]))
    assert len(hook.received) == 1
    assert sum(r is not None for r in results) == 1


def test_the_airflow_format_puts_the_job_in_a_dag_runs_conf(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    job_id = _queue(engine, tmp_path)
    with receiver() as hook:
        deliver_next(engine=engine, settings=_hooked(
            settings, hook.url, retrain_webhook_format="airflow",
            retrain_webhook_headers="Authorization=Basic b3BzOnNlY3JldA=="),
            worker_id="w1", backoff_s=0)
    [got] = hook.received
    body = json.loads(got.body)
    assert body["dag_run_id"] == f"opsdash-job-{job_id}"
    assert body["conf"]["job_id"] == job_id
    assert got.headers["Authorization"] == "Basic b3BzOnNlY3JldA=="


def test_the_pipeline_reports_progress_with_its_token_only(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    with receiver() as hook:
        job_id, token = _delivered(engine, tmp_path, settings, hook)
    assert report_progress(engine=engine, job_id=job_id, token=token, stage="training",
                           percent=40, message="fold 2 of 5") is False
    job = get_job(engine=engine, job_id=job_id)
    assert (job.stage, job.percent, job.message) == ("training", 40.0, "fold 2 of 5")
    for wrong in ("", token[:-1], token + "x", "x" * len(token)):
        with pytest.raises(TokenRefusedError) as refused:
            report_progress(engine=engine, job_id=job_id, token=wrong, stage="evil",
                            percent=99)
        assert token not in str(refused.value)
    with pytest.raises(CallbackError, match="percent"):
        report_progress(engine=engine, job_id=job_id, token=token, stage="x", percent=101)
    assert get_job(engine=engine, job_id=job_id).stage == "training"
    cancel_job(engine=engine, actor=ANN, job_id=job_id)
    assert report_progress(engine=engine, job_id=job_id, token=None, stage="training",
                           percent=50) is True


def _artifact(folder: Path) -> Path:
    path = folder / "retrained.pkl"
    save_artifact(train_pipeline(seed=3), path)
    return path


def test_registering_the_result_ends_the_job_with_its_version_and_spends_the_token(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    with receiver() as hook:
        job_id, token = _delivered(engine, tmp_path, settings, hook)
    job = register_result(engine=engine, job_id=job_id, token=token, actor="retrain-pipeline",
                          artifact=_artifact(tmp_path), metrics={"accuracy": 0.79},
                          notes="airflow run 7", fingerprint={"seed": 7})
    assert (job.status, job.stage, job.percent, job.result_version) == (
        "succeeded", "done", 100.0, 2)
    with session_scope(engine) as session:
        version = session.scalars(select(ModelVersion).where(ModelVersion.version == 2)).one()
        assert (version.status, version.job_id, version.holdout_metrics,
                version.training_fingerprint, version.notes) == (
            "candidate", job_id, {"accuracy": 0.79}, {"seed": 7}, "airflow run 7")
        assert (version.train_window_start, version.train_window_end) == (T0, T1)
        assert len(version.artifact_sha256) == 64
    assert _token_hash(engine, job_id) is None
    for again in (lambda: report_progress(engine=engine, job_id=job_id, token=token,
                                          stage="x", percent=1),
                  lambda: register_result(engine=engine, job_id=job_id, token=token,
                                          actor="retrain-pipeline", artifact=None,
                                          metrics={})):
        with pytest.raises(TokenRefusedError):
            again()
    [entry] = query_audit(engine=engine, actor=CLI, action="register_version")[:1]
    assert (entry.actor, entry.details["job"]) == ("retrain-pipeline", job_id)


def test_a_model_served_elsewhere_registers_metrics_only(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    with receiver() as hook:
        job_id, token = _delivered(engine, tmp_path, settings, hook)
    with pytest.raises(CallbackError, match="artifact"):
        register_result(engine=engine, job_id=job_id, token=token, actor="p",
                        artifact=tmp_path / "missing.pkl", metrics={})
    job = register_result(engine=engine, job_id=job_id, token=token, actor="p", artifact=None,
                          metrics={"accuracy": 0.8})
    assert (job.status, job.result_version) == ("succeeded", 2)


def test_the_command_line_path_needs_a_handed_off_job(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    job_id = _queue(engine, tmp_path)
    with pytest.raises(NotHandedOffError, match=f"job {job_id} is not a running job"):
        report_progress(engine=engine, job_id=job_id, token=None, stage="x", percent=1)


def test_a_cancelled_or_silent_handed_off_job_is_ended_by_the_worker(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    with receiver() as hook:
        job_id, token = _delivered(engine, tmp_path, settings, hook)
        hooked = _hooked(settings, hook.url)
        assert end_overdue(engine=engine, settings=hooked) == []
        cancel_job(engine=engine, actor=ANN, job_id=job_id)
        assert end_overdue(engine=engine, settings=hooked) == [job_id]
        assert get_job(engine=engine, job_id=job_id).status == "cancelled"
        with pytest.raises(TokenRefusedError):
            report_progress(engine=engine, job_id=job_id, token=token, stage="x", percent=1)
        second = start_retrain(engine=engine, actor=ANN, model="churn", start=T0, end=T1,
                               preset="same", min_per_class=PER_CLASS, backend="webhook").id
        deliver_next(engine=engine, settings=hooked, worker_id="w1", backoff_s=0)
    later = utcnow() + timedelta(hours=hooked.retrain_webhook_deadline_hours, minutes=1)
    assert end_overdue(engine=engine, settings=hooked, now=later) == [second]
    ended = get_job(engine=engine, job_id=second)
    assert (ended.status, ended.error.startswith("the pipeline stopped reporting")) == (
        "failed", True)


def test_a_handed_off_job_is_no_workers_and_never_reaped_as_a_dead_one(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    with receiver() as hook:
        job_id, _token = _delivered(engine, tmp_path, settings, hook)
    assert reap_expired(engine=engine, now=utcnow() + timedelta(days=2)) == []
    assert get_job(engine=engine, job_id=job_id).status == "running"
    with pytest.raises(LeaseLostError):
        report(engine=engine, job_id=job_id, worker_id="w1", stage="training", percent=1,
               lease_seconds=15)
    assert claim_next(engine=engine, worker_id="w2", lease_seconds=15) is None
    assert claim_next(engine=engine, worker_id="w2", lease_seconds=15,
                      backend="webhook") is None
