"""The websocket handshake an AppTest run is given in place of a browser's.

A browser's session comes with the headers of its websocket handshake, whose ``Origin``
``dashboard.auth.current_user()`` checks; AppTest opens no websocket, so a test that signs
in hands the app the handshake of a page of the dashboard itself (or another one).
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

import dashboard.auth

#: The handshake of a browser on the dashboard's own page.
OWN_HANDSHAKE = {"host": "127.0.0.1:8501", "origin": "http://127.0.0.1:8501"}


def use_handshake(monkeypatch: pytest.MonkeyPatch,
                  headers: Mapping[str, str] = OWN_HANDSHAKE) -> None:
    """Make this test's app runs see ``headers`` as their websocket handshake's."""
    monkeypatch.setattr(dashboard.auth, "_handshake_headers", lambda: headers)
