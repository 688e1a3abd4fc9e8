"""Sign-in sessions: who a session token signs in now, and ending one.

A session is a signed token (``services.auth.tokens``) in the browser's cookie. It signs
its user in while the token has not expired, the account exists and is enabled, the
session began after the user's ``sessions_valid_after`` (a password reset or change, or a
disabled account, ends every earlier session), and it was not signed out: signing out
stores the token's nonce in ``revoked_sessions`` until the token would have expired, so a
copy of the cookie taken before stops working too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import User
from db.repositories import sessions as sessions_repo
from db.repositories import users as users_repo
from db.session import session_scope
from services.access.principal import Principal
from services.access.roles import Role
from services.audit import record
from services.auth.names import canonical_username
from services.auth.signin import SIGN_OUT
from services.auth.tokens import SessionToken

__all__ = ["end_session", "session_principal"]


def _live_user(session: Session, token: SessionToken) -> User | None:
    user = users_repo.by_username(session=session, username=canonical_username(token.username))
    if user is None or user.disabled:
        return None
    valid_after = user.sessions_valid_after
    if valid_after is not None and token.issued_at < valid_after.timestamp():
        return None
    if sessions_repo.is_revoked(session=session, nonce=token.nonce):
        return None
    return user


def session_principal(*, engine: Engine, token: SessionToken) -> Principal | None:
    """Who the session signs in now, or ``None`` (ended, signed out, disabled, unknown).

    The dashboard calls this on every page run, so a role change, a disabled account or a
    sign-out elsewhere applies at once.
    """
    with session_scope(engine) as session:
        user = _live_user(session, token)
        return None if user is None else Principal(username=user.username, role=Role(user.role))


def end_session(*, engine: Engine, token: SessionToken) -> Principal | None:
    """Sign the session out for good and audit it; returns who was signed out.

    A session that no longer signs anybody in (already signed out, ended, or its account
    disabled) is still revoked, without an audit entry. Revocations of tokens that have
    expired since are dropped on the way.
    """
    now = utcnow()
    with session_scope(engine, write=True) as session:
        user = _live_user(session, token)
        sessions_repo.drop_expired(session=session, now=now)
        sessions_repo.revoke(session=session, nonce=token.nonce, username=token.username[:100],
                             revoked_at=now,
                             expires_at=datetime.fromtimestamp(token.expires_at, UTC))
        if user is None:
            return None
        principal = Principal(username=user.username, role=Role(user.role))
        record(session=session, actor=principal.username, action=SIGN_OUT, object_type="user",
               object_id=principal.username)
        return principal
