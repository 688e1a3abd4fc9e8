"""The Prometheus client fails once, quickly, with a message naming the URL.

A tiny HTTP server on loopback plays a misbehaving Prometheus; this is the boundary,
so it is the one place a fake server is right.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from services.prometheus import MetricsSourceError, PrometheusSource
from tests.http_stub import QuietHandler, serving


class _Behaviour:
    status = 200
    body = b""
    content_type = "application/json"
    hang = False
    requests = 0


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Behaviour]]]:
    behaviour = type("B", (_Behaviour,), {})
    release = threading.Event()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            behaviour.requests += 1
            if behaviour.hang:
                release.wait(10)
                return
            self.answer(behaviour.status, behaviour.body, behaviour.content_type)

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", behaviour
        release.set()


def _vector(*series: tuple[dict[str, str], str]) -> bytes:
    result = [{"metric": m, "value": [1700000000, v]} for m, v in series]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}
                      ).encode()


def test_samples_are_parsed(server: tuple[str, type[_Behaviour]]) -> None:
    url, b = server
    b.body = _vector(({"model": "churn"}, "2.5"), ({"model": "tickets"}, "0.5"))
    samples = PrometheusSource(url, timeout=2).instant("x")
    assert {s.labels["model"]: s.value for s in samples} == {"churn": 2.5, "tickets": 0.5}


def test_an_empty_result_is_no_samples_not_an_error(server: tuple[str, type[_Behaviour]]) -> None:
    url, b = server
    b.body = _vector()
    assert PrometheusSource(url, timeout=2).instant("x") == []


def test_refused_connection_names_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(MetricsSourceError, match=f"Prometheus at {url} is unavailable: connection"):
        PrometheusSource(url, timeout=1).instant("up")


def test_a_hung_server_times_out_after_one_request(server: tuple[str, type[_Behaviour]]) -> None:
    url, b = server
    b.hang = True
    with pytest.raises(MetricsSourceError, match=r"no answer within 0\.3 s"):
        PrometheusSource(url, timeout=0.3).instant("up")
    assert b.requests == 1


def test_http_503_is_reported_without_retrying(server: tuple[str, type[_Behaviour]]) -> None:
    url, b = server
    b.status, b.body = 503, b"Service Unavailable"
    with pytest.raises(MetricsSourceError, match="503"):
        PrometheusSource(url, timeout=1).instant("up")
    assert b.requests == 1


def test_an_html_proxy_page_is_not_mistaken_for_data(server: tuple[str, type[_Behaviour]]) -> None:
    url, b = server
    b.content_type, b.body = "text/html", b"<html><body>Sign in to the proxy</body></html>"
    with pytest.raises(MetricsSourceError, match="not Prometheus JSON"):
        PrometheusSource(url, timeout=1).instant("up")
