"""One notification attempt against real receivers on loopback: up (the body and its
signature arrive as sent), slow, trickling, down, answering 5xx, 429, 4xx or a redirect
(never followed), refused by the allow-list, or without a secret. Every attempt ends
within about its timeout and never raises."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from services.alerts.notify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Attempt,
    body_for,
    send_once,
)
from tests.http_stub import QuietHandler, serving
from tests.receiver import closed_port_url
from tests.unit.alerts.test_notify_payloads import FIRING

pytestmark = pytest.mark.integration

SECRET = "quiet harbour lantern 12 signs every alert"
ALLOWED = "127.0.0.1"
#: The attempts' timeout; where a test waits for it to run out, SHORT_S.
TIMEOUT_S = 5.0
SHORT_S = 1.0
#: Beyond the timeout, far more than an attempt needs to end, even on a busy machine.
SLACK_S = 2.0


@dataclass
class Behaviour:
    """How the hook answers: a status (with a Location for redirects), after waiting for
    ``release`` when ``hold`` is set, or trickling its answer a byte at a time."""

    status: int = 200
    answer: bytes = b'{"status": "success"}'
    location: str = ""
    hold: bool = False
    trickle: bool = False
    endless: bool = False
    release: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Got:
    path: str
    headers: dict[str, str]
    body: bytes


class Hook(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour or Behaviour()
        self.got: list[Got] = []

    def url(self, path: str = "/hooks/alerts") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(QuietHandler):
    server: Hook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.got.append(Got(self.path, dict(self.headers.items()), body))
        how = self.server.behaviour
        try:
            if how.hold:
                how.release.wait(30)
            if how.trickle:
                self._trickle(how.release)
            elif how.endless:
                self._endless(how.release)
            else:
                self._answer(how)
        except OSError:
            pass  # the client hung up, as it should once its time is up

    def _answer(self, how: Behaviour) -> None:
        self.send_response(how.status)
        if how.location:
            self.send_header("Location", how.location)
        self.send_header("Content-Length", str(len(how.answer)))
        self.end_headers()
        self.wfile.write(how.answer)

    def _trickle(self, release: threading.Event) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        while not release.is_set():  # a header that never ends, a byte every 0.2 s
            self.wfile.write(b"X")
            self.wfile.flush()
            release.wait(0.2)

    def _endless(self, release: threading.Event) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        while not release.is_set():
            self.wfile.write(b"x" * 65536)


@contextmanager
def hook(behaviour: Behaviour | None = None) -> Iterator[Hook]:
    how = behaviour or Behaviour()
    try:
        with serving(Hook(how)) as server:
            yield server
    finally:
        how.release.set()


def send(url: str, *, secret: str = SECRET, allowed: str = ALLOWED,
         timeout_s: float = TIMEOUT_S) -> tuple[Attempt, float]:
    """One attempt with the firing notification's JSON body, and how long it took."""
    started = time.monotonic()
    attempt = send_once(url=url, body=body_for(FIRING, "json"), secret=secret,
                        allowed_hosts=allowed, timeout_s=timeout_s)
    return attempt, time.monotonic() - started


def test_an_answering_hook_gets_the_body_and_a_signature_it_can_verify() -> None:
    with hook() as server:
        attempt, _ = send(server.url("/hooks/alerts?team=ml"))
    assert attempt == Attempt(delivered=True, http_status=200, error="", retry=False)
    [got] = server.got
    assert got.path == "/hooks/alerts?team=ml"
    assert got.body == body_for(FIRING, "json")
    assert got.headers["Content-Type"] == "application/json"
    stamp = got.headers[TIMESTAMP_HEADER]
    assert abs(int(stamp) - time.time()) < 60
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + got.body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers[SIGNATURE_HEADER], f"sha256={expected}")


@pytest.mark.parametrize(("status", "answer"), [(201, b"{}"), (202, b"queued"), (204, b"")])
def test_any_2xx_answer_is_a_delivery(status: int, answer: bytes) -> None:
    with hook(Behaviour(status=status, answer=answer)) as server:
        attempt, _ = send(server.url())
    assert attempt == Attempt(delivered=True, http_status=status, error="", retry=False)
    assert len(server.got) == 1


def test_a_path_beyond_ascii_is_sent_percent_encoded() -> None:
    with hook() as server:
        attempt, _ = send(server.url("/hooks/équipe ml?to=ops%20team"))
    assert attempt.delivered
    assert [got.path for got in server.got] == ["/hooks/%C3%A9quipe%20ml?to=ops%20team"]


