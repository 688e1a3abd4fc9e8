"""A session whose websocket came from another origin is anonymous, whatever it carries.

The server refuses such a handshake already (``tests/integration/test_websocket_origin.py``);
``current_user()`` checks again, so the promise holds whatever Streamlit lets through.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

import dashboard.auth
from services.access import Principal, Role

SIGNED_IN = "admin-user · admin"


def _sidebar(at: AppTest) -> list[str]:
    return [t.value for t in at.sidebar.text]


def test_the_dashboards_own_origin_is_signed_in(app: Callable[..., AppTest]) -> None:
    at = app()
    assert not at.exception
    assert SIGNED_IN in _sidebar(at)


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:8888",  # a notebook on another port
    "http://localhost:8501",  # the same port under another name
    "https://127.0.0.1:8501",
    "null",
    "https://evil.example",
    None,
])
def test_another_origin_with_the_admins_cookie_is_anonymous(
    app: Callable[..., AppTest], origin: str | None
) -> None:
    handshake = {"host": "127.0.0.1:8501"}
    if origin is not None:
        handshake["origin"] = origin
    at = app(handshake=handshake)
    assert not at.exception
    assert at.title[0].value == "Sign in to opsdash"
    assert SIGNED_IN not in _sidebar(at)


def test_behind_a_proxy_the_public_url_is_the_only_own_origin(
    app: Callable[..., AppTest]
) -> None:
    public = "https://dash.example.com"
    # The proxy passes the Host through; the page's origin is the public https address.
    proxied = {"host": "dash.example.com", "origin": public}
    assert SIGNED_IN in _sidebar(app(handshake=proxied, public_url=public))
    # A page of the host the server listens on is not the dashboard's once the URL is set.
    direct = {"host": "127.0.0.1:8501", "origin": "http://127.0.0.1:8501"}
    at = app(handshake=direct, public_url=public)
    assert at.title[0].value == "Sign in to opsdash"
    # Through a TLS proxy without the setting, X-Forwarded-Proto names the page's scheme.
    forwarded = {**proxied, "x-forwarded-proto": "https"}
    assert SIGNED_IN in _sidebar(app(handshake=forwarded))


def test_a_single_sign_on_identity_from_another_origin_is_anonymous(
    app: Callable[..., AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Single sign-on's own identity provider is a boundary AppTest cannot reach: the
    # session is made to carry an admin's identity, and only the origin differs.
    monkeypatch.setattr(dashboard.auth, "sso_signed_in", lambda: True)
    monkeypatch.setattr(dashboard.auth, "_sso_principal",
                        lambda: Principal(username="sso-admin", role=Role.ADMIN))
    assert "sso-admin · admin" in _sidebar(app(as_role=None))
    at = app(as_role=None, handshake={"host": "127.0.0.1:8501",
                                      "origin": "http://127.0.0.1:8888"})
    assert at.title[0].value == "Sign in to opsdash"
    assert "sso-admin · admin" not in _sidebar(at)
