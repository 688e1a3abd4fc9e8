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

from sqlalchemy.exc import OperationalError

from db.schema import SchemaError
from services.access import PermissionDenied
from services.auth.names import UserError
from services.auth.passwords import PasswordPolicyError
from services.cli import drift, labels, metrics, predictions, registry, shadow, store, users
from services.cli.common import EXIT_USAGE, CliError, Command, Parser
from services.predictions.importer import PredictionImportError
from services.redact import redact_urls
from services.registry.registration import RegistrationError
from services.settings import SettingsError, get_settings

__all__ = ["COMMANDS", "build_parser", "main"]

#: The command groups, in the order ``--help`` lists them.
_GROUPS = (store, registry, labels, metrics, users, predictions, shadow, drift)

COMMANDS: dict[str, Command] = {name: c for group in _GROUPS for name, c in group.COMMANDS.items()}

#: Failures that are the user's to fix: reported in one line, exit status 2.
_USER_ERRORS = (SchemaError, SettingsError, CliError, UserError, PasswordPolicyError,
                PermissionDenied, PredictionImportError, RegistrationError,
                labels.LabelCommandError)


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
    try:
        result = run(args, get_settings())
    except _USER_ERRORS as exc:
        print(f"error: {redact_urls(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except OperationalError as exc:
        reason = redact_urls(str(exc.orig).splitlines()[0]) if exc.orig else "unknown error"
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
