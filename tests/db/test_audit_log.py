"""The audit log: written in the caller's transaction, read with filters, never edited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.exc import DatabaseError

from db.models import AuditLog
from db.session import session_scope
from services.access import PermissionDenied, Principal, Role
from services.audit import audit_actors, query_audit, record, record_many

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
ADMIN = Principal(username="ada", role=Role.ADMIN)
OPERATOR = Principal(username="otto", role=Role.OPERATOR)


def _seed(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        record(session=session, actor="otto", action="promote", object_type="model_version",
               object_id="churn:v2", details={"reason": "better"}, at=T0)
        record(session=session, actor="ada", action="create_user", object_type="user",
               object_id="lena", at=T0 + timedelta(hours=1))
        record(session=session, actor="otto", action="rollback", object_type="model_version",
               object_id="churn:v1", at=T0 + timedelta(hours=2))


def _count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(AuditLog)) or 0


def test_entries_come_back_newest_first_with_their_details(engine: Engine) -> None:
    _seed(engine)
    entries = query_audit(engine=engine, actor=ADMIN)
    assert [e.action for e in entries] == ["rollback", "create_user", "promote"]
    promote = entries[-1]
    assert (promote.actor, promote.object_type, promote.object_id) == (
        "otto", "model_version", "churn:v2")
    assert promote.details == {"reason": "better"}
    assert promote.ts == T0


def test_filters_combine(engine: Engine) -> None:
    _seed(engine)
    by_otto = query_audit(engine=engine, actor=OPERATOR, who="otto")
    assert [e.action for e in by_otto] == ["rollback", "promote"]
    assert [e.object_id for e in query_audit(engine=engine, actor=ADMIN, action="promote")] == [
        "churn:v2"]
    window = query_audit(engine=engine, actor=ADMIN, since=T0 + timedelta(minutes=30),
                         until=T0 + timedelta(hours=2))
    assert [e.action for e in window] == ["create_user"]
    assert len(query_audit(engine=engine, actor=ADMIN, limit=1)) == 1
    assert query_audit(engine=engine, actor=ADMIN, who="nobody") == []


def test_the_actor_list_feeds_the_who_filter(engine: Engine) -> None:
    _seed(engine)
    assert audit_actors(engine=engine, actor=OPERATOR) == ["ada", "otto"]


@pytest.mark.parametrize("reader", [
    None,
    Principal(username="al", role=Role.ANALYST),
    Principal(username="lee", role=Role.LABELER),
])
def test_only_admins_and_operators_read_the_log(engine: Engine, reader: Principal | None) -> None:
    with pytest.raises(PermissionDenied):
        query_audit(engine=engine, actor=reader)
    with pytest.raises(PermissionDenied):
        audit_actors(engine=engine, actor=reader)


def test_bad_query_bounds_are_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="limit"):
        query_audit(engine=engine, actor=ADMIN, limit=0)
    with pytest.raises(ValueError, match="timezone-aware"):
        query_audit(engine=engine, actor=ADMIN, since=datetime(2026, 1, 1))


def test_an_entry_rolls_back_with_the_change_it_records(engine: Engine) -> None:
    def failing_change() -> None:
        with session_scope(engine, write=True) as session:
            record(session=session, actor="ada", action="promote")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert _count(engine) == 0


def _record(engine: Engine, **fields: Any) -> None:
    with session_scope(engine, write=True) as session:
        record(session=session, **fields)


def test_details_must_be_json(engine: Engine) -> None:
    with pytest.raises(ValueError, match="JSON"):
        _record(engine, actor="ada", action="promote", details={"when": T0})
    with pytest.raises(ValueError, match="not valid"):
        _record(engine, actor="ada", action="")
    assert _count(engine) == 0


def test_long_actor_names_are_cut_to_the_column(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        record(session=session, actor="x" * 500, action="sign_in_failed", object_id="y" * 500)
    [entry] = query_audit(engine=engine, actor=ADMIN)
    assert (len(entry.actor), len(entry.object_id)) == (100, 100)


def test_record_many_writes_one_entry_per_object_in_order(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        written = record_many(session=session, actor="x" * 500, action="label",
                              object_type="prediction", at=T0,
                              entries=[("p1", {"new": "a", "score": 0.5, "ok": True}),
                                       ("y" * 500, {"pair": (1, 2)}),
                                       ("p3", None)])
        assert record_many(session=session, actor="ada", action="label", entries=[]) == 0
    assert written == 3
    entries = sorted(query_audit(engine=engine, actor=ADMIN), key=lambda e: e.id)
    assert [(e.ts, len(e.actor), e.action, e.object_type, e.object_id[:2], dict(e.details))
            for e in entries] == [
        (T0, 100, "label", "prediction", "p1", {"new": "a", "score": 0.5, "ok": True}),
        (T0, 100, "label", "prediction", "yy", {"pair": [1, 2]}),  # what JSON holds
        (T0, 100, "label", "prediction", "p3", {}),
    ]
    assert len(entries[1].object_id) == 100


@pytest.mark.parametrize(("details", "message"), [
    ({"when": T0}, "not JSON-serialisable"),
    ({"score": float("nan")}, "not JSON-serialisable"),
    ({1: "int key"}, None),  # allowed: JSON makes the key a string, as record() does
])
def test_record_many_checks_every_entry_before_writing(
    engine: Engine, details: dict[Any, Any], message: str | None
) -> None:
    entries = [("p1", {"ok": 1}), ("p2", details)]
    if message is None:
        with session_scope(engine, write=True) as session:
            record_many(session=session, actor="ada", action="label", entries=entries)
        assert [dict(e.details) for e in sorted(query_audit(engine=engine, actor=ADMIN),
                                               key=lambda e: e.id)] == [{"ok": 1}, {"1": "int key"}]
        return
    with pytest.raises(ValueError, match=message), \
            session_scope(engine, write=True) as session:
        record_many(session=session, actor="ada", action="label", entries=entries)
    with pytest.raises(ValueError, match="not valid"), \
            session_scope(engine, write=True) as session:
        record_many(session=session, actor="ada", action="", entries=entries)
    assert _count(engine) == 0


@pytest.mark.parametrize("statement", [
    update(AuditLog).values(actor="someone else"),
    delete(AuditLog),
])
def test_the_database_refuses_to_edit_or_delete_entries(engine: Engine, statement: object) -> None:
    _seed(engine)

    def tamper() -> None:
        with session_scope(engine, write=True) as session:
            session.execute(statement)  # type: ignore[call-overload]

    with pytest.raises(DatabaseError, match="append-only"):
        tamper()
    assert _count(engine) == 3
    with session_scope(engine) as session:
        assert session.scalar(select(AuditLog.actor).where(AuditLog.action == "promote")) == "otto"


@pytest.mark.sqlite_only  # SQLite's catalogue; tests/postgres checks PostgreSQL's triggers
def test_the_guard_is_in_the_schema_itself(engine: Engine) -> None:
    with engine.connect() as conn:
        names = set(conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'"
        )).scalars())
    assert names == {"trg_audit_log_no_update", "trg_audit_log_no_delete"}
