"""``python -m services.worker`` evaluating alert rules as a real process: a stored rule
that breaches fires, and its notification reaches a webhook receiver on loopback, signed,
recorded as delivered; the secret never reaches the log."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from db.base import utcnow
from services.alerts.rules import LabelBacklogRule
from services.settings import Settings
from tests.alert_rows import deliveries, events, state, store_rule
from tests.factories import log_predictions, make_model
from tests.integration.worker.test_process import _worker
from tests.receiver import receiver

pytestmark = pytest.mark.integration

SECRET = "a signing secret of the alert webhooks, long enough"


def test_the_running_worker_fires_a_rule_and_delivers_its_signed_notification(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    model_id, version_id = make_model(engine, name="churn")
    log_predictions(engine, model_id=model_id, version_id=version_id,
                    rows=[(utcnow() - timedelta(minutes=5), "stays", None)] * 3)
    rid = store_rule(engine, LabelBacklogRule(name="churn backlog", model="churn", size=2,
                                              resolve_size=0, severity="critical"))
    log = tmp_path / "worker.log"
    with receiver([200]) as hook, _worker(
            settings, log, OPSDASH_ALERT_WEBHOOK_URL=hook.url,
            OPSDASH_ALERT_WEBHOOK_SECRET=SECRET,
            OPSDASH_ALERT_WEBHOOK_HOSTS="127.0.0.1") as process:
        deadline = time.monotonic() + 60  # start-up imports take seconds on a busy machine
        while not (deliveries(engine) and deliveries(engine)[0].status != "queued"):
            assert process.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, log.read_text(encoding="utf-8")
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    fired = state(engine, rid)
    assert fired is not None
    assert (fired.status, fired.value) == ("firing", 3.0)
    assert [e.event for e in events(engine, rid)] == ["firing"]
    [sent] = deliveries(engine)
    assert (sent.status, sent.attempts, sent.http_status) == ("delivered", 1, 200)
    [got] = hook.received
    signed = got.headers["X-Opsdash-Timestamp"].encode() + b"." + got.body
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert got.headers["X-Opsdash-Signature"] == expected
    alert = json.loads(got.body)["alert"]
    assert (alert["rule"], alert["model"], alert["status"], alert["value"]) == (
        "churn backlog", "churn", "firing", 3.0)
    text = log.read_text(encoding="utf-8")
    assert "churn backlog" in text  # the firing is logged
    assert SECRET not in text
