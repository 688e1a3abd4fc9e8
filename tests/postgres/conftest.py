"""The PostgreSQL tier: ``settings`` and ``engine`` point at a fresh database on a real
PostgreSQL server instead of a SQLite file, so the store's code runs on the other dialect
it supports.

One server per test session (``tests.postgres_server``); the schema is migrated once into
a template database, and every test gets its own copy of it (``CREATE DATABASE ... TEMPLATE``,
a file copy), dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from db.schema import upgrade
from db.session import make_engine
from services.settings import Settings
from tests.postgres_server import PostgresServer, postgres_bin, start_postgres

TEMPLATE = "opsdash_template"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A running PostgreSQL server with a migrated template database."""
    bin_dir = postgres_bin()
    if bin_dir is None or (shutil.which("runuser") is None and os.geteuid() == 0):
        pytest.skip("Debian's postgresql is not installed; `make test` installs it")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("the psycopg driver is not installed; `make test` installs it")
    server = start_postgres(bin_dir)
    try:
        admin = create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {TEMPLATE}")
        admin.dispose()
        template = make_engine(server.url(TEMPLATE))
        upgrade(template)
        template.dispose()
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(tmp_path: Path, postgres: PostgresServer) -> Iterator[Settings]:
    """Settings whose store is a new database, a copy of the migrated template."""
    var = tmp_path / "var"
    var.mkdir()
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(postgres.url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        yield replace(Settings(), var_dir=str(var), database_url=postgres.url(name))
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        admin.dispose()


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """The test's PostgreSQL database (already at the head migration)."""
    eng = make_engine(settings.database_url)
    yield eng
    eng.dispose()
