"""db.bulk.executemany stores exactly what connection.execute(statement, rows) stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    Numeric,
    Table,
    bindparam,
    insert,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from db.bulk import executemany
from db.models import AuditLog, Feedback
from db.session import session_scope
from tests.factories import log_predictions, make_model

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _raw(engine: Engine) -> list[tuple[Any, ...]]:
    """The audit entries as SQLite holds them (text times, JSON text), ids left out."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT * FROM audit_log ORDER BY id").all()
    return [tuple(row)[1:] for row in rows]


def _entries(n: int) -> list[dict[str, Any]]:
    return [{"ts": T0 + timedelta(hours=i % 2), "actor": "ann", "action": "label",
             "object_type": "prediction", "object_id": f"p{i}",
             "details": {"new": "churns", "revision": i, "score": 0.25, "none": None}}
            for i in range(n)]


@pytest.mark.sqlite_only  # SQLite's storage form (times and JSON as text)
def test_rows_are_stored_as_connection_execute_stores_them(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        session.connection().execute(insert(AuditLog), _entries(5))
    with session_scope(engine, write=True) as session:
        assert executemany(session.connection(), insert(AuditLog), _entries(5)) == 5
    stored = _raw(engine)
    assert stored[5:] == stored[:5]
    assert [type(value) for value in stored[0]] == [str] * 6  # ts and details as text


def test_values_of_the_statement_itself_and_the_row_counts(engine: Engine) -> None:
    model_id, version_id = make_model(engine)
    ids = log_predictions(engine, model_id=model_id, version_id=version_id,
                          rows=[(T0, "stays", "stays")] * 3)
    bump = (update(Feedback)
            .where(Feedback.prediction_id == bindparam("b_id"),
                   Feedback.revision == bindparam("b_rev"))
            .values(label=bindparam("b_label"), revision=Feedback.revision + 1))
    with session_scope(engine, write=True) as session:
        changed = executemany(session.connection(), bump,
                              [{"b_id": ids[0], "b_rev": 1, "b_label": "churns"},
                               {"b_id": ids[1], "b_rev": 7, "b_label": "churns"},  # no match
                               {"b_id": ids[2], "b_rev": 1, "b_label": "churns"}])
    assert changed == 2
    with engine.connect() as connection:
        stored = dict(connection.exec_driver_sql(
            "SELECT prediction_id, label || ':' || revision FROM feedback").all())
    assert stored == {ids[0]: "churns:2", ids[1]: "stays:1", ids[2]: "churns:2"}


def test_a_constraint_error_is_raised_as_by_execute(engine: Engine) -> None:
    rows = _entries(2)
    rows[1]["actor"] = None
    with pytest.raises(IntegrityError), session_scope(engine, write=True) as session:
        executemany(session.connection(), insert(AuditLog), rows)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_log")).scalar() == 0


@pytest.mark.sqlite_only  # SQLite's storage form (times and JSON as text)
def test_equal_values_that_convert_differently_are_converted_each(engine: Engine) -> None:
    """Equal instants in two zones are two texts to a plain DateTime; 0.0 == -0.0."""
    probe = Table("bulk_probe", MetaData(), Column("id", Integer, primary_key=True),
                  Column("at", DateTime), Column("x", Float), Column("n", Numeric(4, 2)))
    probe.create(engine)
    plus_one = timezone(timedelta(hours=1))
    rows = [{"at": T0, "x": 0.0, "n": Decimal("1.5")},
            {"at": T0.astimezone(plus_one), "x": -0.0, "n": Decimal("1.50")},
            {"at": T0, "x": 0.0, "n": Decimal("1.5")}]
    with engine.begin() as connection:
        connection.execute(insert(probe), rows)
        assert executemany(connection, insert(probe), rows) == 3
        stored = connection.exec_driver_sql(
            "SELECT at, x, n FROM bulk_probe ORDER BY id").all()
    assert [tuple(r) for r in stored[3:]] == [tuple(r) for r in stored[:3]]
    assert stored[0][0] != stored[1][0]


def test_no_rows_run_nothing(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        assert executemany(session.connection(), insert(AuditLog), []) == 0