def test_a_hook_slower_than_the_timeout_is_a_timeout_worth_retrying() -> None:
    with hook(Behaviour(hold=True)) as server:
        attempt, took = send(server.url(), timeout_s=SHORT_S)
    assert attempt == Attempt(delivered=False, http_status=None,
                              error="the webhook did not answer within 1 s", retry=True)
    assert took < SHORT_S + SLACK_S
    assert len(server.got) == 1


def test_a_hook_answering_a_byte_at_a_time_is_cut_at_the_timeout() -> None:
    with hook(Behaviour(trickle=True)) as server:
        attempt, took = send(server.url(), timeout_s=SHORT_S)
    assert attempt == Attempt(delivered=False, http_status=None,
                              error="the webhook did not answer within 1 s", retry=True)
    assert took < SHORT_S + SLACK_S


def test_a_host_name_resolved_too_late_is_a_timeout_and_never_receives_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    resolve = socket.getaddrinfo

    def slow_resolver(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.slow.test":  # a name server that takes its time
            time.sleep(SHORT_S + SLACK_S + 0.5)
            host = "127.0.0.1"
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_resolver)
    with hook() as server:
        url = server.url().replace("127.0.0.1", "hooks.slow.test")
        attempt, took = send(url, allowed="hooks.slow.test", timeout_s=SHORT_S)
        assert attempt == Attempt(delivered=False, http_status=None,
                                  error="the webhook did not answer within 1 s", retry=True)
        assert took < SHORT_S + SLACK_S
        _wait_until(lambda: not any(thread.name == "alert-webhook"
                                    for thread in threading.enumerate()))
    assert server.got == []


def _wait_until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not done():
        assert time.monotonic() < deadline, "waited 30 s"
        time.sleep(0.05)


def test_an_endless_answer_is_read_no_further_than_its_start() -> None:
    with hook(Behaviour(endless=True)) as server:
        attempt, took = send(server.url())
    assert attempt == Attempt(delivered=True, http_status=200, error="", retry=False)
    assert took < TIMEOUT_S  # it stopped reading: the timeout never had to cut it


def test_a_hook_that_is_down_is_worth_retrying() -> None:
    attempt, took = send(closed_port_url())
    assert attempt == Attempt(delivered=False, http_status=None,
                              error="the webhook cannot be reached (Connection refused)",
                              retry=True)
    assert took < TIMEOUT_S


@pytest.mark.parametrize(("status", "reason", "retry"), [
    (500, "Internal Server Error", True), (502, "Bad Gateway", True),
    (503, "Service Unavailable", True), (429, "Too Many Requests", True),
    (408, "Request Timeout", True), (400, "Bad Request", False),
    (401, "Unauthorized", False), (404, "Not Found", False)])
def test_an_error_answer_is_retried_only_when_asking_again_may_help(
        status: int, reason: str, retry: bool) -> None:
    with hook(Behaviour(status=status, answer=b'{"error":\n  "bad input"}')) as server:
        attempt, _ = send(server.url())
    assert attempt == Attempt(
        delivered=False, http_status=status, retry=retry,
        error=f'the webhook answered HTTP {status} {reason}: {{"error": "bad input"}}')
    assert len(server.got) == 1


def test_only_the_start_of_a_long_error_answer_is_kept_on_one_line() -> None:
    with hook(Behaviour(status=400, answer=b"line\n" * 5000)) as server:
        attempt, _ = send(server.url())
    assert "\n" not in attempt.error
    assert attempt.error.startswith("the webhook answered HTTP 400 Bad Request: line line")
    assert len(attempt.error) < 300


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failure_never_followed_nor_retried(status: int) -> None:
    with hook() as elsewhere, hook(Behaviour(status=status,
                                             location=elsewhere.url("/internal"))) as server:
        attempt, _ = send(server.url(), allowed="127.0.0.1")
    assert attempt == Attempt(
        delivered=False, http_status=status, retry=False,
        error=f"the webhook answered with a redirect, which is never followed (HTTP {status})")
    assert len(server.got) == 1
    assert elsewhere.got == []


def test_a_target_off_the_allow_list_is_never_called() -> None:
    with hook() as server:
        attempt, _ = send(server.url(), allowed="localhost, hooks.example.com")
    assert attempt == Attempt(
        delivered=False, http_status=None, retry=False,
        error="webhook: host '127.0.0.1' is not in OPSDASH_ALERT_WEBHOOK_HOSTS")
    assert server.got == []


def test_without_a_secret_nothing_is_sent_and_the_error_says_what_to_set() -> None:
    with hook() as server:
        attempt, _ = send(server.url(), secret="")
    assert (attempt.delivered, attempt.http_status, attempt.retry) == (False, None, False)
    assert "set OPSDASH_ALERT_WEBHOOK_SECRET" in attempt.error
    assert server.got == []
