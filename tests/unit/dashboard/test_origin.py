"""One answer to "does this request come from the dashboard's own page?", for the sign-in
routes, the websocket handshake and ``current_user()``; and the handshake refused before
Streamlit sees it (through a real ASGI client; the real server is in
``tests/integration/test_websocket_origin.py``)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from dashboard.origin import RefuseForeignWebsockets, from_own_origin, parse_origin

HOST = {"host": "127.0.0.1:8501"}


@pytest.mark.parametrize(("url", "origin"), [
    ("http://127.0.0.1:8501", ("http", "127.0.0.1", 8501)),
    ("HTTPS://Dash.Example.COM", ("https", "dash.example.com", 443)),
    ("http://dash.example.com:80/some/page?x=1", ("http", "dash.example.com", 80)),
    ("wss://dash.example.com", ("https", "dash.example.com", 443)),
    ("http://[::1]:8501", ("http", "::1", 8501)),
])
def test_an_origin_is_scheme_host_and_port_with_default_ports_written_out(
    url: str, origin: tuple[str, str, int]
) -> None:
    assert parse_origin(url) == origin


@pytest.mark.parametrize("url", ["null", "", "file:///page.html", "127.0.0.1:8501",
                                 "http://127.0.0.1:notaport", "http://127.0.0.1:70000",
                                 "http://user@127.0.0.1:8501", "chrome-extension://abc"])
def test_anything_but_an_http_address_has_no_origin(url: str) -> None:
    assert parse_origin(url) is None


@pytest.mark.parametrize("source", ["http://127.0.0.1:8501", "http://127.0.0.1:8501/users",
                                    "http://127.0.0.1:8501/"])
def test_the_hosts_own_origin_passes(source: str) -> None:
    assert from_own_origin(source, HOST, scheme="http", public_url="")
    assert from_own_origin(source, HOST, scheme="ws", public_url="")


@pytest.mark.parametrize("source", [
    "http://127.0.0.1:8888",  # a notebook or dev server on another port of this host
    "http://localhost:8501",  # the same server under another name
    "https://127.0.0.1:8501",
    "http://127.0.0.1",
    "null",
    "https://evil.example",
    "",
    None,
])
def test_every_other_origin_is_refused(source: str | None) -> None:
    assert not from_own_origin(source, HOST, scheme="http", public_url="")


def test_without_a_host_nothing_is_the_own_origin() -> None:
    assert not from_own_origin("http://127.0.0.1:8501", {}, scheme="http", public_url="")
    assert not from_own_origin("http://127.0.0.1:8501", {"host": "evil@127.0.0.1:8501"},
                               scheme="http", public_url="")


def test_a_tls_proxy_names_the_pages_scheme_in_x_forwarded_proto() -> None:
    proxied = {"host": "dash.example.com", "x-forwarded-proto": "https"}
    assert from_own_origin("https://dash.example.com", proxied, scheme="ws", public_url="")
    assert not from_own_origin("https://dash.example.com", {"host": "dash.example.com"},
                               scheme="ws", public_url="")


def test_the_public_url_is_the_only_own_origin_once_set() -> None:
    public = "https://dash.example.com"
    assert from_own_origin("https://dash.example.com", HOST, scheme="http", public_url=public)
    assert from_own_origin("https://dash.example.com:443/x", HOST, scheme="http",
                           public_url=public + "/")
    assert not from_own_origin("http://127.0.0.1:8501", HOST, scheme="http", public_url=public)
    assert not from_own_origin("http://dash.example.com", HOST, scheme="http",
                               public_url=public)


async def _echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("in")
    await websocket.close()


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.delenv("OPSDASH_PUBLIC_URL", raising=False)
    app = Starlette(routes=[WebSocketRoute("/_stcore/stream", _echo)],
                    middleware=[Middleware(RefuseForeignWebsockets)])
    return TestClient(app, base_url="http://127.0.0.1:8501")


def test_the_handshake_from_the_own_page_reaches_the_app(client: TestClient) -> None:
    with client.websocket_connect("/_stcore/stream",
                                  headers={**HOST, "origin": "http://127.0.0.1:8501"}) as ws:
        assert ws.receive_text() == "in"


@pytest.mark.parametrize("headers", [{"origin": "http://127.0.0.1:8888"}, {"origin": "null"},
                                     {}])
def test_a_handshake_from_another_origin_is_closed_before_the_app(
    client: TestClient, headers: dict[str, str]
) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, \
            client.websocket_connect("/_stcore/stream", headers={**HOST, **headers}):
        pass
    assert refused.value.code == 1008


def test_behind_a_proxy_the_handshake_is_checked_against_the_public_url(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSDASH_PUBLIC_URL", "https://dash.example.com")
    with client.websocket_connect("/_stcore/stream",
                                  headers={**HOST, "origin": "https://dash.example.com"}) as ws:
        assert ws.receive_text() == "in"
    with pytest.raises(WebSocketDisconnect), \
            client.websocket_connect("/_stcore/stream",
                                     headers={**HOST, "origin": "http://127.0.0.1:8501"}):
        pass
