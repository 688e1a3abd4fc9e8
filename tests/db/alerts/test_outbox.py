"""The outbox against a webhook receiver on loopback, on both engines: a notification is
delivered signed, retried with back-off after a failure that may pass, given up after the
configured attempts or at once after a refusal, and never sent twice by two senders."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import alert_runs
from db.session import session_scope
from services.alerts.evaluate import evaluate_due
from services.alerts.notify import retry_delay
from services.alerts.outbox import deliver_due
from services.alerts.rules import LabelBacklogRule
from services.settings import Settings
from tests.alert_rows import deliveries, events, label, store_rule
from tests.factories import log_predictions, make_model
from tests.receiver import closed_port_url, receiver

SECRET = "a signing secret of the alert webhooks, long enough"


def _start() -> datetime:
    return utcnow().replace(microsecond=0) - timedelta(hours=1)


def _hooked(settings: Settings, url: str, *, fmt: str = "json",
            attempts: int = 4) -> Settings:
    return settings.model_copy(update={
        "alert_webhook_url": url, "alert_webhook_format": fmt,
        "alert_webhook_secret": SECRET, "alert_webhook_hosts": "127.0.0.1",
        "alert_webhook_attempts": attempts, "alert_webhook_timeout_seconds": 2.0})


def _firing(engine: Engine, settings: Settings, t0: datetime, rules: int = 1) -> list[str]:
    """``rules`` backlog rules on churn, all firing at ``t0`` (one delivery each);
    returns the waiting predictions' ids."""
    model_id, version_id = make_model(engine, name="churn")
    ids = log_predictions(engine, model_id=model_id, version_id=version_id,
                          rows=[(t0 - timedelta(minutes=5), "stays", None)] * 3)
    for n in range(rules):
        store_rule(engine, LabelBacklogRule(name=f"churn backlog {n}", model="churn", size=2,
                                            resolve_size=0, severity="critical"))
    result = evaluate_due(engine=engine, settings=settings, holder="w", now=t0)
    assert [o.event for o in result.outcomes] == ["firing"] * rules
    return ids


def _signature_ok(headers: dict[str, str], body: bytes) -> bool:
    signed = headers["X-Opsdash-Timestamp"].encode() + b"." + body
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Opsdash-Signature"], expected)


