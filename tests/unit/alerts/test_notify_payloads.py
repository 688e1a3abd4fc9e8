"""Notification bodies, their signature and the retry waits, against hand-written
expectations: our JSON (every key present, null when unknown) and Alertmanager's
``POST /api/v2/alerts`` list (string labels and annotations, endsAt only when resolved)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from services.alerts.notify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Notification,
    alertmanager_payload,
    body_for,
    retry_delay,
    sign,
)
from services.settings import PROJECT_ROOT

FIRING = Notification(
    event_id=41, rule_id=3, rule_name="churn accuracy", model="churn",
    kind="quality_below", severity="critical", event="firing",
    at=datetime(2026, 12, 7, 9, 30, 0, 250_000, tzinfo=UTC),
    fired_at=datetime(2026, 12, 7, 9, 30, 0, 250_000, tzinfo=UTC), resolved_at=None,
    value=0.64, lower=0.618, upper=0.661, sample_size=1920,
    summary="churn accuracy 64 % < 75 % (1,920 labels)",
    link="https://ops.example.com/drift")
RESOLVED = replace(
    FIRING, event_id=52, event="resolved",
    at=datetime(2026, 12, 8, 11, 0, tzinfo=timezone(timedelta(hours=1))),
    resolved_at=datetime(2026, 12, 8, 11, 0, tzinfo=timezone(timedelta(hours=1))),
    value=0.83, lower=0.81, upper=0.85, sample_size=2210,
    summary="churn accuracy 83 % ≥ 80 % (2,210 labels)")
BARE = Notification(
    event_id=7, rule_id=9, rule_name="churn traffic", model="churn",
    kind="traffic_stopped", severity="warning", event="firing",
    at=datetime(2026, 12, 7, 23, 59, 59), fired_at=datetime(2026, 12, 7, 23, 59, 59),
    resolved_at=None, value=None, lower=None, upper=None, sample_size=None,
    summary="churn: no prediction for 15 min")


def test_our_json_when_firing() -> None:
    assert json.loads(body_for(FIRING, "json")) == {
        "version": 1, "status": "firing",
        "alert": {
            "event_id": 41, "rule_id": 3, "rule": "churn accuracy", "model": "churn",
            "kind": "quality_below", "severity": "critical", "status": "firing",
            "value": 0.64, "interval": {"lower": 0.618, "upper": 0.661},
            "sample_size": 1920, "summary": "churn accuracy 64 % < 75 % (1,920 labels)",
            "at": "2026-12-07T09:30:00Z", "fired_at": "2026-12-07T09:30:00Z",
            "resolved_at": None, "link": "https://ops.example.com/drift"}}


def test_our_json_when_resolved_gives_every_time_in_utc() -> None:
    alert = json.loads(body_for(RESOLVED, "json"))["alert"]
    assert json.loads(body_for(RESOLVED, "json"))["status"] == "resolved"
    assert (alert["status"], alert["at"], alert["fired_at"], alert["resolved_at"]) == (
        "resolved", "2026-12-08T10:00:00Z", "2026-12-07T09:30:00Z", "2026-12-08T10:00:00Z")
    assert (alert["value"], alert["interval"], alert["sample_size"]) == (
        0.83, {"lower": 0.81, "upper": 0.85}, 2210)


def test_our_json_keeps_every_key_when_figures_are_missing() -> None:
    assert json.loads(body_for(BARE, "json")) == {
        "version": 1, "status": "firing",
        "alert": {
            "event_id": 7, "rule_id": 9, "rule": "churn traffic", "model": "churn",
            "kind": "traffic_stopped", "severity": "warning", "status": "firing",
            "value": None, "interval": {"lower": None, "upper": None},
            "sample_size": None, "summary": "churn: no prediction for 15 min",
            "at": "2026-12-07T23:59:59Z", "fired_at": "2026-12-07T23:59:59Z",
            "resolved_at": None, "link": None}}


def test_a_figure_that_is_not_a_number_is_null_never_nan() -> None:
    body = body_for(replace(FIRING, value=float("nan"), upper=float("inf")), "json")
    assert b"NaN" not in body
    assert b"Infinity" not in body
    assert json.loads(body)["alert"]["value"] is None
    assert json.loads(body)["alert"]["interval"] == {"lower": 0.618, "upper": None}


def test_alertmanager_when_firing_has_no_end() -> None:
    assert json.loads(body_for(FIRING, "alertmanager")) == [{
        "labels": {"alertname": "churn accuracy", "model": "churn", "severity": "critical",
                   "rule_id": "3"},
        "annotations": {"summary": "churn accuracy 64 % < 75 % (1,920 labels)",
                        "value": "0.64", "lower": "0.618", "upper": "0.661",
                        "sample_size": "1920"},
        "startsAt": "2026-12-07T09:30:00Z",
        "generatorURL": "https://ops.example.com/drift"}]


def test_alertmanager_when_resolved_ends_at_the_resolution_with_the_same_labels() -> None:
    [firing] = json.loads(body_for(FIRING, "alertmanager"))
    [resolved] = json.loads(body_for(RESOLVED, "alertmanager"))
    assert resolved["labels"] == firing["labels"]  # the same alert in Alertmanager
    assert (resolved["startsAt"], resolved["endsAt"]) == (
        "2026-12-07T09:30:00Z", "2026-12-08T10:00:00Z")
    assert resolved["annotations"]["summary"] == "churn accuracy 83 % ≥ 80 % (2,210 labels)"


def test_alertmanager_leaves_out_what_is_unknown_and_holds_strings_only() -> None:
    [alert] = json.loads(body_for(BARE, "alertmanager"))
    assert alert == {
        "labels": {"alertname": "churn traffic", "model": "churn", "severity": "warning",
                   "rule_id": "9"},
        "annotations": {"summary": "churn: no prediction for 15 min"},
        "startsAt": "2026-12-07T23:59:59Z"}
    for section in ("labels", "annotations"):
        assert all(isinstance(text, str) for text in alert[section].values())


def test_alertmanager_never_ends_an_alert_before_it_started() -> None:
    early = replace(RESOLVED, resolved_at=FIRING.fired_at - timedelta(seconds=5))
    [alert] = json.loads(body_for(early, "alertmanager"))
    assert alert["endsAt"] == alert["startsAt"] == "2026-12-07T09:30:00Z"


def test_the_body_is_utf8_json_and_other_formats_are_refused() -> None:
    assert "≥".encode() in body_for(RESOLVED, "alertmanager")
    with pytest.raises(ValueError, match="webhook format: 'xml' is not one of json, "
                                         "alertmanager"):
        body_for(FIRING, "xml")


def test_the_signature_is_an_hmac_of_the_timestamp_a_dot_and_the_exact_body() -> None:
    secret = "quiet harbour lantern 12 and a long signing key"
    body = body_for(FIRING, "json")
    expected = hmac.new(secret.encode(), b"1765186200." + body, hashlib.sha256).hexdigest()
    assert sign(body, secret, timestamp=1765186200) == f"sha256={expected}"
    assert sign(body, secret, timestamp=1765186201) != f"sha256={expected}"
    assert sign(body + b" ", secret, timestamp=1765186200) != f"sha256={expected}"
    assert sign(body, secret + "x", timestamp=1765186200) != f"sha256={expected}"


@pytest.mark.parametrize(("attempts", "seconds"), [
    (1, 10), (2, 20), (3, 40), (4, 80), (5, 160), (6, 300), (7, 300), (10, 300),
    (1000, 300), (0, 10)])
def test_retries_wait_10_s_doubling_to_at_most_5_minutes(attempts: int, seconds: int) -> None:
    assert retry_delay(attempts) == timedelta(seconds=seconds)


def _documented_check() -> Callable[..., bool]:
    """The receiver's check as docs/alerts.md shows it, run as written."""
    text = (PROJECT_ROOT / "docs" / "alerts.md").read_text()
    section = text[text.index("### Signature, and how a receiver checks it"):]
    code = section[section.index("```python\n") + 10:]
    namespace: dict[str, Any] = {}
    exec(code[:code.index("```")], namespace)  # noqa: S102 (our own documentation)
    check: Callable[..., bool] = namespace["verified"]
    return check


