"""The dashboard's websocket signs nobody in from a page of another origin.

A browser sends the SameSite=Strict sign-in cookie with a websocket opened by a page on
another port of the same host (same-site ignores the port), so the cookie alone proves
nothing about who opened the stream. A raw client here carries the admin's real cookie
with forged Origins: each handshake is refused (403). The same cookie from the
dashboard's own origin runs the Users page as the admin, which shows the check can fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from websockets.exceptions import InvalidStatus

from devstack.processes import free_loopback_port
from tests.stream_client import (
    ADMIN_SEES,
    ANONYMOUS_SEES,
    STREAM_PATH,
    run_page,
    running_dashboard,
    sign_in,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_dashboard(tmp_path_factory.mktemp("ws-origin")) as url:
        yield url


@pytest.fixture(scope="module")
def cookie(dashboard: str) -> str:
    return sign_in(dashboard)


def _ws(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + STREAM_PATH


def test_the_dashboards_own_origin_runs_the_page_as_the_signed_in_admin(
    dashboard: str, cookie: str
) -> None:
    seen = run_page(_ws(dashboard), {"Origin": dashboard, "Cookie": f"opsdash_session={cookie}"})
    assert ADMIN_SEES in seen
    assert b"Add a user" in seen  # the admin-only Users page itself


def test_without_the_cookie_the_own_origin_is_anonymous(dashboard: str) -> None:
    seen = run_page(_ws(dashboard), {"Origin": dashboard})
    assert ANONYMOUS_SEES in seen
    assert ADMIN_SEES not in seen


def _foreign_origins(port: int) -> list[str | None]:
    other = free_loopback_port()
    return [
        f"http://127.0.0.1:{other}",  # any local dev server or notebook
        f"http://localhost:{other}",
        f"http://localhost:{port}",  # the same port under another name is another origin
        f"https://127.0.0.1:{port}",  # another scheme
        "null",  # a sandboxed frame or a file:// page
        "https://evil.example",
        None,  # no Origin at all: no browser opens a websocket without one
    ]


def test_a_forged_origin_with_the_admins_cookie_is_refused_at_the_handshake(
    dashboard: str, cookie: str
) -> None:
    port = int(dashboard.rsplit(":", 1)[1])
    for origin in _foreign_origins(port):
        headers = {"Cookie": f"opsdash_session={cookie}"}
        if origin is not None:
            headers["Origin"] = origin
        with pytest.raises(InvalidStatus) as refused:
            run_page(_ws(dashboard), headers)
        assert refused.value.response.status_code == 403, origin
