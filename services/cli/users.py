"""``users …`` and ``demo-users``: accounts, managed as the local admin ``cli`` (audited).

Passwords are asked for in a terminal or read as one line of standard input, never taken
from the command line.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, Any

from services.access import CLI, Role
from services.cli.common import CliError, Command, Parser, checked_engine

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from services.settings import Settings

__all__ = ["COMMANDS", "add_parsers"]

_ROLES = ", ".join(r.value for r in Role)
_PROMPT_NOTE = ("the password is asked for in a terminal, or read as one line from standard "
                "input; it is never taken from the command line")


def add_parsers(sub: Any) -> None:
    """Add ``users`` (with its subcommands) and ``demo-users`` to the subcommands ``sub``."""
    text = "create the demo's accounts, one per role, and show their passwords"
    p = sub.add_parser("demo-users", help=text, description=text)
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    text = "manage user accounts (acts as the local admin `cli`; every change is audited)"
    users = sub.add_parser("users", help=text, description=text)
    actions = users.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND",
                                   parser_class=Parser)

    def leaf(name: str, text: str, epilog: str | None = None) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = actions.add_parser(name, help=text, description=text,
                                                        epilog=epilog)
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        return p

    add = leaf("add", "create an account", _PROMPT_NOTE)
    add.add_argument("name", help="user name: letters, digits and . _ - @ (stored lower case)")
    add.add_argument("--role", required=True, help=f"one of {_ROLES}")
    add.add_argument("--email", help="e-mail address for single sign-on")
    add.add_argument("--no-password", action="store_true",
                     help="no password: the account signs in only through single sign-on")
    leaf("list", "list accounts with role and state")
    set_role = leaf("set-role", "give an account another role")
    set_role.add_argument("name")
    set_role.add_argument("role", help=f"one of {_ROLES}")
    leaf("disable", "stop an account from signing in").add_argument("name")
    leaf("enable", "let a disabled or locked-out account sign in again").add_argument("name")
    leaf("end-sessions", "sign an account out everywhere (every open session ends)"
         ).add_argument("name")
    leaf("set-password", "set an account's password", _PROMPT_NOTE).add_argument("name")


def _read_password(username: str) -> str:
    """A new password from a prompt (terminal) or one line of stdin, never from argv."""
    from services.auth.passwords import check_password_policy

    if sys.stdin.isatty():
        password = getpass.getpass(f"new password for {username}: ")
        check_password_policy(password, username=username)
        if getpass.getpass("repeat it: ") != password:
            raise CliError("the passwords differ")
        return password
    line = sys.stdin.readline()
    if not line:
        raise CliError("no password on standard input: pipe one line, or run in a terminal")
    return line.rstrip("\r\n")


def _user_exists(engine: Engine, name: str) -> bool:
    from db.repositories import users as users_repo
    from db.session import session_scope

    with session_scope(engine) as session:
        return users_repo.by_username(session=session, username=name) is not None


def _run_add(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.names import parse_role, validate_email, validate_username
    from services.auth.users import create_user

    with checked_engine(settings) as engine:
        # Check everything else before asking for a password the user would type in vain.
        name, role, email = (validate_username(args.name), parse_role(args.role),
                             validate_email(args.email))
        if _user_exists(engine, name):
            raise CliError(f"a user named {name!r} already exists")
        password = None if args.no_password else _read_password(name)
        created = create_user(engine=engine, actor=CLI, username=name, role=role,
                              password=password, email=email)
    return {"username": created.username, "role": created.role.value, "email": email,
            "has_password": password is not None}


def _run_list(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.users import list_users

    with checked_engine(settings) as engine:
        users = list_users(engine=engine, actor=CLI)
    return {
        "users": [
            {
                "username": u.username,
                "role": u.role.value,
                "email": u.email,
                "disabled": u.disabled,
                "has_password": u.has_password,
                "failed_attempts": u.failed_attempts,
                "locked_until": u.locked_until.isoformat() if u.locked_until else None,
                "created_at": u.created_at.isoformat(),
            }
            for u in users
        ]
    }


def _run_set_role(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.users import set_role

    with checked_engine(settings) as engine:
        changed = set_role(engine=engine, actor=CLI, username=args.name, role=args.role)
    return {"username": changed.username, "role": changed.role.value}


def _run_disable(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.users import disable_user

    with checked_engine(settings) as engine:
        disable_user(engine=engine, actor=CLI, username=args.name)
    return {"username": args.name.strip().lower(), "disabled": True}


def _run_enable(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.users import enable_user

    with checked_engine(settings) as engine:
        enable_user(engine=engine, actor=CLI, username=args.name)
    return {"username": args.name.strip().lower(), "disabled": False}


def _run_end_sessions(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.users import end_sessions

    with checked_engine(settings) as engine:
        end_sessions(engine=engine, actor=CLI, username=args.name)
    return {"username": args.name.strip().lower(), "sessions": "ended"}


def _run_set_password(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.users import set_password

    name = args.name.strip().lower()
    with checked_engine(settings) as engine:
        if not _user_exists(engine, name):  # before asking for a password typed in vain
            raise CliError(f"no user named {name!r}")
        set_password(engine=engine, actor=CLI, username=name, password=_read_password(name))
    return {"username": name, "password": "set"}


def _run_demo_users(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.demo import demo_accounts_path, ensure_demo_users

    with checked_engine(settings) as engine:
        accounts = ensure_demo_users(engine=engine, settings=settings)
    return {
        "accounts": [{"username": u, "role": r, "password": p} for u, r, p in accounts],
        "file": str(demo_accounts_path(settings)),
    }


def _print_added(result: dict[str, Any]) -> None:
    email = f", e-mail {result['email']}" if result["email"] else ""
    sso = "" if result["has_password"] else "; no password: signs in through single sign-on"
    print(f"created {result['username']} ({result['role']}{email}){sso}")


def _print_changed(result: dict[str, Any]) -> None:
    if "sessions" in result:
        print(f"every session of {result['username']} has ended")
    elif "role" in result:
        print(f"{result['username']} is now {result['role']}")
    elif "disabled" in result:
        print(f"{result['username']} is {'disabled' if result['disabled'] else 'enabled'}")
    else:
        print(f"{result['username']}: password set")


def _print_users(result: dict[str, Any]) -> None:
    if not result["users"]:
        print("no users (add one with `python -m services.cli users add NAME --role admin`)")
        return
    for u in result["users"]:
        state = "disabled" if u["disabled"] else "enabled"
        if u["locked_until"]:
            state += f", locked until {u['locked_until'][:19]}"
        if not u["has_password"]:
            state += ", single sign-on only"
        print(f"{u['username']:<24} {u['role']:<9} {state}  {u['email'] or ''}".rstrip())


def _print_demo_users(result: dict[str, Any]) -> None:
    for a in result["accounts"]:
        print(f"{a['username']:<9} ({a['role']}): {a['password'] or '(password set elsewhere)'}")
    print(f"(kept in {result['file']})")


#: ``(run, show)`` of each subcommand, for the command table of :mod:`services.cli.main`.
COMMANDS: dict[str, Command] = {
    "demo-users": (_run_demo_users, _print_demo_users),
    "users add": (_run_add, _print_added),
    "users list": (_run_list, _print_users),
    "users set-role": (_run_set_role, _print_changed),
    "users disable": (_run_disable, _print_changed),
    "users enable": (_run_enable, _print_changed),
    "users end-sessions": (_run_end_sessions, _print_changed),
    "users set-password": (_run_set_password, _print_changed),
}
