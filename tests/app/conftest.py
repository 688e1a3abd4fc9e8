"""Helpers for AppTest page tests: settings travel to the script through the environment.

A page runs as a real signed-in user: the fixture creates the account in the test's store
and hands the app a real signed sign-in token in place of the browser's cookie, and the
headers of a handshake from the dashboard's own page (the boundary AppTest cannot cross).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

import dashboard.auth
from devstack.processes import free_loopback_port
from services.access import SYSTEM, Role
from services.auth.tokens import issue_token
from services.auth.users import create_user
from services.settings import PROJECT_ROOT, Settings
from tests.handshake import OWN_HANDSHAKE, use_handshake

APP = PROJECT_ROOT / "app.py"
#: Signs the tests' sign-in tokens (long enough for the secret check).
SECRET = "test-cookie-secret-" + "x" * 32
PASSWORD = "correct horse battery"


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    return free_loopback_port()


@pytest.fixture
def app(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., AppTest]:
    """Run a script against the test's store; keyword args become OPSDASH_* variables.

    ``as_role`` signs in as a user of that role (``None``: anonymous); ``script`` runs a
    page directly instead of the router; ``token`` overrides the cookie value; ``handshake``
    the headers of the session's websocket handshake (the dashboard's own page by default).
    """
    made: set[str] = set()

    def run(
        timeout: float = 10,
        *,
        as_role: Role | None = Role.ADMIN,
        script: str = "app.py",
        token: str | None = None,
        handshake: dict[str, str] | None = None,
        **env: str,
    ) -> AppTest:
        monkeypatch.setenv("OPSDASH_VAR_DIR", settings.var_dir)
        monkeypatch.setenv("OPSDASH_DATABASE_URL", "")
        monkeypatch.setenv("OPSDASH_COOKIE_SECRET", SECRET)
        monkeypatch.setenv("OPSDASH_PROMETHEUS_URL", f"http://127.0.0.1:{closed_port()}")
        for key, value in env.items():
            monkeypatch.setenv(f"OPSDASH_{key.upper()}", value)
        cookie = token
        if as_role is not None and token is None:
            name = f"{as_role.value}-user"
            if name not in made:
                create_user(engine=engine, actor=SYSTEM, username=name, role=as_role,
                            password=PASSWORD)
                made.add(name)
            cookie = issue_token(username=name, secret=SECRET, ttl_seconds=600)
        monkeypatch.setattr(dashboard.auth, "_session_cookie", lambda: cookie)
        use_handshake(monkeypatch, OWN_HANDSHAKE if handshake is None else handshake)
        return AppTest.from_file(str(PROJECT_ROOT / script), default_timeout=timeout).run()

    return run


@pytest.fixture
def cookie_secret() -> str:
    """The secret that signs the page tests' sign-in tokens."""
    return SECRET


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()
