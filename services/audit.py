"""The audit log: who did what to which object, and when.

Every state-changing action goes through :func:`record`, inside the same transaction as the
change itself, so a change without its audit entry (or the reverse) cannot be committed.
The application can only add entries and read them; nothing here edits or deletes one.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import AuditLog
from db.repositories import audit as audit_repo
from db.session import session_scope
from services.access.principal import Principal, require
from services.access.roles import View
from services.csv_cells import safe_cell

__all__ = [
    "CSV_COLUMNS",
    "MAX_QUERY_LIMIT",
    "AuditEntry",
    "audit_actions",
    "audit_actors",
    "audit_csv",
    "query_audit",
    "record",
    "record_many",
]

#: Upper bound of :func:`query_audit`'s ``limit`` (the page and the export read at most this).
MAX_QUERY_LIMIT = 100_000
#: Columns of :func:`audit_csv`, in order.
CSV_COLUMNS = ("ts", "actor", "action", "object_type", "object_id", "details")

# Column widths of the audit_log table; actors and object ids can come from user input.
_ACTOR_MAX, _ACTION_MAX, _OBJECT_TYPE_MAX, _OBJECT_ID_MAX = 100, 50, 50, 100
# Types of detail values that need no JSON round trip: exactly these (a subclass may encode
# differently), floats only when finite.
_PLAIN = frozenset({str, int, float, bool, type(None)})
_TEXT = frozenset({str})


@dataclass(frozen=True)
class AuditEntry:
    """One audit log entry.

    Attributes:
        id: the entry's id (increasing in the order entries were written).
        ts: when it happened, timezone-aware UTC.
        actor: who did it: a user name, or ``system`` / ``cli`` for local processes.
        action: what was done, e.g. ``promote``, ``sign_in_failed``.
        object_type: the kind of object acted on, e.g. ``user``, ``model_version``.
        object_id: which object, e.g. a user name or ``churn:v3``.
        details: more facts as JSON-compatible values; never secrets.
    """

    id: int
    ts: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    details: Mapping[str, Any] = field(default_factory=dict)


def _entry(row: AuditLog) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        ts=row.ts,
        actor=row.actor,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        details=dict(row.details or {}),
    )


def _check_action(action: str, object_type: str) -> None:
    if not action or len(action) > _ACTION_MAX or len(object_type) > _OBJECT_TYPE_MAX:
        raise ValueError(f"audit action {action!r} / object type {object_type!r} is not valid")


def _json_details(action: str, details: Mapping[str, Any] | None) -> dict[str, Any]:
    payload = dict(details or {})
    kinds = set(map(type, payload.values()))
    if (kinds <= _PLAIN and set(map(type, payload)) <= _TEXT
            and (float not in kinds or all(map(math.isfinite, (
                value for value in payload.values() if type(value) is float))))):
        return payload  # what the round trip below would give back (the common case)
    try:
        # Round-trip so what is stored is exactly what JSON can hold (no tuples, no objects).
        clean: dict[str, Any] = json.loads(json.dumps(payload, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit details of {action!r} are not JSON-serialisable: {exc}") from exc
    return clean


def record(
    *,
    session: Session,
    actor: str,
    action: str,
    object_type: str = "",
    object_id: str = "",
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Write one audit entry inside the caller's transaction.

    Args:
        session: the session of the change being audited (so both commit together).
        actor: who acts (``Principal.username``); truncated to the column's 100 characters.
        action: what is done, a short snake_case name.
        object_type: the kind of object acted on.
        object_id: which object; truncated to 100 characters.
        details: more facts; must be JSON-serialisable and must never hold secrets.
        at: when it happened (default: now).

    Raises:
        ValueError: ``action`` is empty or too long, or ``details`` is not JSON-serialisable.
    """
    _check_action(action, object_type)
    payload = _json_details(action, details)
    audit_repo.append(
        session=session,
        actor=actor[:_ACTOR_MAX],
        action=action,
        object_type=object_type,
        object_id=object_id[:_OBJECT_ID_MAX],
        details=payload,
        at=at,
    )


