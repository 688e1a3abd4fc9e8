"""Who is using the dashboard: the one place pages and tests ask.

A local account signs in through the ``/auth/signin`` route (``dashboard.web_routes``),
which sets a signed, expiring, HttpOnly cookie; single sign-on goes through Streamlit's
``st.login`` when ``[auth]`` is configured in ``secrets.toml``. Either way the role is read
from the store on every page run, so a role change, a disabled account or a sign-out
(which revokes the session in the store, for every copy of the cookie) applies at once.
Nothing here touches the store or Prometheus for a visitor who carries no valid cookie.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import streamlit as st

from dashboard.origin import from_own_origin
from dashboard.resources import engine_for, settings
from dashboard.web_routes import COOKIE_NAME
from services.access import Principal, View, can
from services.auth.sessions import session_principal
from services.auth.signin import SignInError, record_sign_out, sign_in_with_claims
from services.auth.tokens import read_session
from services.auth.users import get_principal, is_disabled
from services.settings import Settings

__all__ = [
    "COOKIE_NAME",
    "current_user",
    "guard",
    "oidc_configured",
    "sso_error",
    "sso_providers",
    "sso_sign_out",
    "sso_signed_in",
]

_SSO_ERROR = "_opsdash_sso_error"
# Single sign-on identities already audited, by (subject, issued-at), with the outcome (who
# signed in, or why they were refused): a page reload or rerun must not write another
# audit entry. Bounded; the oldest are forgotten first.
_SSO_SEEN: OrderedDict[tuple[str, str], Principal | SignInError] = OrderedDict()
_SSO_SEEN_MAX = 10_000
_SSO_LOCK = threading.Lock()
_log = logging.getLogger("opsdash.auth")


def _session_cookie() -> str | None:
    """The raw sign-in cookie of this browser session, if any (tests replace this)."""
    return st.context.cookies.get(COOKIE_NAME)


def _handshake_headers() -> Mapping[str, str]:
    """The headers of this session's websocket handshake (tests replace this)."""
    return st.context.headers


def _from_own_origin(config: Settings) -> bool:
    """Whether this session's websocket was opened by a page of the dashboard itself.

    The server refuses any other handshake already (``dashboard.origin``); this holds the
    same line whatever Streamlit lets through, for the cookie and single sign-on alike.
    """
    headers = _handshake_headers()
    scheme = "https" if st.get_option("server.sslCertFile") else "http"
    if from_own_origin(headers.get("origin"), headers, scheme=scheme,
                       public_url=config.public_url):
        return True
    _log.warning("a session from origin %r (host %r) carried a sign-in: treated as anonymous",
                 headers.get("origin"), headers.get("host"))
    return False


def sso_providers() -> list[str | None]:
    """The single sign-on providers in ``[auth]`` of ``secrets.toml``.

    ``[None]`` for one provider configured at the top of ``[auth]``; the section names for
    named providers (``[auth.okta]``); ``[]`` when single sign-on is not set up.
    """
    try:
        auth = st.secrets.get("auth")
    except Exception:  # no secrets file at all: Streamlit raises rather than returning None
        return []
    if not isinstance(auth, Mapping):
        return []
    if auth.get("client_id"):
        return [None]
    return [name for name, value in auth.items() if isinstance(value, Mapping)]


def oidc_configured() -> bool:
    """Whether single sign-on is set up."""
    return bool(sso_providers())


def sso_signed_in() -> bool:
    """Whether this session is signed in through single sign-on."""
    if not oidc_configured():
        return False
    try:
        return bool(st.user.is_logged_in)
    except Exception:  # st.user without a usable provider configuration
        return False


def _sso_principal() -> Principal | None:
    """The principal behind the OIDC identity of this session; audited once per login.

    A refusal is decided (and audited) once per login as well: the user signs out of
    single sign-on and in again to be checked anew.
    """
    claims: dict[str, Any] = st.user.to_dict()
    key = (str(claims.get("sub", "")), str(claims.get("iat", "")))
    with _SSO_LOCK:
        seen = _SSO_SEEN.get(key)
    config = settings()
    engine = engine_for(config.resolved_database_url)
    if seen is None:
        try:
            seen = sign_in_with_claims(engine=engine, claims=claims,
                                       role_claim=config.oidc_role_claim,
                                       trust_email=config.oidc_trust_email)
        except SignInError as exc:
            seen = exc
        with _SSO_LOCK:
            _SSO_SEEN[key] = seen
            while len(_SSO_SEEN) > _SSO_SEEN_MAX:
                _SSO_SEEN.popitem(last=False)
    if isinstance(seen, SignInError):
        st.session_state[_SSO_ERROR] = str(seen)
        return None
    if config.oidc_role_claim:
        # The claim named the role at sign-in, over any local one; a local account that
        # was disabled since then is shut at once, as for password sign-in.
        current: Principal | None = (
            None if is_disabled(engine=engine, username=seen.username) else seen)
    else:
        # The local user's current role and state decide, as for password sign-in.
        current = get_principal(engine=engine, username=seen.username)
    if current is None:
        st.session_state[_SSO_ERROR] = "this account is disabled; ask an admin to enable it"
    else:
        st.session_state.pop(_SSO_ERROR, None)
    return current


def sso_sign_out() -> None:
    """End this session's single sign-on (audited) and return to the sign-in page."""
    claims = st.user.to_dict()
    key = (str(claims.get("sub", "")), str(claims.get("iat", "")))
    with _SSO_LOCK:
        seen = _SSO_SEEN.pop(key, None)
    if isinstance(seen, Principal):
        try:
            record_sign_out(engine=engine_for(settings().resolved_database_url), actor=seen)
        except Exception:  # signing out must work even when the audit entry cannot be written
            _log.exception("could not record a sign-out")
    st.session_state.pop(_SSO_ERROR, None)
    st.logout()


def sso_error() -> str | None:
    """Why the single sign-on identity of this session was refused, if it was."""
    value = st.session_state.get(_SSO_ERROR)
    return value if isinstance(value, str) else None


def current_user() -> Principal | None:
    """The signed-in user, or ``None`` for an anonymous visitor: one without a valid
    sign-in, or one whose websocket a page of another origin opened.

    Raises:
        MissingSecretError: no cookie secret is configured (checked only for a visitor
            who carries a cookie).
        SchemaError: the store's schema is not current.
    """
    sso = sso_signed_in()
    token = None if sso else _session_cookie()
    if not sso and not token:
        return None
    config = settings()
    # The browser sends the cookie with a websocket that a page on another port of this
    # host opens, too: only the dashboard's own page may use it.
    if not _from_own_origin(config):
        return None
    if sso:
        return _sso_principal()
    assert token is not None
    session = read_session(token, settings=config)
    if session is None:  # forged, expired or from another secret: anonymous
        return None
    # Signed out, ended by a password change or a disabled account: anonymous too.
    return session_principal(engine=engine_for(config.resolved_database_url), token=session)


def guard(view: View) -> Principal:
    """The current user if they may open ``view``; otherwise say why and stop the page.

    Every page calls this first, so a page reached without the router (or by a user whose
    role changed meanwhile) renders nothing it should not.
    """
    user = current_user()
    if user is None:
        st.warning("Sign in to see this page.", icon=":material/lock:")
        st.stop()
    if not can(user.role, view):
        st.error(
            f"Your role ({user.role}) does not include the {view.value} page. Ask an admin "
            "if you need it.",
            icon=":material/block:",
        )
        st.stop()
    return user
