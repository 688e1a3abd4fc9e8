"""HTTP routes beside the Streamlit app: password sign-in and sign-out.

Streamlit scripts cannot set cookies, so the sign-in form posts here; the route checks the
password with :func:`services.auth.signin.authenticate`, sets a signed, expiring,
HttpOnly, SameSite=Strict cookie and redirects back into the app. Both routes accept only
same-origin form posts, so another site (or another port of this host) can neither sign a
visitor in nor out; :func:`middleware` refuses the websocket of another origin likewise. A
client address with too many failed sign-ins in a window gets 429 before its attempt reaches
any account (:mod:`services.auth.throttle`).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from urllib.parse import parse_qs

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from dashboard.origin import (
    RefuseForeignWebsockets,
    connection_from_own_origin,
    page_scheme,
    parse_origin,
    public_url,
)
from db.schema import check_schema
from db.session import make_engine
from services.access.principal import Principal
from services.auth.sessions import end_session
from services.auth.signin import SignInError, authenticate
from services.auth.throttle import ClientFailures, client_address
from services.auth.tokens import (
    MissingSecretError,
    cookie_secret,
    issue_session_token,
    read_session,
)
from services.settings import Settings, get_settings

__all__ = ["COOKIE_NAME", "SIGNIN_PATH", "SIGNOUT_PATH", "client_failures", "middleware", "routes"]

COOKIE_NAME = "opsdash_session"
SIGNIN_PATH = "/api/auth/signin"
SIGNOUT_PATH = "/api/auth/signout"
# A sign-in form is a few hundred bytes; anything much larger is not one.
_MAX_FORM_BYTES = 8192
_log = logging.getLogger("opsdash.auth")
#: Failed sign-ins per client address, in this process's memory.
client_failures = ClientFailures()
_UNLISTED_PROXIES_SEEN: set[str] = set()
# What a browser shows for a 429: it goes on to the sign-in page, which says why.
_THROTTLED_PAGE = """<!doctype html>
<html><head><meta http-equiv="refresh" content="0; url=/?signin=throttled">
<title>Too many sign-in attempts</title></head>
<body><p>Too many failed sign-ins from your network address. Wait {minutes} minute{s},
then <a href="/?signin=throttled">try again</a>.</p></body></html>
"""


@functools.cache
def _engine(url: str) -> Engine:
    engine = make_engine(url)
    check_schema(engine)
    return engine


def _public_scheme(request: Request) -> str:
    """The scheme the browser used: ``OPSDASH_PUBLIC_URL``'s, else X-Forwarded-Proto's (a
    TLS-terminating proxy says so there), else the request's own."""
    public = parse_origin(public_url())
    return public[0] if public is not None else page_scheme(request.headers, request.url.scheme)


def _same_origin(request: Request) -> bool:
    """Whether the form was posted by a page of this dashboard (Origin, else Referer)."""
    return connection_from_own_origin(request, referer=True)


async def _form(request: Request) -> dict[str, str] | None:
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    return {key: values[0] for key, values in fields.items()}


def _back(code: str | None = None) -> RedirectResponse:
    # Codes only, never the message: nothing a user typed is reflected through the URL.
    return RedirectResponse("/" if code is None else f"/?signin={code}", status_code=303)


def _secure(request: Request) -> bool:
    return _public_scheme(request) == "https"


def _client(request: Request, config: Settings) -> str:
    """The client's address (from ``X-Forwarded-For`` only through a listed proxy)."""
    peer = request.client.host if request.client else ""
    forwarded = ",".join(request.headers.getlist("x-forwarded-for")) or None
    client = client_address(peer, forwarded, config.trusted_proxy_networks)
    if forwarded and client == peer and peer not in _UNLISTED_PROXIES_SEEN:
        _UNLISTED_PROXIES_SEEN.add(peer)  # once a peer: a log line, not a flood
        _log.warning("sign-in: X-Forwarded-For from %s ignored, as OPSDASH_TRUSTED_PROXIES "
                     "does not list it; if it is your proxy, every client behind it shares "
                     "one count of failed sign-ins", peer)
    return client


def _too_many(wait: float) -> Response:
    seconds = math.ceil(wait)
    minutes = max(1, math.ceil(seconds / 60))
    return HTMLResponse(_THROTTLED_PAGE.format(minutes=minutes, s="s" * (minutes != 1)),
                        status_code=429,
                        headers={"retry-after": str(seconds), "cache-control": "no-store"})


async def signin(request: Request) -> Response:
    """``POST`` with ``username`` and ``password``; 303 back to the app either way, or 429
    when this client has failed too often lately (before anything else is done)."""
    if not _same_origin(request):
        return PlainTextResponse("sign-in forms must come from this site", status_code=403)
    config = get_settings()
    client = _client(request, config)
    wait = client_failures.begin(client, now=time.monotonic(),
                                 limit=config.signin_client_max_failures,
                                 window=config.signin_client_window_seconds)
    if wait:
        return _too_many(wait)
    failed = False
    try:
        response, failed = await _attempt(request, config)
    finally:  # counted once the attempt is decided, whatever happened
        client_failures.end(client, now=time.monotonic(), failed=failed)
    return response


async def _attempt(request: Request, config: Settings) -> tuple[Response, bool]:
    """The answer to a sign-in form, and whether it failed (counted against the client)."""
    form = await _form(request)
    if form is None:
        return _back("failed"), False
    try:
        cookie_secret(config)  # before the attempt, which would be audited as a sign-in
        principal = await run_in_threadpool(
            _authenticate, config, form.get("username", ""), form.get("password", "")
        )
        token = issue_session_token(username=principal.username, settings=config)
    except SignInError as exc:
        return _back(exc.code), True
    except MissingSecretError:
        _log.error("sign-in refused: OPSDASH_COOKIE_SECRET is not set")
        return _back("unavailable"), False
    except Exception:
        _log.exception("sign-in failed unexpectedly")
        return _back("unavailable"), False
    response = _back()
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=int(config.session_hours * 3600),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response, False


def _authenticate(config: Settings, username: str, password: str) -> Principal:
    return authenticate(engine=_engine(config.resolved_database_url), username=username,
                        password=password, settings=config)


def _sign_out(config: Settings, token: str) -> None:
    session = read_session(token, settings=config)
    if session is None:
        return
    end_session(engine=_engine(config.resolved_database_url), token=session)


async def signout(request: Request) -> Response:
    """``POST``: end the session in the store, drop the cookie, audit the sign-out, 303 to
    the sign-in page."""
    if not _same_origin(request):
        return PlainTextResponse("sign-out forms must come from this site", status_code=403)
    token = request.cookies.get(COOKIE_NAME)
    if token:
        try:
            await run_in_threadpool(_sign_out, get_settings(), token)
        except Exception:  # the cookie goes anyway; the log says why the audit entry did not
            _log.exception("could not record a sign-out")
    response = RedirectResponse("/?signin=signed_out", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict",
                           secure=_secure(request))
    return response


def routes() -> list[Route]:
    """The routes to mount on the Streamlit server (``st.App(routes=...)``)."""
    return [
        Route(SIGNIN_PATH, signin, methods=["POST"]),
        Route(SIGNOUT_PATH, signout, methods=["POST"]),
    ]


def middleware() -> list[Middleware]:
    """The middleware to run before Streamlit's (``st.App(middleware=...)``): websockets
    from another origin are refused at the handshake (``dashboard.origin``)."""
    return [Middleware(RefuseForeignWebsockets)]
