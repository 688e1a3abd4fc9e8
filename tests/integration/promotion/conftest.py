"""Promotion against real processes runs on SQLite and on PostgreSQL, as the database tier
does."""

from __future__ import annotations

import pytest

from tests.postgres_server import parametrize_backend


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backend(metafunc, ["sqlite", "postgresql"])
