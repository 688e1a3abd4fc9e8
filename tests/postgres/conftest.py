"""Tests of PostgreSQL's own behaviour: their store is always a PostgreSQL database."""

from __future__ import annotations

import pytest

from tests.postgres_server import parametrize_backend


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backend(metafunc, ["postgresql"])
