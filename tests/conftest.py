"""Fixtures shared by every test tier.

Each test that needs a store gets a fresh, migrated store and settings pointing at its own
temp folder, so tests never touch ``var/``. The store is a SQLite file (a copy of one
migrated once per session), or, where a folder parametrizes ``backend`` (``tests/db`` runs
every test on both, ``tests/postgres`` on PostgreSQL only), a fresh database on a real
PostgreSQL server (``tests.postgres_server``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine

from db.schema import upgrade
from db.session import make_engine
from services.settings import Settings


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` unless the test is parametrized with ``postgresql``."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings whose state folder is the test's temp folder, and whose store is the
    default SQLite file there or a fresh PostgreSQL database (already migrated)."""
    var = tmp_path / "var"
    var.mkdir()
    if backend == "sqlite":
        yield Settings(var_dir=str(var), database_url="")
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    with fresh_database(server) as url:
        yield Settings(var_dir=str(var), database_url=url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store at the head migration, made once per session (and parallel worker).

    Copying it takes a millisecond; migrating a new file took 50 to 70 ms, for each of the
    hundreds of tests that use a SQLite store.
    """
    path = tmp_path_factory.mktemp("sqlite-template") / "opsdash.db"
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    eng.dispose()  # the last connection's close writes the write-ahead log into the file
    assert not path.with_name(f"{path.name}-wal").exists()
    return path


@pytest.fixture
def engine(settings: Settings, backend: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The test's store at the head migration (a copy of the migrated SQLite file, or a
    PostgreSQL copy of the migrated template)."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        store = Path(settings.var_dir) / "opsdash.db"
        shutil.copyfile(template, store)
        store.chmod(0o600)  # as the store makes itself (else make_engine fixes it, warning)
    eng = make_engine(settings.resolved_database_url)
    yield eng
    eng.dispose()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups off the items
def pytest_collection_modifyitems(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    """Tests that share an expensive fixture run on one parallel worker (``tests.parallel``)."""
    group_shared_fixtures(config, items)


# One real stack per session, shared by the integration and browser tiers.
# The command line in-process, for the db tests of its commands.
from tests.cli_runner import run_cli  # noqa: E402
from tests.live_stack import live_stack  # noqa: E402
from tests.parallel import group_shared_fixtures  # noqa: E402
from tests.postgres_server import PostgresServer, fresh_database, postgres  # noqa: E402

__all__ = ["backend", "engine", "live_stack", "postgres", "run_cli", "settings", "sqlite_template"]


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common default umask, which leaves new files readable by everyone."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)
