"""The worker's hand-off task: with the webhook backend it delivers queued jobs and ends
cancelled handed-off ones; with the local backend it is not run (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from services.retrain.jobs import cancel_job, get_job, start_retrain
from services.settings import Settings, SettingsError
from services.worker.__main__ import tasks
from services.worker.handoff import handoff_step, handoff_task
from tests.db.retrain.jobs_store import ANN, PER_CLASS, T0, T1, seed_models
from tests.receiver import receiver

SECRET = "a shared secret of the hand-off, long enough"


def test_the_worker_hands_queued_jobs_off_and_ends_cancelled_ones(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    seed_models(engine, tmp_path, ("churn", "fraud"))
    ids = [start_retrain(engine=engine, actor=ANN, model=m, start=T0, end=T1, preset="same",
                         min_per_class=PER_CLASS, backend="webhook").id
           for m in ("churn", "fraud")]
    with receiver() as hook:
        hooked = settings.replace(retrain_backend="webhook", retrain_webhook_url=hook.url,
                                  retrain_webhook_secret=SECRET)
        handoff_step(engine=engine, settings=hooked, worker_id="w1")
        assert sorted(json.loads(r.body)["job_id"] for r in hook.received) == ids
        assert [get_job(engine=engine, job_id=i).stage for i in ids] == ["handed off"] * 2
        cancel_job(engine=engine, actor=ANN, job_id=ids[0])
        handoff_step(engine=engine, settings=hooked, worker_id="w1")
        assert len(hook.received) == 2
    assert [get_job(engine=engine, job_id=i).status for i in ids] == ["cancelled", "running"]


def test_only_the_webhook_backend_runs_the_hand_off(engine: Engine, settings: Settings) -> None:
    hooked = settings.replace(retrain_backend="webhook",
                              retrain_webhook_url="http://127.0.0.1:9/hook",
                              retrain_webhook_secret=SECRET)
    assert handoff_task(engine=engine, settings=settings) == []
    assert [t.name for t in handoff_task(engine=engine, settings=hooked)] == ["retrain hand-off"]
    assert "retrain hand-off" in [t.name for t in tasks(engine=engine, settings=hooked)]
    assert "retrain hand-off" not in [t.name for t in tasks(engine=engine, settings=settings)]


def test_malformed_webhook_headers_stop_the_worker_at_start_without_their_value(
        engine: Engine, settings: Settings) -> None:
    hooked = settings.replace(retrain_backend="webhook",
                              retrain_webhook_url="http://127.0.0.1:9/hook",
                              retrain_webhook_secret=SECRET,
                              retrain_webhook_headers="Authorization=Bearer hunter2\nX: y")
    with pytest.raises(SettingsError) as caught:
        handoff_task(engine=engine, settings=hooked)
    assert str(caught.value) == ("OPSDASH_RETRAIN_WEBHOOK_HEADERS: the value of "
                                 "Authorization holds a line break")
