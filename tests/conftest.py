"""Fixtures shared by every test tier.

Each test that needs a store gets a fresh, migrated SQLite file in its own temp folder,
and settings pointing at that folder, so tests never touch ``var/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine

from db.schema import upgrade
from db.session import make_engine
from services.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose state folder is the test's temp folder."""
    var = tmp_path / "var"
    var.mkdir()
    return replace(Settings(), var_dir=str(var), database_url="")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """A fresh SQLite database at the head migration."""
    eng = make_engine(settings.resolved_database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


# One real stack per session, shared by the integration and browser tiers.
# The command line in-process, for the db tests of its commands.
from tests.cli_runner import run_cli  # noqa: E402
from tests.live_stack import live_stack  # noqa: E402

__all__ = ["engine", "live_stack", "run_cli", "settings"]
