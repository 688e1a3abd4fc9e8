"""insert_predictions' direct SQLite path stores what SQLAlchemy's own insert stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import StatementError

from db.models import Prediction
from db.repositories.predictions import insert_predictions
from db.session import session_scope
from tests.factories import make_model

T0 = datetime(2026, 11, 1, 12, 30, 15, 123456, tzinfo=UTC)
ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)),
         ZoneInfo("Europe/Berlin")]


def _rows(model_id: int, version_id: int, prefix: str) -> list[dict[str, Any]]:
    rows = []
    for i in range(12):
        at = (T0 + timedelta(days=40 * i, microseconds=-123456 * (i % 3 == 0)))
        rows.append({
            "id": f"{prefix}{(i * 7) % 12:02d}",  # not in id order
            "model_id": model_id, "version_id": version_id,
            "ts": at.astimezone(ZONES[i % len(ZONES)]),
            "features": {"tenure_months": 3.5 * i, "plan": "básico\n\"x\"", "n": i,
                         "tags": [None, True, 1e-7], "nested": {"k": 10**20}},
            "predicted_class": "churns",
            "scores": {"stays": 1 - i / 12, "churns": i / 12},
            "top_score": max(i / 12, 1 - i / 12), "latency_ms": 4.25,
        })
    return rows


def _stored(engine: Engine, prefix: str) -> list[tuple[Any, ...]]:
    """The rows as SQLite holds them (text times, JSON text), without the id's prefix."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT * FROM predictions WHERE id LIKE ? ORDER BY id", (f"{prefix}%",)).all()
    return [(row[0][len(prefix):], *row[1:]) for row in rows]


@pytest.mark.sqlite_only  # SQLite's own insert path and CAST; tests/postgres covers PostgreSQL's
def test_rows_are_stored_as_sqlalchemys_insert_stores_them(engine: Engine) -> None:
    model_id, version_id = make_model(engine)
    with session_scope(engine, write=True) as session:
        session.connection().execute(insert(Prediction), _rows(model_id, version_id, "core-"))
    with session_scope(engine, write=True) as session:
        assert insert_predictions(session=session,
                                  rows=_rows(model_id, version_id, "bulk-")) == 12
    bulk = _stored(engine, "bulk-")
    assert bulk == _stored(engine, "core-")
    assert bulk[0][3] == "2026-11-01 12:30:15.000000"  # naive UTC, microseconds always
    with session_scope(engine) as session:
        stored = session.get(Prediction, "bulk-07")
        assert stored is not None
        assert stored.ts == T0 + timedelta(days=40)  # row 1
        assert stored.features["plan"] == "básico\n\"x\""


@pytest.mark.parametrize(("change", "message"), [
    ({"ts": datetime(2026, 11, 1, 12)}, "naive datetime"),
    # SQLite's direct path, then SQLAlchemy's type on PostgreSQL's.
    ({"ts": "2026-11-01 12:00:00"}, "unsupported operand|has no attribute 'tzinfo'"),
    ({"features": {"when": T0}}, "not JSON serializable"),
    ({"scores": {("a", "b"): 0.5}}, "keys must be str"),
])
def test_a_refused_value_raises_statement_error_and_stores_nothing(
    engine: Engine, change: dict[str, Any], message: str
) -> None:
    model_id, version_id = make_model(engine)
    rows = _rows(model_id, version_id, "p-")
    rows[5] = {**rows[5], **change}
    with pytest.raises(StatementError, match=message), \
            session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=rows)
    missing = _rows(model_id, version_id, "q-")
    del missing[3]["latency_ms"]
    with pytest.raises(StatementError, match="latency_ms"), \
            session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=missing)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 0


@pytest.mark.sqlite_only  # SQLite's own insert path and CAST; tests/postgres covers PostgreSQL's
def test_the_score_band_is_the_top_score_in_whole_percent(engine: Engine) -> None:
    model_id, version_id = make_model(engine)
    rows = _rows(model_id, version_id, "p-")
    scores = [0.0, 0.004, 0.5, 0.50999, 0.51, 0.7, 0.999999, 1.0, 0.33, 0.335, 0.6, 0.9]
    for row, score in zip(rows, scores, strict=True):
        row["top_score"] = score
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=rows)
    with session_scope(engine) as session:
        bands = dict(session.execute(
            select(Prediction.top_score, Prediction.top_score_band)).all())
    assert bands == {0.0: 0, 0.004: 0, 0.5: 50, 0.50999: 50, 0.51: 51, 0.7: 70,
                     0.999999: 99, 1.0: 100, 0.33: 33, 0.335: 33, 0.6: 60, 0.9: 90}
