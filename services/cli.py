"""Command line for operators and pipelines: ``python -m services.cli COMMAND``.

Every subcommand has ``--help``; commands that report figures take ``--json``; bad input
exits non-zero with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from db.schema import SchemaError, check_schema, upgrade
from db.session import make_engine
from services import drift_cli, label_cli, prediction_import_cli, registry_cli, shadow_cli
from services.auth import CLI, PermissionDenied, Role
from services.auth.names import UserError
from services.auth.passwords import PasswordPolicyError, check_password_policy
from services.cli_common import CliError, parse_time
from services.model_registry import RegistrationError
from services.prediction_import import PredictionImportError
from services.settings import Settings, SettingsError, get_settings

__all__ = ["main"]

#: Exit status for bad arguments or input, and for an unusable database.
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _engine(settings: Settings, *, check: bool = True) -> Engine:
    engine = make_engine(settings.resolved_database_url)
    if check:
        check_schema(engine)
    return engine


def _cmd_init_db(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    engine = _engine(settings, check=False)
    upgrade(engine)
    check_schema(engine)
    return {"database": engine.url.render_as_string(hide_password=True), "status": "up to date"}


def _cmd_seed_demo(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.demo.seed import seed_demo

    engine = _engine(settings)
    started = time.perf_counter()
    report = seed_demo(engine=engine, settings=settings)
    return {
        "models": list(report.models),
        "predictions": report.predictions,
        "labels": report.labels,
        "skipped": report.skipped,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _cmd_models(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from db.repositories import registry
    from db.session import session_scope

    engine = _engine(settings)
    models = []
    with session_scope(engine) as session:
        for model in registry.list_models(session=session):
            production = registry.production_version(session=session, model_id=model.id)
            models.append(
                {
                    "name": model.name,
                    "task": model.task,
                    "classes": list(model.class_labels),
                    "production_version": production.version if production else None,
                    "versions": [
                        {
                            "version": v.version,
                            "status": v.status,
                            "created_at": v.created_at.isoformat(),
                            "created_by": v.created_by,
                            "holdout_metrics": v.holdout_metrics,
                        }
                        for v in model.versions
                    ],
                }
            )
    return {"models": models}


def _cmd_metrics(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from db.repositories.registry import RegistryError
    from services.quality import QualityError, quality_report

    since = parse_time(args.since, "--since")
    until = parse_time(args.until, "--until")
    if since is not None and until is not None and since >= until:
        raise CliError("--since must be earlier than --until")
    try:
        report = quality_report(engine=_engine(settings), model=args.model,
                                version=args.version, since=since, until=until,
                                confidence=args.confidence, bootstrap=args.bootstrap,
                                seed=args.seed)
    except (RegistryError, QualityError) as exc:
        raise CliError(str(exc)) from None
    return {
        "model": args.model,
        "version": args.version,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        **report.to_json(),
    }


def _fmt(value: float | None, interval: list[float] | None = None) -> str:
    if value is None:
        return "–"
    if interval is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def _print_metrics(result: dict[str, Any]) -> None:
    scope = result["model"] + (f" v{result['version']}" if result["version"] else
                               " (all versions)")
    window = (f"predictions from {result['since'] or 'the start'} "
              f"until {result['until'] or 'now'}")
    if not result["n_labelled"]:
        print(f"{scope}: no labelled predictions ({window}); no metrics to show")
        return
    level = f"{result['confidence']:.0%}"
    print(f"{scope}: {result['n_labelled']:,} labelled predictions ({window})")
    print(f"accuracy {_fmt(result['accuracy'], result['accuracy_interval'])} "
          f"({result['correct']:,} correct; intervals at {level})")
    width = max(8, *(len(label) for label in result["labels"]))
    print(f"{'class':<{width}}  {'precision':<22} {'recall':<22} {'f1':<22} support")
    for label, c in result["per_class"].items():
        print(f"{label:<{width}}  {_fmt(c['precision'], c['precision_interval']):<22} "
              f"{_fmt(c['recall'], c['recall_interval']):<22} "
              f"{_fmt(c['f1'], c['f1_interval']):<22} {c['support']:>7,}")
    print(f"{'macro':<{width}}  {_fmt(result['macro_precision']):<22} "
          f"{_fmt(result['macro_recall']):<22} "
          f"{_fmt(result['macro_f1'], result['macro_f1_interval'])}")
    print(f"{'weighted':<{width}}  {_fmt(result['weighted_precision']):<22} "
          f"{_fmt(result['weighted_recall']):<22} {_fmt(result['weighted_f1'])}")
    print("confusion matrix (rows true, columns predicted):")
    cell = max(7, *(len(label) for label in result["labels"]))
    print(" " * width + "  " + " ".join(f"{label:>{cell}}" for label in result["labels"]))
    for label, row in zip(result["labels"], result["confusion_matrix"], strict=True):
        print(f"{label:<{width}}  " + " ".join(f"{n:>{cell},}" for n in row))


def _print_init_db(result: dict[str, Any]) -> None:
    print(f"{result['database']}: schema {result['status']}")


def _print_seed(result: dict[str, Any]) -> None:
    if result["skipped"]:
        print("demo data already present; nothing seeded (remove var/ to start over)")
        return
    print(
        f"seeded {', '.join(result['models'])}: {result['predictions']:,} predictions, "
        f"{result['labels']:,} labels in {result['seconds']} s"
    )


def _print_models(result: dict[str, Any]) -> None:
    if not result["models"]:
        print("no models registered (run `python -m services.cli seed-demo` for the demo)")
        return
    for model in result["models"]:
        prod = model["production_version"]
        print(f"{model['name']} ({model['task']}, {len(model['classes'])} classes), "
              f"production: {'v' + str(prod) if prod else 'none'}")
        for v in model["versions"]:
            acc = v["holdout_metrics"].get("accuracy")
            acc_text = f", holdout accuracy {acc:.3f}" if isinstance(acc, float) else ""
            print(f"  v{v['version']}  {v['status']:<10} {v['created_at'][:19]}  "
                  f"by {v['created_by']}{acc_text}")


def _read_password(username: str) -> str:
    """A new password from a prompt (terminal) or one line of stdin, never from argv."""
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


def _cmd_users_add(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.names import parse_role, validate_email, validate_username
    from services.auth.users import create_user

    engine = _engine(settings)
    # Check everything else before asking for a password the user would type in vain.
    name, role, email = validate_username(args.name), parse_role(args.role), validate_email(
        args.email)
    if _user_exists(engine, name):
        raise CliError(f"a user named {name!r} already exists")
    password = None if args.no_password else _read_password(name)
    created = create_user(engine=engine, actor=CLI, username=name, role=role,
                          password=password, email=email)
    return {"username": created.username, "role": created.role.value, "email": email,
            "has_password": password is not None}


def _cmd_users_list(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.users import list_users

    users = list_users(engine=_engine(settings), actor=CLI)
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


def _cmd_users_set_role(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.users import set_role

    changed = set_role(engine=_engine(settings), actor=CLI, username=args.name, role=args.role)
    return {"username": changed.username, "role": changed.role.value}


def _cmd_users_disable(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.users import disable_user

    disable_user(engine=_engine(settings), actor=CLI, username=args.name)
    return {"username": args.name.strip().lower(), "disabled": True}


def _cmd_users_enable(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.users import enable_user

    enable_user(engine=_engine(settings), actor=CLI, username=args.name)
    return {"username": args.name.strip().lower(), "disabled": False}


def _cmd_users_end_sessions(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.users import end_sessions

    end_sessions(engine=_engine(settings), actor=CLI, username=args.name)
    return {"username": args.name.strip().lower(), "sessions": "ended"}


def _cmd_users_set_password(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.users import set_password

    engine = _engine(settings)
    name = args.name.strip().lower()
    if not _user_exists(engine, name):  # before asking for a password typed in vain
        raise CliError(f"no user named {name!r}")
    set_password(engine=engine, actor=CLI, username=name, password=_read_password(name))
    return {"username": name, "password": "set"}


def _user_exists(engine: Engine, name: str) -> bool:
    from db.repositories import users as users_repo
    from db.session import session_scope

    with session_scope(engine) as session:
        return users_repo.by_username(session=session, username=name) is not None


def _cmd_demo_users(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.auth.demo import demo_accounts_path, ensure_demo_users

    accounts = ensure_demo_users(engine=_engine(settings), settings=settings)
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


Command = tuple[Callable[[argparse.Namespace, Settings], dict[str, Any]],
                Callable[[dict[str, Any]], None]]

COMMANDS: dict[str, Command] = {
    "init-db": (_cmd_init_db, _print_init_db),
    "seed-demo": (_cmd_seed_demo, _print_seed),
    "models": (_cmd_models, _print_models),
    "metrics": (_cmd_metrics, _print_metrics),
    **registry_cli.COMMANDS,
    **label_cli.COMMANDS,
    "demo-users": (_cmd_demo_users, _print_demo_users),
    "users add": (_cmd_users_add, _print_added),
    "users list": (_cmd_users_list, _print_users),
    "users set-role": (_cmd_users_set_role, _print_changed),
    "users disable": (_cmd_users_disable, _print_changed),
    "users enable": (_cmd_users_enable, _print_changed),
    "users end-sessions": (_cmd_users_end_sessions, _print_changed),
    "users set-password": (_cmd_users_set_password, _print_changed),
    prediction_import_cli.NAME: prediction_import_cli.COMMAND,
    shadow_cli.NAME: shadow_cli.COMMAND,
    drift_cli.NAME: drift_cli.COMMAND,
}

_ROLES = ", ".join(r.value for r in Role)
_PROMPT_NOTE = ("the password is asked for in a terminal, or read as one line from standard "
                   "input; it is never taken from the command line")


def _add_users_parser(sub: Any) -> None:
    text = "manage user accounts (acts as the local admin `cli`; every change is audited)"
    users = sub.add_parser("users", help=text, description=text)
    actions = users.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND",
                                   parser_class=_Parser)

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


def _add_metrics_parser(sub: Any) -> None:
    text = ("accuracy, per-class precision / recall / F1 and the confusion matrix of a model "
            "on its labelled predictions")
    epilog = ("Times are ISO 8601, e.g. 2024-05-01T12:00 or 2024-05-01T14:00+02:00; a time "
              "without an offset is taken as UTC. The window is on prediction time: "
              "--since inclusive, --until exclusive.")
    p = sub.add_parser("metrics", help=text, description=text, epilog=epilog)
    p.add_argument("--model", required=True, help="model name (see `models`)")
    p.add_argument("--version", type=int, help="one version number (default: all versions)")
    p.add_argument("--since", help="predictions made at or after this time (UTC if no offset)")
    p.add_argument("--until", help="predictions made before this time (UTC if no offset)")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="level of the intervals (default 0.95)")
    p.add_argument("--bootstrap", type=int, default=1000,
                   help="resamples for the F1 intervals (default 1000; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resampling (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="python -m services.cli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    helps = {
        "init-db": "create the database or upgrade it to the current schema",
        "seed-demo": "train the demo models and log 14 days of demo history (once)",
        "models": "list models, their versions and which one serves production",
        "demo-users": "create the demo's accounts, one per role, and show their passwords",
    }
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--json", action="store_true", help="print the result as JSON")
    registry_cli.add_parsers(sub)
    label_cli.add_parsers(sub)
    _add_metrics_parser(sub)
    _add_users_parser(sub)
    prediction_import_cli.add_parser(sub)
    shadow_cli.add_parser(sub)
    drift_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    args = build_parser().parse_args(argv)
    run, show = COMMANDS[" ".join(filter(None, (args.command, getattr(args, "subcommand", None))))]
    try:
        settings = get_settings()
        result = run(args, settings)
    except (SchemaError, SettingsError, CliError, UserError, PasswordPolicyError,
            PermissionDenied, PredictionImportError, RegistrationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OperationalError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else "unknown error"
        print(f"error: the database cannot be used ({reason}); check OPSDASH_DATABASE_URL",
              file=sys.stderr)
        return EXIT_USAGE
    except label_cli.LabelCommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(result, indent=2, default=str, allow_nan=False))
    else:
        show(result)
    # A command may end with another status once its result is out (drift --fail-on-drift).
    status: Callable[[argparse.Namespace, dict[str, Any]], int] | None = getattr(
        args, "exit_status", None)
    return status(args, result) if status is not None else 0


if __name__ == "__main__":
    raise SystemExit(main())
