"""User accounts: look-ups and inserts. State changes are plain attribute sets on the row."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import User

__all__ = ["by_email", "by_username", "count_enabled", "create", "list_all"]


def by_username(*, session: Session, username: str, for_update: bool = False) -> User | None:
    """The user called ``username`` (exact match), locked for update if asked.

    ``for_update`` locks the row on PostgreSQL; SQLite write sessions hold the database lock
    from their start, which serialises writers the same way.
    """
    query = select(User).where(User.username == username)
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


def by_email(*, session: Session, email: str) -> User | None:
    """The user with this e-mail address (exact match)."""
    return session.scalar(select(User).where(User.email == email))


def create(
    *,
    session: Session,
    username: str,
    role: str,
    password_hash: str = "",
    email: str | None = None,
) -> User:
    """Insert a user; the caller checks that name and e-mail are free."""
    user = User(
        username=username,
        role=role,
        password_hash=password_hash,
        email=email,
        disabled=False,
        failed_attempts=0,
    )
    session.add(user)
    session.flush()
    return user


def list_all(*, session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(select(User).order_by(User.username)))


def count_enabled(*, session: Session, role: str) -> int:
    """How many enabled users have ``role``."""
    query = select(func.count()).select_from(User).where(User.role == role, ~User.disabled)
    return session.scalar(query) or 0
