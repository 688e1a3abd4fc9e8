"""The Alertmanager body against a real Alertmanager (Debian's ``prometheus-alertmanager``):
``POST /api/v2/alerts`` takes a firing notification, lists it with our labels and
annotations, routes it to the team's receiver, and takes the resolution, after which the
alert is no longer listed and the receiver hears it resolved. A body Alertmanager refuses
is a refusal (4xx), not retried."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import free_loopback_port
from services.alerts.notify import Attempt, body_for, send_once
from tests.http_stub import serving
from tests.integration.test_alert_webhooks import SECRET, Hook
from tests.unit.alerts.test_notify_payloads import FIRING

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = [pytest.mark.integration, pytest.mark.skipif(
    BINARY is None, reason="Debian's prometheus-alertmanager is not installed (make test "
                           "installs it)")]

CONFIG = """\
route:
  receiver: team
  group_by: [alertname, model]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: team
    webhook_configs:
      - url: {url}
        send_resolved: true
"""
#: Far beyond what Alertmanager needs to start or to notify on this machine.
DEADLINE_S = 30.0


@contextmanager
def alertmanager(folder: Path, team_url: str) -> Iterator[str]:
    """A real Alertmanager on a free loopback port routing every alert to ``team_url``;
    its base URL. No cluster (it would listen on every address)."""
    (folder / "alertmanager.yml").write_text(CONFIG.format(url=team_url))
    port = free_loopback_port()
    assert BINARY is not None
    with (folder / "alertmanager.log").open("wb") as log:
        process = subprocess.Popen(
            [BINARY, f"--config.file={folder / 'alertmanager.yml'}",
             f"--storage.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--cluster.listen-address="], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _get(f"{base}/-/ready") is not None, "Alertmanager to be ready",
                  folder / "alertmanager.log")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            text = answer.read()
    except OSError:
        return None
    return json.loads(text) if text.startswith((b"[", b"{")) else text


def _wait_for(done: Callable[[], bool], what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        if time.monotonic() > deadline:
            tail = log.read_text()[-2000:] if log is not None else ""
            raise AssertionError(f"waited {DEADLINE_S:g} s for {what}\n{tail}")
        time.sleep(0.1)


def _team_heard(team: Hook) -> list[dict[str, Any]]:
    return [json.loads(got.body) for got in team.got]


def test_alertmanager_takes_the_firing_and_the_resolution_and_routes_both(
        tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    firing = replace(FIRING, at=now - timedelta(minutes=10),
                     fired_at=now - timedelta(minutes=10))
    resolved = replace(firing, event="resolved", at=now - timedelta(seconds=5),
                       resolved_at=now - timedelta(seconds=5), value=0.83)
    with serving(Hook()) as team, alertmanager(tmp_path, team.url("/team")) as base:
        allowed = base.removeprefix("http://")
        sent = send_once(url=f"{base}/api/v2/alerts", body=body_for(firing, "alertmanager"),
                         secret=SECRET, allowed_hosts=allowed, timeout_s=5)
        assert sent == Attempt(delivered=True, http_status=200, error="", retry=False)
        [listed] = _get(f"{base}/api/v2/alerts")
        assert listed["labels"] == {"alertname": "churn accuracy", "model": "churn",
                                    "severity": "critical", "rule_id": "3"}
        assert listed["annotations"]["summary"] == firing.summary
        assert listed["annotations"]["sample_size"] == "1920"
        assert listed["generatorURL"] == "https://ops.example.com/drift"
        assert listed["status"]["state"] == "active"
        assert datetime.fromisoformat(listed["startsAt"]) == firing.fired_at
        _wait_for(lambda: any(note["status"] == "firing" for note in _team_heard(team)),
                  "the team's receiver to hear the alert firing", tmp_path / "alertmanager.log")

        sent = send_once(url=f"{base}/api/v2/alerts", body=body_for(resolved, "alertmanager"),
                         secret=SECRET, allowed_hosts=allowed, timeout_s=5)
        assert sent.delivered
        assert _get(f"{base}/api/v2/alerts") == []
        _wait_for(lambda: any(note["status"] == "resolved" for note in _team_heard(team)),
                  "the team's receiver to hear the alert resolved",
                  tmp_path / "alertmanager.log")
    [heard] = [note for note in _team_heard(team) if note["status"] == "resolved"]
    assert heard["alerts"][0]["labels"]["alertname"] == "churn accuracy"
    assert datetime.fromisoformat(heard["alerts"][0]["endsAt"]) == resolved.resolved_at


def test_a_body_alertmanager_refuses_is_a_refusal_not_retried(tmp_path: Path) -> None:
    with serving(Hook()) as team, alertmanager(tmp_path, team.url("/team")) as base:
        sent = send_once(url=f"{base}/api/v2/alerts", body=b'[{"labels": {"rule_id": 3}}]',
                         secret=SECRET, allowed_hosts=base.removeprefix("http://"),
                         timeout_s=5)
    assert (sent.delivered, sent.http_status, sent.retry) == (False, 400, False)
    assert sent.error.startswith("the webhook answered HTTP 400 Bad Request")
