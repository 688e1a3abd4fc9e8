"""The database tier runs every test on SQLite and on PostgreSQL, except those marked
``sqlite_only`` (they check something of SQLite's own: its storage form, pragmas, locks)."""

from __future__ import annotations

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
    metafunc.parametrize("backend", ["sqlite"] if only_sqlite else ["sqlite", "postgresql"],
                         indirect=True)
