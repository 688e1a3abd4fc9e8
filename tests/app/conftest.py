"""Helpers for AppTest page tests: settings travel to the script through the environment."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from services.settings import PROJECT_ROOT, Settings

APP = PROJECT_ROOT / "app.py"


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def app(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    """Run ``app.py`` against the test's store; keyword args become OPSDASH_* variables."""

    def run(timeout: float = 10, **env: str) -> AppTest:
        monkeypatch.setenv("OPSDASH_VAR_DIR", settings.var_dir)
        monkeypatch.setenv("OPSDASH_DATABASE_URL", "")
        monkeypatch.setenv("OPSDASH_PROMETHEUS_URL", f"http://127.0.0.1:{closed_port()}")
        for key, value in env.items():
            monkeypatch.setenv(f"OPSDASH_{key.upper()}", value)
        return AppTest.from_file(str(APP), default_timeout=timeout).run()

    return run
