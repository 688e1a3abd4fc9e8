"""The audit repository's latest entry of an actor and action: the newest by time, and
of entries at the same time the one written last."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from db.repositories import audit as audit_repo
from db.session import session_scope

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_the_latest_details_are_those_of_the_newest_entry_written_last(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        assert audit_repo.latest_details(session=session, actor="eve", action="x") is None
        for actor, action, n, at in [("eve", "x", 1, T0), ("eve", "x", 2, T0 + timedelta(1)),
                                     ("eve", "x", 3, T0 + timedelta(1)),
                                     ("eve", "x", 0, T0 - timedelta(1)),
                                     ("eve", "y", 9, T0 + timedelta(2)),
                                     ("bob", "x", 8, T0 + timedelta(2))]:
            audit_repo.append(session=session, actor=actor, action=action,
                              details={"n": n}, at=at)
    with session_scope(engine) as session:
        assert audit_repo.latest_details(session=session, actor="eve", action="x") == {"n": 3}
