"""The fake Prometheus servers of the client tests, over HTTP and over HTTPS."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.http_stub import serving
from tests.unit.prometheus.fake_prometheus import (
    Behaviour,
    Server,
    handler,
    make_certificates,
    new_behaviour,
    vector,
)


@pytest.fixture
def server() -> Iterator[Server]:
    behaviour = new_behaviour()
    release = threading.Event()
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler(behaviour, release))) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", behaviour
        release.set()


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path, type[Behaviour]]]:
    ca, cert, key = make_certificates(tmp_path)
    behaviour = new_behaviour()
    behaviour.body = vector(({"tls": "yes"}, "1"))
    release = threading.Event()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler(behaviour, release))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    with serving(httpd):
        yield f"https://127.0.0.1:{httpd.server_address[1]}", ca, behaviour
        release.set()
