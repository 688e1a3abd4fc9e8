"""The dashboard's own server for the websocket tests, and enough of Streamlit's protocol to
ask it for a page the way a browser's Streamlit client does.

A browser's client opens ``/_stcore/stream`` with the subprotocol ``streamlit``, sends a
``BackMsg`` asking for a run of the app at a page, and draws the ``ForwardMsg`` frames that
come back. The tests send the same message and read the same frames: whether they carry
what a signed-in admin sees tells a signed-in session from an anonymous one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import connect

from db.schema import upgrade
from db.session import make_engine
from devstack.processes import free_loopback_port
from devstack.specs import child_env, dashboard_spec
from services.access import SYSTEM, Role
from services.auth.users import create_user
from services.settings import Settings
from tests.live_stack import new_supervisor

__all__ = ["ADMIN", "ADMIN_SEES", "ANONYMOUS_SEES", "PASSWORD", "STREAM_PATH",
           "finished", "rerun_message", "run_page", "running_dashboard", "sign_in"]

STREAM_PATH = "/_stcore/stream"
ADMIN, PASSWORD = "boss", "quiet harbour lantern 12"
#: What only a signed-in admin's run of the Users page carries: the sidebar's "who" line.
ADMIN_SEES = f"{ADMIN} · admin".encode()
#: What an anonymous visitor's run carries: the sign-in page's heading.
ANONYMOUS_SEES = b"Sign in to opsdash"
#: Generous: a run on a busy two-core machine with other test servers beside it.
RUN_DEADLINE_S = 60.0


@contextmanager
def running_dashboard(var: Path, **env: str) -> Iterator[str]:
    """``streamlit run server.py`` on a free loopback port, on a fresh store holding one
    admin (``ADMIN``); ``env`` adds ``OPSDASH_*`` variables. Yields the dashboard's URL."""
    settings = Settings(var_dir=str(var), database_url="", dashboard_port=free_loopback_port())
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    create_user(engine=engine, actor=SYSTEM, username=ADMIN, role=Role.ADMIN,
                password=PASSWORD)
    engine.dispose()
    child = child_env(settings, os.environ)
    child.update({
        "OPSDASH_DATABASE_URL": "",
        "OPSDASH_COOKIE_SECRET": "websocket-origin-cookie-secret-" + "w" * 32,
        # Nothing listens here; the Users page does not ask Prometheus anyway.
        "OPSDASH_PROMETHEUS_URL": f"http://127.0.0.1:{free_loopback_port()}",
        **{f"OPSDASH_{key.upper()}": value for key, value in env.items()},
    })
    supervisor = new_supervisor(var / "logs", child)
    try:
        supervisor.wait_ready([supervisor.start(dashboard_spec(settings))])
        yield f"http://127.0.0.1:{settings.dashboard_port}"
    finally:
        supervisor.stop_all()


def sign_in(base_url: str) -> str:
    """The admin's session cookie, from the real sign-in route (posted as its own form)."""
    response = requests.post(f"{base_url}/api/auth/signin",
                             data={"username": ADMIN, "password": PASSWORD},
                             headers={"Origin": base_url}, allow_redirects=False, timeout=30)
    assert response.status_code == 303, response.text
    return response.cookies["opsdash_session"]


def rerun_message(page_name: str = "users") -> bytes:
    """A browser client's request for a run of the app at ``page_name`` (a URL path)."""
    message = BackMsg()
    message.rerun_script.query_string = ""
    message.rerun_script.page_name = page_name
    return message.SerializeToString()


def finished(frames: Iterable[bytes]) -> bool:
    """Whether a run of the app finished (not just stopped early for a rerun)."""
    for frame in frames:
        message = ForwardMsg()
        message.ParseFromString(frame)
        if (message.WhichOneof("type") == "script_finished"
                and message.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY):
            return True
    return False


def run_page(ws_url: str, headers: dict[str, str]) -> bytes:
    """Open the stream with these handshake headers, ask for the Users page, and return
    every frame of the run, joined (strings sit in a protobuf's bytes as UTF-8).

    Raises ``websockets.exceptions.InvalidStatus`` when the server refuses the handshake.
    """
    frames: list[bytes] = []
    origin = headers.pop("Origin", None)
    with connect(ws_url, subprotocols=["streamlit"], origin=origin,
                 additional_headers=headers, proxy=None, open_timeout=30,
                 max_size=None) as ws:
        ws.send(rerun_message())
        deadline = time.monotonic() + RUN_DEADLINE_S
        while not finished(frames[-1:]):
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the run did not finish"
            frame = ws.recv(timeout=remaining)
            if isinstance(frame, bytes):
                frames.append(frame)
    return b"".join(frames)
