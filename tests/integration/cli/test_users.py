"""``users`` and ``demo-users`` on the command line: passwords never in argv, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.settings import PROJECT_ROOT

ROOT = PROJECT_ROOT


def _run(*args: str, var: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSDASH_VAR_DIR": str(var), "OPSDASH_DATABASE_URL": ""}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def var(tmp_path: Path) -> Path:
    assert _run("init-db", var=tmp_path).returncode == 0
    return tmp_path


def _fails_with(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {message}"]


@pytest.mark.parametrize(
    "args",
    [["users"], ["users", "add"], ["users", "list"], ["users", "set-role"], ["users", "disable"],
     ["users", "enable"], ["users", "set-password"], ["demo-users"]],
)
def test_every_users_subcommand_has_help(args: list[str], tmp_path: Path) -> None:
    result = _run(*args, "--help", var=tmp_path)
    assert result.returncode == 0
    assert "usage:" in result.stdout
    if args != ["users"]:
        assert "--json" in result.stdout


def test_no_option_takes_a_password() -> None:
    help_text = _run("users", "add", "--help", var=ROOT / "unused").stdout
    assert "never taken from the command line" in help_text
    assert "--password " not in help_text


def test_a_user_added_with_a_password_on_stdin_is_listed(var: Path) -> None:
    added = _run("users", "add", "Grace", "--role", "operator", "--email", "grace@x.org",
                 var=var, stdin="a-long-password\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "created grace (operator, e-mail grace@x.org)"
    listed = _run("users", "list", "--json", var=var)
    assert listed.returncode == 0
    [user] = json.loads(listed.stdout)["users"]
    assert {k: user[k] for k in ("username", "role", "email", "disabled", "has_password")} == {
        "username": "grace", "role": "operator", "email": "grace@x.org", "disabled": False,
        "has_password": True}
    assert "a-long-password" not in listed.stdout


def test_a_short_password_is_refused_with_the_policy(var: Path) -> None:
    result = _run("users", "add", "ann", "--role", "operator", var=var, stdin="short\n")
    _fails_with(result, "the password must be at least 10 characters long")
    assert json.loads(_run("users", "list", "--json", var=var).stdout) == {"users": []}


@pytest.mark.parametrize(
    ("args", "password", "reason"),
    [(["users", "add", "ann", "--role", "operator"], "password12",
      "the password is one of the most common passwords"),
     (["users", "add", "ann", "--role", "operator"], "ann-at-work-2026",
      "the password must not contain the user name"),
     (["users", "set-password", "bob"], "1234567890",
      "the password is a straight run of letters, digits or keys"),
     (["users", "set-password", "bob"], "zzzzzzzzzzzz",
      "the password is one character or a short group repeated")],
)
def test_a_weak_password_is_refused_with_the_reason_and_what_to_do(
    var: Path, args: list[str], password: str, reason: str
) -> None:
    assert _run("users", "add", "bob", "--role", "analyst", "--no-password",
                var=var).returncode == 0
    result = _run(*args, var=var, stdin=f"{password}\n")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {reason}")
    assert "password manager" in line
    users = json.loads(_run("users", "list", "--json", var=var).stdout)["users"]
    assert [(u["username"], u["has_password"]) for u in users] == [("bob", False)]


def test_a_missing_password_is_refused(var: Path) -> None:
    _fails_with(_run("users", "add", "ann", "--role", "operator", var=var, stdin=""),
                "no password on standard input: pipe one line, or run in a terminal")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "add", "ann", "--role", "root"],
         "unknown role 'root': choose one of admin, operator, analyst, labeler"),
        (["users", "add", "ann smith", "--role", "analyst"],
         "user name 'ann smith' must start with a letter or digit and hold only letters, "
         "digits and . _ - @"),
        (["users", "set-role", "ghost", "admin"], "no user named 'ghost'"),
        (["users", "disable", "ghost"], "no user named 'ghost'"),
        (["users", "set-password", "ghost"], "no user named 'ghost'"),
    ],
)
def test_bad_requests_fail_in_one_line(var: Path, args: list[str], message: str) -> None:
    _fails_with(_run(*args, var=var, stdin="a-long-password\n"), message)


def test_changes_are_made_and_audited_as_cli(var: Path) -> None:
    assert _run("users", "add", "ann", "--role", "admin", var=var,
                stdin="a-long-password\n").returncode == 0
    sso_only = _run("users", "add", "bob", "--role", "labeler", "--no-password", var=var)
    assert sso_only.returncode == 0
    assert _run("users", "set-role", "bob", "analyst", var=var).stdout == "bob is now analyst\n"
    assert _run("users", "disable", "bob", var=var).stdout == "bob is disabled\n"
    assert _run("users", "enable", "BOB", var=var).stdout == "bob is enabled\n"
    assert _run("users", "set-password", "bob", var=var,
                stdin="brass-lantern-7\n").stdout == "bob: password set\n"
    assert _run("users", "end-sessions", "Bob", var=var).stdout == (
        "every session of bob has ended\n")
    _fails_with(_run("users", "end-sessions", "nobody", var=var), "no user named 'nobody'")
    _fails_with(_run("users", "disable", "ann", var=var),
                "'ann' is the last enabled admin and cannot be disabled; "
                "make another user admin first")
    listed = json.loads(_run("users", "list", "--json", var=var).stdout)["users"]
    users = {u["username"]: u for u in listed}
    assert (users["bob"]["role"], users["bob"]["has_password"]) == ("analyst", True)

    from db.session import make_engine
    from services.access import CLI
    from services.audit import query_audit

    engine = make_engine(f"sqlite:///{var / 'opsdash.db'}")
    entries = query_audit(engine=engine, actor=CLI)
    engine.dispose()
    assert {e.actor for e in entries} == {"cli"}
    assert [e.action for e in reversed(entries)] == [
        "create_user", "create_user", "set_role", "disable_user", "enable_user", "set_password",
        "end_sessions"]


def test_demo_users_are_created_once_and_reported_again(var: Path) -> None:
    first = _run("demo-users", "--json", var=var)
    assert first.returncode == 0, first.stderr
    accounts = json.loads(first.stdout)["accounts"]
    assert [(a["username"], a["role"]) for a in accounts] == [
        ("admin", "admin"), ("operator", "operator"), ("analyst", "analyst"),
        ("labeler", "labeler")]
    assert all(len(a["password"]) >= 10 for a in accounts)
    again = json.loads(_run("demo-users", "--json", var=var).stdout)["accounts"]
    assert again == accounts