def test_the_documented_check_accepts_a_fresh_signature_and_nothing_else() -> None:
    verified = _documented_check()
    secret = "quiet harbour lantern 12 and a long signing key"
    body = body_for(FIRING, "alertmanager")
    now = int(time.time())

    def headers(stamp: int, signed: bytes = body) -> dict[str, str]:
        return {TIMESTAMP_HEADER: str(stamp),
                SIGNATURE_HEADER: sign(signed, secret, timestamp=stamp)}

    assert verified(headers(now), body, secret)
    assert not verified(headers(now - 3600), body, secret)  # replayed an hour later
    assert not verified(headers(now), body + b" ", secret)  # body changed
    assert not verified({**headers(now), TIMESTAMP_HEADER: str(now + 1)}, body, secret)
    assert not verified(headers(now), body, secret + "x")


def test_the_documented_bodies_are_what_is_sent() -> None:
    text = (PROJECT_ROOT / "docs" / "alerts.md").read_text()
    section = text[text.index("### Bodies"):text.index("### Signature")]
    ours, alertmanager = (json.loads(block.split("```")[0])
                          for block in section.split("```json\n")[1:])
    assert ours == json.loads(body_for(FIRING, "json"))
    assert alertmanager == json.loads(body_for(FIRING, "alertmanager"))


def test_a_firing_alertmanager_body_expires_an_hour_after_it_is_sent() -> None:
    fired = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
    note = Notification(event_id=1, rule_id=2, rule_name="b", model="churn",
                        kind="label_backlog_above", severity="warning", event="firing",
                        at=fired, fired_at=fired, resolved_at=None, value=2.0, lower=None,
                        upper=None, sample_size=None, summary="churn label backlog 2 > 1",
                        expires_at=fired + timedelta(hours=1, minutes=20))
    assert alertmanager_payload(note)[0]["endsAt"] == "2026-12-08T02:20:00Z"
