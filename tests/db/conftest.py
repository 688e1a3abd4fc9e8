"""The database tier runs every test on SQLite and on PostgreSQL, except those marked
``sqlite_only`` (they check something of SQLite's own: its storage form, pragmas, locks)."""

from __future__ import annotations

import pytest

from tests.postgres_server import parametrize_backend


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backend(metafunc, ["sqlite", "postgresql"])
