"""Command line for operators and pipelines: ``python -m services.cli COMMAND``.

Every subcommand has ``--help``; commands that report figures take ``--json``; bad input
exits non-zero with a one-line reason on stderr. Each command group is a module of this
package with ``add_parsers(sub)`` and a ``COMMANDS`` table; this module only dispatches.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

# Only light modules here: parsing the arguments and ``--help`` must not load SQLAlchemy,
# Alembic, pydantic or numpy (tests/integration/cli/test_light_start.py). Each command
# imports what it needs when it runs.
from services.cli import (
    alerts,
    drift,
    handoff,
    labels,
    metrics,
    predictions,
    promotion,
    registry,
    retrain,
    shadow,
    store,
    users,
)
from services.cli.common import EXIT_USAGE, Command, Parser
from services.redact import redact_urls

__all__ = ["COMMANDS", "build_parser", "main"]

#: The command groups, in the order ``--help`` lists them.
_GROUPS = (store, registry, promotion, retrain, handoff, labels, metrics, users, predictions,
           shadow, drift, alerts)

COMMANDS: dict[str, Command] = {name: c for group in _GROUPS for name, c in group.COMMANDS.items()}

#: Failures that are the user's to fix, as ``(module, class)``: reported in one line, exit
#: status 2. Named, not imported: a class whose module a command never loaded cannot have been
#: raised, so only loaded modules are looked at (:func:`_is_user_error`).
_USER_ERRORS = (("db.schema", "SchemaError"), ("services.settings", "SettingsError"),
                ("services.cli.common", "CliError"), ("services.auth.names", "UserError"),
                ("services.auth.passwords", "PasswordPolicyError"),
                ("services.access.principal", "PermissionDenied"),
                ("services.predictions.importer", "PredictionImportError"),
                ("services.registry.registration", "RegistrationError"),
                ("services.cli.labels", "LabelCommandError"))


def _loaded_classes(names: Sequence[tuple[str, str]]) -> tuple[type[BaseException], ...]:
    """The classes of ``names`` whose module is loaded."""
    return tuple(getattr(sys.modules[module], name) for module, name in names
                 if module in sys.modules)


def _is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, _loaded_classes(_USER_ERRORS))


def _database_failure(exc: BaseException) -> str | None:
    """The one-line reason of an unusable database (SQLAlchemy's ``OperationalError``)."""
    if not isinstance(exc, _loaded_classes([("sqlalchemy.exc", "OperationalError")])):
        return None
    orig = getattr(exc, "orig", None)
    return redact_urls(str(orig).splitlines()[0]) if orig else "unknown error"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = Parser(prog="python -m services.cli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=Parser)
    for group in _GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    args = build_parser().parse_args(argv)
    run, show = COMMANDS[" ".join(filter(None, (args.command, getattr(args, "subcommand", None))))]
    from services.settings import get_settings  # pydantic-settings: not needed to parse

    try:
        result = run(args, get_settings())
    except Exception as exc:
        if _is_user_error(exc):
            print(f"error: {redact_urls(str(exc))}", file=sys.stderr)
            return EXIT_USAGE
        reason = _database_failure(exc)
        if reason is None:
            raise
        print(f"error: the database cannot be used ({reason}); check OPSDASH_DATABASE_URL",
              file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(result, indent=2, default=str, allow_nan=False))
    else:
        show(result)
    # A command may end with another status once its result is out (drift --fail-on-drift).
    status: Callable[[argparse.Namespace, dict[str, Any]], int] | None = getattr(
        args, "exit_status", None)
    return status(args, result) if status is not None else 0
