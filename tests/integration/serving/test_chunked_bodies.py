"""Chunked bodies (``Transfer-Encoding: chunked``, no ``Content-Length``) against the real
service process: one byte over an endpoint's limit is a 413, exactly the limit is read."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from devstack.processes import free_loopback_port
from services.serving import feedback
from services.serving.payload import MAX_BODY_BYTES
from services.settings import PROJECT_ROOT, Settings
from tests.factories import log_predictions, make_model
from tests.serving_models import GOOD, register_model

# The body limits do not depend on the store: SQLite is enough.
pytestmark = [pytest.mark.integration, pytest.mark.sqlite_only]

TOKEN = "a-feedback-token-of-some-length"
CHUNK = 64 * 1024


@pytest.fixture
def service(engine: Engine, settings: Settings) -> Iterator[int]:
    """The service as ``python -m services.serving`` on a free loopback port; yields the port."""
    register_model(engine, folder=Path(settings.var_dir) / "artifacts")
    port = free_loopback_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSDASH_")}
    env.update({"OPSDASH_VAR_DIR": settings.var_dir, "PYTHONPATH": str(PROJECT_ROOT),
                "OPSDASH_DATABASE_URL": settings.database_url,
                "OPSDASH_FEEDBACK_TOKEN": TOKEN})
    process = subprocess.Popen(
        [sys.executable, "-m", "services.serving", "--port", str(port), "--log-level", "warning"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_healthy(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def _wait_healthy(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the service did not become healthy"
        time.sleep(0.1)


def _post_chunked(port: int, path: str, body: bytes, method: str = "POST"
                  ) -> tuple[int, dict[str, str], bytes]:
    """Send ``body`` in 64 KiB chunks with no Content-Length; the status, headers and body
    of the answer (read even when the server closed before taking all we sent)."""
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            f"Authorization: Bearer {TOKEN}\r\n\r\n").encode()
    pieces = [body[i:i + CHUNK] for i in range(0, len(body), CHUNK)]
    framed = [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces]
    framed[-1] += b"0\r\n\r\n"  # the last piece and the end in one write
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            sock.sendall(head)
            for data in framed:
                sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the answer came before the whole body; it is still in our buffer
        answer = _read_answer(sock)
    status_line, _, rest = answer.partition(b"\r\n")
    header_block, _, content = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in header_block.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, content


def _read_answer(sock: socket.socket) -> bytes:
    """Everything up to the end of one answer with a Content-Length (or the connection)."""
    data = b""
    while True:
        head, sep, content = data.partition(b"\r\n\r\n")
        if sep:
            length = [line.split(b":", 1)[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")]
            if length and len(content) >= int(length[0]):
                return data
        try:
            more = sock.recv(65536)
        except ConnectionResetError:
            more = b""
        if not more:
            return data
        data += more


def _padded(document: object, size: int) -> bytes:
    """``document`` as JSON followed by spaces, ``size`` bytes in all."""
    text = json.dumps(document).encode()
    return text + b" " * (size - len(text))


def _validation_errors(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
               if line.startswith("opsdash_prediction_errors_total{")
               and 'reason="validation"' in line)


def test_predict_refuses_a_chunked_body_one_byte_over_the_limit_and_reads_the_limit(
    service: int,
) -> None:
    document = {"model": "churn", "features": GOOD}

    over = _post_chunked(service, "/predict", _padded(document, MAX_BODY_BYTES + 1))
    exact = _post_chunked(service, "/predict", _padded(document, MAX_BODY_BYTES))

    status, headers, content = over
    assert status == 413
    assert json.loads(content) == {"detail": f"request body larger than {MAX_BODY_BYTES} bytes"}
    assert headers["connection"] == "close"
    assert _validation_errors(service) == 1
    status, _, content = exact
    assert status == 200, content
    assert json.loads(content)["model"] == "churn"


def test_a_get_with_a_chunked_body_is_answered_without_reading_it(service: int) -> None:
    status, headers, content = _post_chunked(service, "/healthz", b" " * (4 * MAX_BODY_BYTES),
                                             method="GET")

    assert status == 200
    assert json.loads(content)["status"] == "ok"
    assert headers["connection"] == "close"  # the rest of the body is not read


@pytest.fixture
def prediction_id(engine: Engine) -> str:
    model_id, version_id = make_model(engine, name="tickets", production=False)
    [pid] = log_predictions(engine, model_id=model_id, version_id=version_id,
                            rows=[(datetime(2026, 11, 1, tzinfo=UTC), "stays", None)])
    return pid


def test_feedback_refuses_a_chunked_body_one_byte_over_the_limit_and_reads_the_limit(
    service: int, prediction_id: str
) -> None:
    document = {"prediction_id": prediction_id, "label": "stays"}

    over = _post_chunked(service, "/feedback", _padded(document, feedback.MAX_BODY_BYTES + 1))
    exact = _post_chunked(service, "/feedback", _padded(document, feedback.MAX_BODY_BYTES))

    status, headers, _ = over
    assert status == 413
    assert headers["connection"] == "close"
    status, _, content = exact
    assert status == 200, content
    assert json.loads(content) == {"saved": 1, "unchanged": 0, "replaced": 0}
