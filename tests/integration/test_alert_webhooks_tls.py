"""A notification to an https webhook: delivered when its certificate is trusted for the
address called; refused without sending anything, and not retried, when it is not."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.alerts.notify import Attempt, body_for, send_once
from tests.http_stub import serving
from tests.integration.test_alert_webhooks import SECRET, Hook
from tests.unit.alerts.test_notify_payloads import RESOLVED
from tests.unit.prometheus.fake_prometheus import make_certificates

pytestmark = pytest.mark.integration


@contextmanager
def https_hook(folder: Path) -> Iterator[tuple[Hook, Path]]:
    """A hook on loopback speaking TLS with a certificate for 127.0.0.1; and its CA."""
    ca, cert, key = make_certificates(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Hook()
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield server, ca


def send(url: str) -> Attempt:
    return send_once(url=url, body=body_for(RESOLVED, "alertmanager"), secret=SECRET,
                     allowed_hosts="127.0.0.1", timeout_s=2.0)


def test_a_trusted_certificate_delivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    with https_hook(tmp_path) as (server, ca):
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the system's trust, for this test
        attempt = send(server.url().replace("http://", "https://"))
    assert attempt == Attempt(delivered=True, http_status=200, error="", retry=False)
    assert [got.body for got in server.got] == [body_for(RESOLVED, "alertmanager")]


def test_an_untrusted_certificate_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    with https_hook(tmp_path) as (server, _):
        attempt = send(server.url().replace("http://", "https://"))
    assert (attempt.delivered, attempt.http_status, attempt.retry) == (False, None, False)
    assert attempt.error.startswith("the webhook's TLS certificate is not trusted (")
    assert server.got == []
