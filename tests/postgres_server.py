"""A throwaway PostgreSQL server: the database tier runs on it as well as on SQLite.

Debian's own binaries (``make test`` installs the ``postgresql`` package; its system
service stays off) run a fresh cluster in a temporary folder, on a free loopback port and
a socket in that folder, with trust authentication for the one local user ``opsdash``.
Durability is switched off: the cluster lives for one test session (one per parallel
worker). As root the server runs as Debian's ``postgres`` user, because PostgreSQL refuses
to run as root.

The folder is in memory (``/dev/shm``) where that has room: every test gets its own
database, and ``CREATE DATABASE`` writes the template's files out, which took 0.35 to 0.4 s
on a 2-core machine's disk and takes 10 to 15 ms in memory (docs/testing.md).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine

from db.schema import upgrade
from db.session import make_engine
from devstack.processes import free_loopback_port

__all__ = ["PostgresServer", "fresh_database", "parametrize_backend", "postgres",
           "postgres_bin", "start_postgres"]

USER = "opsdash"


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb``, if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


@dataclass(frozen=True)
class PostgresServer:
    """A running cluster: ``url(name)`` is SQLAlchemy's URL of database ``name`` on it."""

    port: int
    folder: Path
    bin: Path

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    @cached_property
    def admin(self) -> Engine:
        """The engine that creates and drops the tests' databases, made once: a new engine
        per test cost two connections and the driver's first-connect queries each time."""
        return create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")

    def stop(self) -> None:
        if "admin" in self.__dict__:
            self.admin.dispose()
        _run(self.bin / "pg_ctl", ["-D", str(self.folder / "data"), "-m", "immediate", "-w",
                                   "stop"], check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def _owner_prefix() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(program: Path, args: Sequence[str], *, check: bool = True) -> None:
    # From "/": the postgres user may not be allowed into the current folder.
    done = subprocess.run([*_owner_prefix(), str(program), *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd="/")
    if check and done.returncode != 0:
        raise RuntimeError(f"{program.name} failed: {done.stderr.strip() or done.stdout}")


#: Where a cluster goes when there is room: memory, not disk.
IN_MEMORY = Path("/dev/shm")
#: Room the in-memory folder must have left (a container's is often 64 MB).
IN_MEMORY_ROOM = 1 << 30


def _cluster_parent() -> Path | None:
    """The in-memory folder if it exists, is writable and has room; else the temp folder."""
    try:
        if os.access(IN_MEMORY, os.W_OK) and shutil.disk_usage(IN_MEMORY).free >= IN_MEMORY_ROOM:
            return IN_MEMORY
    except OSError:
        pass
    return None


def start_postgres(bin_dir: Path) -> PostgresServer:
    """Initialise and start a cluster; raises ``RuntimeError`` with PostgreSQL's reason."""
    folder = Path(tempfile.mkdtemp(prefix="opsdash-postgres-", dir=_cluster_parent()))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data = folder / "data"
    port = free_loopback_port()
    try:
        _run(bin_dir / "initdb", ["-D", str(data), "-U", USER, "--auth=trust",
                                  "--encoding=UTF8", "--no-locale"])
        # Each new database writes the template to the write-ahead log: a small log keeps
        # the folder small (checkpoints are cheap when nothing is synced to disk).
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60 "
                   "-c max_wal_size=64MB -c min_wal_size=32MB")
        _run(bin_dir / "pg_ctl", ["-D", str(data), "-o", options, "-l",
                                  str(folder / "server.log"), "-w", "-t", "60", "start"])
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return PostgresServer(port=port, folder=folder, bin=bin_dir)


TEMPLATE = "opsdash_template"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A running PostgreSQL server for the test session, with a migrated template database.

    Skips, saying why, where Debian's postgresql or the driver is not installed.
    """
    bin_dir = postgres_bin()
    if bin_dir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("Debian's postgresql is not installed; `make test` installs it")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("the psycopg driver is not installed; `make test` installs it")
    server = start_postgres(bin_dir)
    try:
        with _admin(server) as admin:
            admin.exec_driver_sql(f"CREATE DATABASE {TEMPLATE}")
        template = make_engine(server.url(TEMPLATE))
        upgrade(template)
        template.dispose()
        yield server
    finally:
        server.stop()


@contextmanager
def _admin(server: PostgresServer) -> Iterator[Connection]:
    with server.admin.connect() as connection:
        yield connection


@contextmanager
def fresh_database(server: PostgresServer) -> Iterator[str]:
    """A new database, a copy of the migrated template (a file copy); its URL. Dropped after."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    with _admin(server) as admin:
        admin.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    try:
        yield server.url(name)
    finally:
        with _admin(server) as admin:
            admin.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def parametrize_backend(metafunc: pytest.Metafunc, backends: Sequence[str]) -> None:
    """Run each test that uses the store (the ``backend`` fixture) once per backend; a test
    marked ``sqlite_only`` runs on SQLite alone."""
    if "backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("sqlite_only") is not None:
        backends = [b for b in backends if b == "sqlite"]
    metafunc.parametrize("backend", list(backends), indirect=True)
