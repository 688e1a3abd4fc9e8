"""The command line as a real process: help, one-line errors, exit statuses, JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.cli.main import COMMANDS
from services.settings import PROJECT_ROOT

ROOT = PROJECT_ROOT


def _run(*args: str, var: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSDASH_VAR_DIR": str(var), "OPSDASH_DATABASE_URL": ""}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_command_line_has_help(tmp_path: Path) -> None:
    result = _run("--help", var=tmp_path)
    assert result.returncode == 0
    assert all(command.split()[0] in result.stdout for command in COMMANDS)


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


def test_drift_exits_3_on_a_drifted_dataset_with_fail_on_drift(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    reference = tmp_path / "reference.csv"
    current = tmp_path / "current.csv"
    pd.DataFrame({"tenure": rng.normal(0, 1, 2000), "charges": rng.normal(0, 1, 2000)}
                 ).to_csv(reference, index=False)
    pd.DataFrame({"tenure": rng.normal(1, 1, 2000), "charges": rng.normal(0, 1, 2000)}
                 ).to_csv(current, index=False)
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPSDASH_DRIFT_CONFIG_FILE", "OPSDASH_DRIFT_SHARE")}
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "drift", "--reference", str(reference),
         "--current", str(current), "--drift-share", "0.5", "--fail-on-drift", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 3, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["dataset"]["drifted_columns"] == 1