def record_many(
    *,
    session: Session,
    actor: str,
    action: str,
    object_type: str = "",
    entries: Iterable[tuple[str, Mapping[str, Any] | None]],
    at: datetime | None = None,
) -> int:
    """Write one audit entry per ``(object_id, details)`` of ``entries``, in that order,
    inside the caller's transaction, with one statement: :func:`record` for many objects
    (a bulk label save). Every entry is checked before any is written.

    Args:
        session: the session of the changes being audited (so all commit together).
        actor: who acts; truncated to 100 characters.
        action: what is done, a short snake_case name.
        object_type: the kind of the objects acted on.
        entries: ``(object_id, details)`` per entry, as in :func:`record`.
        at: when it happened (default: now, the same for every entry).

    Returns:
        How many entries were written.

    Raises:
        ValueError: ``action`` is empty or too long, or some ``details`` is not
            JSON-serialisable; nothing was written.
    """
    _check_action(action, object_type)
    ts = at or utcnow()
    who = actor[:_ACTOR_MAX]
    rows = [
        {"ts": ts, "actor": who, "action": action, "object_type": object_type,
         "object_id": object_id[:_OBJECT_ID_MAX], "details": _json_details(action, details)}
        for object_id, details in entries
    ]
    return audit_repo.append_many(session=session, rows=rows)


def query_audit(
    *,
    engine: Engine,
    actor: Principal | None,
    who: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[AuditEntry]:
    """Audit entries matching the filters, newest first.

    Args:
        engine: the store.
        actor: the caller; needs the audit view (admins and operators).
        who: only entries by this actor (exact name).
        action: only entries of this action.
        since: only entries at or after this time (timezone-aware).
        until: only entries before this time (timezone-aware).
        limit: at most this many entries (1 to :data:`MAX_QUERY_LIMIT`).

    Raises:
        PermissionDenied: the caller may not read the audit log.
        ValueError: ``limit`` is out of range or a time is naive.
    """
    require(actor, View.AUDIT)
    if not 1 <= limit <= MAX_QUERY_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_QUERY_LIMIT}, got {limit}")
    for bound in (since, until):
        if bound is not None and bound.tzinfo is None:
            raise ValueError("audit query times must be timezone-aware")
    with session_scope(engine) as session:
        rows = audit_repo.entries(
            session=session,
            actor=who or None,
            action=action or None,
            since=since,
            until=until,
            limit=limit,
        )
        return [_entry(row) for row in rows]


def audit_actors(*, engine: Engine, actor: Principal | None) -> list[str]:
    """Every actor in the audit log, alphabetically (choices for the ``who`` filter).

    Raises:
        PermissionDenied: the caller may not read the audit log.
    """
    require(actor, View.AUDIT)
    with session_scope(engine) as session:
        return audit_repo.actors(session=session)


def audit_actions(*, engine: Engine, actor: Principal | None) -> list[str]:
    """Every action in the audit log, alphabetically (choices for the ``action`` filter).

    Raises:
        PermissionDenied: the caller may not read the audit log.
    """
    require(actor, View.AUDIT)
    with session_scope(engine) as session:
        return audit_repo.actions(session=session)


def audit_csv(entries: Iterable[AuditEntry]) -> str:
    """The entries as CSV text, safe to open in a spreadsheet.

    Cells that a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a
    carriage return) get a leading apostrophe; ``details`` is compact JSON with sorted keys;
    times are ISO 8601 in UTC.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        details = json.dumps(dict(e.details), separators=(",", ":"), sort_keys=True,
                             ensure_ascii=False)
        row = (e.ts.isoformat(), e.actor, e.action, e.object_type, e.object_id, details)
        writer.writerow([safe_cell(value) for value in row])
    return out.getvalue()
