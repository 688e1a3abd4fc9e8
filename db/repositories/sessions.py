"""Signed-out sign-in sessions: the nonces of tokens that no longer sign anybody in.

A row is kept until its token would have expired anyway; dropping the expired ones is the
caller's choice of moment (signing out does it on the way).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from db.models import RevokedSession

__all__ = ["drop_expired", "is_revoked", "revoke"]


def is_revoked(*, session: Session, nonce: str) -> bool:
    """Whether the session of the token with ``nonce`` was signed out."""
    return session.get(RevokedSession, nonce) is not None


def drop_expired(*, session: Session, now: datetime) -> None:
    """Forget the signed-out sessions whose tokens expired before ``now``."""
    session.execute(delete(RevokedSession).where(RevokedSession.expires_at < now))


def revoke(*, session: Session, nonce: str, username: str, revoked_at: datetime,
           expires_at: datetime) -> None:
    """Sign the session of the token with ``nonce`` out (nothing more if it already is)."""
    # A row read earlier in the session is in its identity map: get() then asks the store
    # nothing more.
    if session.get(RevokedSession, nonce) is None:
        session.add(RevokedSession(nonce=nonce, username=username, revoked_at=revoked_at,
                                   expires_at=expires_at))
