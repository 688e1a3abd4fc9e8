"""The set-up scripts and Make targets behind `make demo` and `make test`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.settings import PROJECT_ROOT

SCRIPTS = PROJECT_ROOT / "scripts"
FAKE_PYTHON = """#!/bin/sh
# Stands in for a venv's python: records pip calls instead of installing anything.
case "$1" in
  --version) echo "Python 3.11.99" ;;
  -m) echo "$*" >> "$(dirname "$0")/../pip-calls.log" ;;
esac
exit 0
"""


@pytest.fixture
def fake_venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    python = venv / "bin" / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return venv


def _sync(venv: Path, requirements: Path) -> list[str]:
    subprocess.run(
        ["bash", str(SCRIPTS / "venv.sh"), str(venv), str(requirements)],
        env={**os.environ, "PYTHON": sys.executable},
        check=True,
        capture_output=True,
        timeout=60,
    )
    log = venv / "pip-calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_requirements_are_installed_again_only_when_a_file_changes(
    tmp_path: Path, fake_venv: Path
) -> None:
    base = tmp_path / "requirements.txt"
    dev = tmp_path / "requirements-dev.txt"
    base.write_text("requests==2.0\n")
    dev.write_text("-r requirements.txt\npytest==9.0\n")

    assert len(_sync(fake_venv, dev)) == 1  # first time: installed
    assert len(_sync(fake_venv, dev)) == 1  # nothing changed: pip not run
    base.write_text("requests==2.1\n")  # an included file changed
    assert len(_sync(fake_venv, dev)) == 2
    assert len(_sync(fake_venv, base)) == 3  # each file has its own stamp
    assert len(_sync(fake_venv, base)) == 3
    assert "pip install" in _sync(fake_venv, base)[-1]


def test_a_folder_that_is_not_a_venv_is_left_alone(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("x")
    req = tmp_path / "requirements.txt"
    req.write_text("")

    result = subprocess.run(
        ["bash", str(SCRIPTS / "venv.sh"), str(precious), str(req)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "not a virtual environment" in result.stderr
    assert (precious / "keep.txt").exists()


@pytest.mark.parametrize("script", ["scripts/apt-install.sh", "scripts/venv.sh", ".ci/run"])
def test_shell_scripts_parse_and_are_executable(script: str) -> None:
    path = PROJECT_ROOT / script
    assert os.access(path, os.X_OK), f"{script} is not executable"
    subprocess.run(["bash", "-n", str(path)], check=True, timeout=10)


def test_apt_install_does_nothing_for_installed_packages() -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("not a Debian system (no dpkg-query)")
    result = subprocess.run(
        ["bash", str(SCRIPTS / "apt-install.sh"), "bash", "coreutils"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout == ""


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("demo", "-m devstack demo"),
        ("demo-reset", "-m devstack demo --reset"),
        ("test", "bin/pytest"),
        ("lint", "bin/mypy"),
        ("setup", "scripts/venv.sh"),
        ("setup-dev", "requirements-dev.txt"),
        ("clean", "rm -rf"),
    ],
)
def test_make_targets_exist(target: str, expected: str) -> None:
    result = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", target],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
