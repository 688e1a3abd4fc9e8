"""The SQLite store and its write-ahead log are the owner's alone (0600), even when the
process's umask would let others read them, and an existing store open to others is fixed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from db.schema import upgrade
from db.session import make_engine, session_scope
from tests.factories import file_mode

pytestmark = pytest.mark.sqlite_only  # SQLite's own files


def test_a_new_store_and_its_wal_are_owner_only(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "var" / "opsdash.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        with session_scope(engine, write=True) as session:
            session.execute(text("CREATE TABLE probe (x INTEGER)"))
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        assert wal.exists()
        assert shm.exists()
        assert {p.name: file_mode(p) for p in (path, wal, shm)} == {
            "opsdash.db": 0o600, "opsdash.db-wal": 0o600, "opsdash.db-shm": 0o600}
        assert file_mode(path.parent) == 0o700  # the folder the store created
    finally:
        engine.dispose()


def test_an_existing_store_readable_by_others_is_made_owner_only(
    tmp_path: Path, open_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "opsdash.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    for name in (path, Path(f"{path}-wal")):
        name.touch()
        name.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        engine = make_engine(f"sqlite:///{path}")
    engine.dispose()
    assert file_mode(path) == 0o600
    assert file_mode(Path(f"{path}-wal")) == 0o600
    assert f"{path} was readable or writable by others (0644); it is now 0600" in caplog.text
