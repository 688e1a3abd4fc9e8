"""Tests of PostgreSQL's own behaviour: their store is always a PostgreSQL database."""

from __future__ import annotations

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", ["postgresql"], indirect=True)
