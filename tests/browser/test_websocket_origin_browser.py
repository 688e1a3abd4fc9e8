"""A page on another port of 127.0.0.1 cannot use the signed-in admin's dashboard session.

Chromium holds the admin's SameSite=Strict sign-in cookie and sends it with a websocket
that a page of any port of 127.0.0.1 opens to the dashboard (same-site ignores the port).
The same probe, speaking Streamlit's protocol to ask for the Users page, runs from the
dashboard's own page (where it must get the admin's page: the positive control that lets
this test fail) and from an attacker's page served by another loopback server (where the
stream must be refused or anonymous).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.signin import launch, sign_in
from tests.stream_client import (
    ADMIN,
    ADMIN_SEES,
    ANONYMOUS_SEES,
    PASSWORD,
    RUN_DEADLINE_S,
    STREAM_PATH,
    finished,
    rerun_message,
    running_dashboard,
)

pytestmark = pytest.mark.browser

# Opens the dashboard's stream as Streamlit's own client does, asks for the Users page and
# keeps every frame (base64) in window.probe for the test to read.
PROBE = """([url, rerun]) => {
  const probe = {opened: false, closed: false, frames: []};
  window.probe = probe;
  const ws = new WebSocket(url, ["streamlit"]);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { probe.opened = true; ws.send(new Uint8Array(rerun)); };
  ws.onmessage = (event) => {
    const bytes = new Uint8Array(event.data);
    let text = "";
    for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    probe.frames.push(btoa(text));
  };
  ws.onclose = () => { probe.closed = true; };
}"""


class _AttackerPage(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_dashboard(tmp_path_factory.mktemp("ws-browser")) as url:
        yield url


@pytest.fixture(scope="module")
def attacker(dashboard: str) -> Iterator[str]:
    """Another loopback HTTP server (a local dev server, a notebook) serving a page that
    runs the probe against the dashboard as soon as it loads."""
    arguments = json.dumps([_ws(dashboard), list(rerun_message())])
    handler = type("Handler", (_AttackerPage,), {"body": (
        "<!doctype html><title>local notebook</title>"
        f"<script>({PROBE})({arguments});</script>").encode()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


def _ws(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + STREAM_PATH


def _outcome(page: Page) -> tuple[bool, bytes]:
    """Wait until the probe's run finished or its stream closed: (opened, frames joined)."""
    deadline = time.monotonic() + RUN_DEADLINE_S
    while True:
        probe = page.evaluate("window.probe")
        frames = [base64.b64decode(f) for f in probe["frames"]]
        if finished(frames) or probe["closed"]:
            return probe["opened"], b"".join(frames)
        assert time.monotonic() < deadline, f"the probe neither finished nor closed: {probe}"
        page.wait_for_timeout(100)


def test_a_page_on_another_port_gets_nothing_of_the_signed_in_admins_session(
    dashboard: str, attacker: str, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    own = context.new_page()
    sign_in(own, dashboard, ADMIN, PASSWORD)
    expect(own.get_by_test_id("stSidebar").get_by_text(f"{ADMIN} · admin")).to_be_visible(
        timeout=30_000)

    # The positive control: from the dashboard's own page, the cookie signs the stream in.
    own.evaluate(PROBE, [_ws(dashboard), list(rerun_message())])
    opened, seen = _outcome(own)
    assert opened
    assert ADMIN_SEES in seen
    assert b"Add a user" in seen

    # The same probe from the attacker's page, in the same browser holding the same cookie.
    evil = context.new_page()
    evil.goto(attacker, wait_until="domcontentloaded")
    opened, seen = _outcome(evil)
    assert ADMIN_SEES not in seen
    assert b"Add a user" not in seen
    if opened:  # a stream that was let in must at least be anonymous
        assert ANONYMOUS_SEES in seen
    context.close()