def test_a_firing_and_a_resolved_event_are_delivered_signed(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    with receiver([200]) as hook:
        hooked = _hooked(settings, hook.url, fmt="alertmanager")
        ids = _firing(engine, hooked, t0)
        assert deliver_due(engine=engine, settings=hooked, now=t0) == 1
        label(engine, ids, "stays", t0)
        resolved_at = t0 + timedelta(minutes=1)
        evaluate_due(engine=engine, settings=hooked, holder="w", now=resolved_at)
        assert deliver_due(engine=engine, settings=hooked, now=resolved_at) == 1
        assert deliver_due(engine=engine, settings=hooked, now=resolved_at) == 0
    assert [(d.status, d.attempts, d.http_status, d.error) for d in deliveries(engine)] == [
        ("delivered", 1, 200, ""), ("delivered", 1, 200, "")]
    assert all(_signature_ok(got.headers, got.body) for got in hook.received)
    firing, resolved = (json.loads(got.body)[0] for got in hook.received)
    assert firing["labels"]["alertname"] == "churn backlog 0"
    assert firing["labels"]["severity"] == "critical"
    assert "endsAt" not in firing or not firing["endsAt"]
    # The resolved notification says when the firing began and when it ended.
    assert resolved["startsAt"] == firing["startsAt"]
    assert resolved["endsAt"].startswith(f"{resolved_at:%Y-%m-%dT%H:%M:%S}")


def test_a_failure_that_may_pass_is_retried_after_the_back_off(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    with receiver([503, 200]) as hook:
        hooked = _hooked(settings, hook.url)
        _firing(engine, hooked, t0)
        assert deliver_due(engine=engine, settings=hooked, now=t0) == 1
        [waiting] = deliveries(engine)
        assert (waiting.status, waiting.attempts, waiting.http_status) == ("queued", 1, 503)
        assert waiting.error
        assert waiting.next_attempt_at == t0 + retry_delay(1)
        early = t0 + retry_delay(1) - timedelta(seconds=1)
        assert deliver_due(engine=engine, settings=hooked, now=early) == 0
        assert deliver_due(engine=engine, settings=hooked, now=t0 + retry_delay(1)) == 1
    [done] = deliveries(engine)
    assert (done.status, done.attempts, done.http_status, done.error) == (
        "delivered", 2, 200, "")
    assert len(hook.received) == 2
    assert hook.received[0].body == hook.received[1].body


def test_a_receiver_that_stays_down_is_given_up_after_the_attempts(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    hooked = _hooked(settings, closed_port_url(), attempts=3)
    _firing(engine, hooked, t0)
    at = t0
    for attempt in (1, 2, 3):
        assert deliver_due(engine=engine, settings=hooked, now=at) == 1
        [row] = deliveries(engine)
        assert row.attempts == attempt
        at += retry_delay(attempt)
    assert (row.status, row.http_status, row.finished_at) == ("failed", None, t0 + timedelta(
        seconds=(retry_delay(1) + retry_delay(2)).total_seconds()))
    assert row.error
    assert "\n" not in row.error
    assert deliver_due(engine=engine, settings=hooked, now=at + timedelta(hours=1)) == 0


def test_a_refusal_or_a_missing_secret_is_not_retried(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    with receiver([400]) as hook:
        hooked = _hooked(settings, hook.url)
        _firing(engine, hooked, t0)
        assert deliver_due(engine=engine, settings=hooked, now=t0) == 1
        [refused] = deliveries(engine)
        assert (refused.status, refused.attempts, refused.http_status) == ("failed", 1, 400)
        unsigned = hooked.model_copy(update={"alert_webhook_secret": ""})
        rid = store_rule(engine, LabelBacklogRule(name="other", model="churn", size=2,
                                                  resolve_size=0))
        evaluate_due(engine=engine, settings=unsigned, holder="w", now=t0)
        assert [e.event for e in events(engine, rid)] == ["firing"]
        assert deliver_due(engine=engine, settings=unsigned, now=t0) == 1
    assert len(hook.received) == 1  # nothing sent without a secret
    unsent = deliveries(engine)[-1]
    assert (unsent.status, unsent.attempts) == ("failed", 1)
    assert "SECRET" in unsent.error


def test_two_senders_never_send_one_notification_twice(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    with receiver([200]) as hook:
        hooked = _hooked(settings, hook.url)
        _firing(engine, hooked, t0, rules=6)
        start = threading.Barrier(3)
        counts: list[int] = []

        def send() -> None:
            start.wait()
            counts.append(deliver_due(engine=engine, settings=hooked, now=t0))

        senders = [threading.Thread(target=send) for _ in range(3)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(timeout=60)
    assert sum(counts) == 6
    sent = Counter(json.loads(got.body)["alert"]["rule"] for got in hook.received)
    assert sent == {f"churn backlog {n}": 1 for n in range(6)}
    assert [d.status for d in deliveries(engine)] == ["delivered"] * 6


def test_a_delivery_whose_sender_died_mid_attempt_is_sent_once_its_hold_runs_out(
        engine: Engine, settings: Settings) -> None:
    t0 = _start()
    with receiver([200]) as hook:
        hooked = _hooked(settings, hook.url)
        _firing(engine, hooked, t0)
        [queued] = deliveries(engine)
        hold = t0 + timedelta(seconds=90)
        with session_scope(engine, write=True) as session:  # a sender takes it, then dies
            assert alert_runs.claim_delivery(session=session, delivery_id=queued.id,
                                             now=t0, until=hold) == 1
        assert deliver_due(engine=engine, settings=hooked, now=hold - timedelta(seconds=1)) == 0
        assert hook.received == []
        assert deliver_due(engine=engine, settings=hooked, now=hold) == 1
    [done] = deliveries(engine)
    assert (done.status, done.attempts) == ("delivered", 2)
    assert len(hook.received) == 1
