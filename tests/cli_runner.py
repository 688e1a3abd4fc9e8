"""The command line run in-process on a test's store (a fixture shared by the db tests)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from services.cli import main as cli
from services.settings import Settings

#: ``run_cli("metrics", "--model", "m")`` → ``(exit status, stdout, stderr)``.
RunCli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run_cli(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Run the command line in-process on the test store; returns (status, stdout, stderr)."""
    monkeypatch.setenv("OPSDASH_VAR_DIR", settings.var_dir)
    # Empty: the SQLite file in the var folder; the PostgreSQL tier sets its database's URL.
    monkeypatch.setenv("OPSDASH_DATABASE_URL", settings.database_url)

    def run(*args: str) -> tuple[int, str, str]:
        status = cli.main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return run
