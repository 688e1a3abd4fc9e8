"""The command line's parser: every subcommand has help and JSON output."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

import pytest

from services.cli import main as main_module
from services.cli.main import COMMANDS, main
from services.settings import Settings


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help_and_json(command: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command.split(), "--help"])
    assert exited.value.code == 0
    assert "--json" in capsys.readouterr().out


@pytest.mark.parametrize(("module", "name"), main_module._USER_ERRORS)
def test_every_user_error_names_an_exception_class(module: str, name: str) -> None:
    # Named, not imported, so that the parser loads nothing heavy: a rename must show here.
    assert issubclass(getattr(importlib.import_module(module), name), Exception)


def test_an_unusable_database_is_one_line_naming_the_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPSDASH_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("OPSDASH_DATABASE_URL", f"sqlite:///{tmp_path}")  # a folder, no file
    assert main(["models"]) == 2
    assert capsys.readouterr().err == (
        "error: the database cannot be used (unable to open database file); check "
        "OPSDASH_DATABASE_URL\n")


def test_a_bad_setting_is_one_line_naming_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPSDASH_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("OPSDASH_TIMEZONE", "Mars/Olympus")
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "OPSDASH_TIMEZONE" in err
    assert len(err.splitlines()) == 1


def test_a_failure_that_is_no_user_error_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
        raise RuntimeError("a bug")

    monkeypatch.setitem(COMMANDS, "models", (broken, print))
    with pytest.raises(RuntimeError, match="a bug"):
        main(["models"])
