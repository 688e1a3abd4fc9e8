"""The command line's parser: every subcommand has help and JSON output."""

from __future__ import annotations

import pytest

from services.cli.main import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help_and_json(command: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command.split(), "--help"])
    assert exited.value.code == 0
    assert "--json" in capsys.readouterr().out
