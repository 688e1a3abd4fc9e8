"""Engine factory and the one session helper.

SQLite gets WAL (checkpointed every :data:`WAL_AUTOCHECKPOINT_PAGES` pages), a busy
timeout, foreign keys, and ``BEGIN IMMEDIATE`` for sessions that write, so concurrent
writers queue on the lock instead of failing half-way.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

logger = logging.getLogger("opsdash.files")

__all__ = ["BUSY_TIMEOUT_MS", "make_engine", "session_scope"]

#: How long a SQLite writer waits for the lock before giving up (``make_engine`` can set
#: another, so that a test of what happens after the wait need not wait this long).
BUSY_TIMEOUT_MS = 5000
#: Write-ahead log pages (4 KiB each) before a commit copies them into the database file.
#: SQLite's default, 1,000 pages, is less than one 10,000-prediction batch writes, so bulk
#: logging checkpointed (two fsyncs, and the same index pages copied again) after every
#: commit; at 10,000 pages (about 40 MB of log) it does so about every tenth batch.
WAL_AUTOCHECKPOINT_PAGES = 10_000
_WRITE_OPTION = "opsdash_write"


def _install_sqlite_pragmas(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below) instead of pysqlite's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _owner_only_store(path: Path) -> None:
    """Create the SQLite file owner-only (0600), and make an existing one and its
    ``-wal``/``-shm`` files so; SQLite gives the files it adds the database file's mode.

    The store holds password hashes and the audit log. A file open to others is fixed
    (ours) and a warning names it; its folder, when created here, is 0700.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            info = file.stat()
        except FileNotFoundError:
            continue
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077 and info.st_uid == os.getuid():
            file.chmod(mode & ~0o077)
            logger.warning("%s was readable or writable by others (%04o); it is now %04o",
                           file, mode, mode & ~0o077)


def make_engine(url: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, **kwargs: Any) -> Engine:
    """Create an engine; for SQLite, create the file owner-only (0600) and set the pragmas.

    Args:
        url: SQLAlchemy database URL.
        busy_timeout_ms: SQLite only: how long a connection waits for another writer's lock
            before it fails with "database is locked".
        **kwargs: passed to :func:`sqlalchemy.create_engine`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            _owner_only_store(Path(database))
        kwargs.setdefault("connect_args", {})
        # The driver's own timeout is the lock wait on connect-level operations.
        kwargs["connect_args"].setdefault("timeout", busy_timeout_ms / 1000)
        kwargs["connect_args"].setdefault("check_same_thread", False)
        engine = create_engine(url, **kwargs)
        _install_sqlite_pragmas(engine, busy_timeout_ms)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """A session that commits on success, rolls back and re-raises on error, always closes.

    Args:
        engine: the engine to use.
        write: take the write lock at the start (SQLite ``BEGIN IMMEDIATE``), so the
            transaction cannot fail half-way on a lock upgrade.
    """
    bind = engine.execution_options(**{_WRITE_OPTION: True}) if write else engine
    session = Session(bind=bind, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
