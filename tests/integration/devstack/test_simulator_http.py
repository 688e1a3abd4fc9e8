"""The simulator's HTTP sender against a stub inference service on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from devstack.demo.traffic import RequestRejectedError, ServiceUnavailableError
from devstack.simulator import http_sender
from tests.http_stub import QuietHandler, serving


class StubService(ThreadingHTTPServer):
    """Answers ``POST /predict`` with the status and body the test sets."""

    status = 200
    body: Any = None
    received: list[dict[str, Any]]


class _Handler(QuietHandler):
    server: StubService

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.received.append(
            {"path": self.path, "json": json.loads(self.rfile.read(length))}
        )
        self.answer(self.server.status, json.dumps(self.server.body).encode())


@pytest.fixture
def stub() -> Iterator[StubService]:
    server = StubService(("127.0.0.1", 0), _Handler)
    server.received = []
    with serving(server):
        yield server


def _url(server: StubService) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def test_posts_the_payload_and_returns_the_answer(stub: StubService) -> None:
    stub.body = {"model": "churn", "version": 1, "prediction_id": "abc", "predicted_class": "a"}
    answer = http_sender(_url(stub))({"model": "churn", "features": {"x": 1.0}})
    assert answer["prediction_id"] == "abc"
    assert stub.received == [
        {"path": "/predict", "json": {"model": "churn", "features": {"x": 1.0}}}
    ]


def test_client_errors_are_rejections(stub: StubService) -> None:
    stub.status, stub.body = 422, {"detail": [{"field": "x", "message": "is missing"}]}
    with pytest.raises(RequestRejectedError, match="422"):
        http_sender(_url(stub))({"model": "churn", "features": {}})


def test_server_errors_mean_unavailable(stub: StubService) -> None:
    stub.status, stub.body = 503, {"detail": "no production version loaded"}
    with pytest.raises(ServiceUnavailableError, match="503"):
        http_sender(_url(stub))({"model": "churn", "features": {}})


def test_nothing_listening_means_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServiceUnavailableError, match="ConnectionError"):
        http_sender(f"http://127.0.0.1:{port}", timeout=0.5)({"model": "m", "features": {}})
