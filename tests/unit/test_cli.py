"""The command line: help everywhere, one-line errors, JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli.main import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, var: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSDASH_VAR_DIR": str(var), "OPSDASH_DATABASE_URL": ""}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_command_line_has_help(tmp_path: Path) -> None:
    result = _run("--help", var=tmp_path)
    assert result.returncode == 0
    assert all(command.split()[0] in result.stdout for command in COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help_and_json(command: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command.split(), "--help"])
    assert exited.value.code == 0
    assert "--json" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["bogus"], ["models", "--nope"], []])
def test_bad_arguments_exit_non_zero_with_one_line(args: list[str], tmp_path: Path) -> None:
    result = _run(*args, var=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_commands_refuse_an_unmigrated_database_naming_the_fix(tmp_path: Path) -> None:
    result = _run("models", var=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: the database has no opsdash schema yet: run `python -m services.cli init-db`"
    )


def test_init_db_then_models_lists_nothing_as_json(tmp_path: Path) -> None:
    assert _run("init-db", var=tmp_path).returncode == 0
    result = _run("models", "--json", var=tmp_path)
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"models": []}
