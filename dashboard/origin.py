"""Whether a request comes from a page of the dashboard itself.

One answer for every door a signed-in browser opens: the sign-in and sign-out form posts
(``dashboard.web_routes``), the websocket that carries every page (refused at the handshake
by :class:`RefuseForeignWebsockets`) and :func:`dashboard.auth.current_user` (which treats a
session of another origin as anonymous, whatever Streamlit let through).

A browser sends the ``SameSite=Strict`` sign-in cookie with a request that a page on
another port of the same host makes (same-site ignores the port), so the cookie alone does
not prove the dashboard's own page made the request; the ``Origin`` header does. The
dashboard's own origin is ``OPSDASH_PUBLIC_URL`` when the operator set it (the address
browsers use behind a proxy), else the scheme and ``Host`` the request came to. Origins are
compared by scheme, host and port; default ports count as written out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from services.settings import SettingsError, get_settings

__all__ = ["Origin", "RefuseForeignWebsockets", "connection_from_own_origin", "from_own_origin",
           "page_scheme", "parse_origin", "public_url"]

#: (scheme, host, port), the scheme ``http`` or ``https``.
Origin = tuple[str, str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}
# A websocket's own URL says ws/wss; the page that opened it was http/https.
_PAGE_SCHEME = {"ws": "http", "wss": "https"}
_log = logging.getLogger("opsdash.auth")


def parse_origin(url: str) -> Origin | None:
    """The origin of ``url`` (an ``Origin`` header, a ``Referer`` or a base URL), or ``None``
    for anything that is not an http(s) address (``null``, ``file://``, garbage)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a port out of range or not a number
        return None
    scheme = _PAGE_SCHEME.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    return scheme, parts.hostname.lower(), _DEFAULT_PORTS[scheme] if port is None else port


def page_scheme(headers: Mapping[str, str], scheme: str) -> str:
    """The scheme the browser used: a TLS-terminating proxy says so in X-Forwarded-Proto.

    A page cannot set that header on a form post or a websocket, so trusting it lets no
    other page pass; it only lets the https page of the dashboard behind a proxy in.
    """
    forwarded = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    forwarded = _PAGE_SCHEME.get(forwarded, forwarded)
    if forwarded in _DEFAULT_PORTS:
        return forwarded
    return _PAGE_SCHEME.get(scheme, scheme)


def _own_origin(headers: Mapping[str, str], *, scheme: str, public_url: str) -> Origin | None:
    if public_url:
        return parse_origin(public_url)
    host = headers.get("host", "")
    if not host or any(c in host for c in "@/?#\\ "):
        return None
    return parse_origin(f"{page_scheme(headers, scheme)}://{host}")


def from_own_origin(source: str | None, headers: Mapping[str, str], *, scheme: str,
                    public_url: str) -> bool:
    """Whether ``source`` (the request's ``Origin``, or its ``Referer``) is the dashboard's
    own origin.

    ``headers`` are the request's (``Host``, ``X-Forwarded-Proto``; the mapping must look
    names up in lower case), ``scheme`` the one it came in on (``http``, ``https``, ``ws``,
    ``wss``), ``public_url`` the setting ``OPSDASH_PUBLIC_URL`` (empty: the ``Host``). A
    missing or unreadable source is not the dashboard's.
    """
    if not source:
        return False
    own = _own_origin(headers, scheme=scheme, public_url=public_url)
    return own is not None and parse_origin(source) == own


def public_url() -> str:
    """``OPSDASH_PUBLIC_URL`` (empty when unset, or when the settings cannot be read)."""
    try:
        return get_settings().public_url
    except SettingsError:
        # The app says what is wrong with the settings and signs nobody in meanwhile; the
        # handshake falls back on the Host so that message can reach the browser.
        return ""


def connection_from_own_origin(connection: HTTPConnection, *, referer: bool = False) -> bool:
    """Whether this request or websocket handshake comes from the dashboard's own page: its
    ``Origin`` (else, with ``referer``, its ``Referer``) against the own origin."""
    source = connection.headers.get("origin")
    if not source and referer:
        source = connection.headers.get("referer")
    return from_own_origin(source, connection.headers, scheme=connection.url.scheme,
                           public_url=public_url())


class RefuseForeignWebsockets:
    """ASGI middleware: a websocket handshake whose ``Origin`` is not the dashboard's own is
    refused (the server answers 403) before Streamlit sees it, cookie or not.

    Streamlit itself lets in any Origin on localhost and this machine's addresses, at any
    port; a page of a local notebook or dev server could then drive a signed-in user's
    session. No browser opens a websocket without an ``Origin``, so none is refused too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            connection = HTTPConnection(scope)
            if not connection_from_own_origin(connection):
                _log.warning("refused a websocket from origin %r (host %r)",
                             connection.headers.get("origin"), connection.headers.get("host"))
                await receive()  # the websocket.connect event; closing now answers 403
                await send({"type": "websocket.close", "code": 1008})
                return
        await self.app(scope, receive, send)
