"""Demo accounts: one per role, with random passwords the launcher shows to the user.

The passwords are kept in ``<var_dir>/demo-accounts.txt`` (mode 0600) so later starts of the
demo can show them again; nothing here runs outside the demo.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import Engine

from db.repositories import users as users_repo
from db.session import session_scope
from services.access.principal import SYSTEM
from services.access.roles import Role
from services.auth.names import UserError
from services.auth.passwords import PasswordPolicyError, check_password_policy
from services.auth.users import create_user
from services.settings import Settings

__all__ = [
    "DEMO_ACCOUNTS_FILE",
    "DEMO_USERS",
    "demo_accounts_path",
    "ensure_demo_users",
    "random_password",
]

#: File under ``var_dir`` listing the demo accounts and their passwords.
DEMO_ACCOUNTS_FILE = "demo-accounts.txt"
#: The demo's accounts: user name and role, one per role.
DEMO_USERS: tuple[tuple[str, Role], ...] = tuple((role.value, role) for role in Role)
_HEADER = "# opsdash demo accounts: user name, role, password (tab-separated)\n"


def demo_accounts_path(settings: Settings) -> Path:
    """Where the demo accounts file lives."""
    return Path(settings.var_dir) / DEMO_ACCOUNTS_FILE


def random_password(username: str) -> str:
    """A random password for ``username`` that the password policy accepts.

    Sixteen random URL-safe characters pass nearly always; one that happens to hold the user
    name (or another refused pattern) is drawn again.
    """
    while True:
        password = secrets.token_urlsafe(12)
        try:
            check_password_policy(password, username=username)
        except PasswordPolicyError:
            continue
        return password


def _read(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    passwords = {}
    for line in lines:
        fields = line.split("\t")
        if len(fields) == 3 and not line.startswith("#"):
            passwords[fields[0]] = fields[2]
    return passwords


def _write(path: Path, accounts: list[tuple[str, str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(_HEADER)
        out.writelines(f"{name}\t{role}\t{password}\n" for name, role, password in accounts)
    partial.replace(path)


def ensure_demo_users(*, engine: Engine, settings: Settings) -> list[tuple[str, str, str]]:
    """Create the missing demo accounts; return every one as ``(username, role, password)``.

    Accounts that exist already are left alone; their password is the one in the accounts
    file, or ``""`` when it is not known there (e.g. an account created with the command
    line). Returned in role order: admin, operator, analyst, labeler.
    """
    path = demo_accounts_path(settings)
    known = _read(path)
    with session_scope(engine) as session:
        existing = {name for name, _ in DEMO_USERS
                    if users_repo.by_username(session=session, username=name) is not None}
    missing = {name: random_password(name) for name, _ in DEMO_USERS if name not in existing}
    accounts = [(name, role.value, missing.get(name) or known.get(name, ""))
                for name, role in DEMO_USERS]
    if missing:
        # Written before the accounts exist, so a created account's password is never lost.
        _write(path, accounts)
    lost = set()
    for name, role in DEMO_USERS:
        if name in missing:
            try:
                create_user(engine=engine, actor=SYSTEM, username=name, role=role,
                            password=missing[name])
            except UserError:  # created meanwhile by someone else: our password is not its
                lost.add(name)
    if lost:
        accounts = [(name, role, "" if name in lost else pw) for name, role, pw in accounts]
        _write(path, accounts)
    return accounts
