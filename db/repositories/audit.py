"""The audit log: append and read, nothing else.

There is deliberately no function that updates or deletes an entry; the database refuses
both as well (triggers from migration 0002).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.bulk import executemany
from db.models import AuditLog

__all__ = ["actions", "actors", "append", "append_many", "entries", "latest_details"]

_APPEND = insert(AuditLog)


def append(
    *,
    session: Session,
    actor: str,
    action: str,
    object_type: str = "",
    object_id: str = "",
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditLog:
    """Add one entry inside the caller's transaction."""
    entry = AuditLog(
        ts=at or utcnow(),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=details or {},
    )
    session.add(entry)
    session.flush()
    return entry


def append_many(*, session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Add entries inside the caller's transaction with one executemany; returns how many.

    Each row has every column of :class:`db.models.AuditLog` but ``id`` (``ts``
    timezone-aware). Entries get increasing ids in the order of ``rows``.
    """
    if not rows:
        return 0
    # One executemany on the session's connection: no ORM unit of work per entry.
    executemany(session.connection(), _APPEND, rows)
    return len(rows)


def entries(
    *,
    session: Session,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[AuditLog]:
    """Entries matching every filter given, newest first.

    Args:
        session: the session to read with.
        actor: only entries by this actor.
        action: only entries of this action.
        since: only entries at or after this time.
        until: only entries before this time.
        limit: at most this many entries.
    """
    query = select(AuditLog)
    if actor is not None:
        query = query.where(AuditLog.actor == actor)
    if action is not None:
        query = query.where(AuditLog.action == action)
    if since is not None:
        query = query.where(AuditLog.ts >= since)
    if until is not None:
        query = query.where(AuditLog.ts < until)
    query = query.order_by(AuditLog.ts.desc(), AuditLog.id.desc()).limit(limit)
    return list(session.scalars(query))


def actors(*, session: Session) -> list[str]:
    """Every actor that has an entry, alphabetically."""
    return list(session.scalars(select(AuditLog.actor).distinct().order_by(AuditLog.actor)))


def actions(*, session: Session) -> list[str]:
    """Every distinct action in the log, alphabetically."""
    return list(session.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action)))


def latest_details(*, session: Session, actor: str, action: str) -> dict[str, Any] | None:
    """The details of ``actor``'s latest entry of ``action`` (``None``: it has none)."""
    details: dict[str, Any] | None = session.scalar(
        select(AuditLog.details)
        .where(AuditLog.actor == actor, AuditLog.action == action)
        .order_by(AuditLog.ts.desc(), AuditLog.id.desc())
        .limit(1)
    )
    return details
