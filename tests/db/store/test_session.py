"""The session helper, SQLite settings and the stale-schema refusal."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, func, select, text

from db.models import Model
from db.schema import SchemaError, check_schema, current_revision, head_revision, upgrade
from db.session import make_engine, session_scope
from services.settings import Settings


@pytest.mark.sqlite_only  # SQLite's pragmas, write lock and empty new file
def test_sqlite_runs_with_wal_and_foreign_keys(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000


def test_an_error_rolls_back_everything_in_the_scope(engine: Engine) -> None:
    def failing_write() -> None:
        with session_scope(engine, write=True) as session:
            session.add(Model(name="a", task="binary", class_labels=["x", "y"], feature_schema=[]))
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing_write()
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Model)) == 0


@pytest.mark.sqlite_only  # SQLite's pragmas, write lock and empty new file
def test_write_scopes_take_the_lock_up_front_so_writers_queue(engine: Engine) -> None:
    order: list[str] = []
    first_has_lock = threading.Event()

    def first() -> None:
        with session_scope(engine, write=True) as session:
            session.execute(text("SELECT 1"))
            first_has_lock.set()
            time.sleep(0.3)
            order.append("first")

    thread = threading.Thread(target=first)
    thread.start()
    assert first_has_lock.wait(60), "the first writer never got the lock"
    with session_scope(engine, write=True) as session:
        session.execute(text("SELECT 1"))
        order.append("second")
    thread.join()
    assert order == ["first", "second"]


@pytest.mark.sqlite_only  # SQLite's pragmas, write lock and empty new file
def test_an_unmigrated_database_is_refused_with_the_fix(settings: Settings) -> None:
    eng = make_engine(settings.resolved_database_url)
    with pytest.raises(SchemaError, match=r"python -m services\.cli init-db"):
        check_schema(eng)


def test_an_older_schema_is_refused_naming_both_revisions(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
    expected = f"at revision 0000 but this code needs {head_revision()}"
    with pytest.raises(SchemaError, match=expected):
        check_schema(engine)


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()
