"""``shadow-score --model M --version V``: the command line of :mod:`services.registry.shadow`.

:func:`add_parsers` adds the subcommand, :data:`COMMANDS` maps it to its ``(run, show)``
pair for the command table of :mod:`services.cli.main`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from services.cli.common import CliError, Command, checked_engine, parse_time

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = ["COMMANDS", "NAME", "add_parsers", "print_scored", "run_shadow_score"]

NAME = "shadow-score"

_EPILOG = """\
Loads the version's artifact (its sha256 is checked against the registry first), scores the
logged features of the model's predictions that other versions made, newest first, and
stores its answers; predictions it already answered are skipped, so the command can be run
again at any time (e.g. from cron) and a stopped run finishes where it left off. Each chunk
of 5,000 answers is written in its own transaction with an audit entry. Then the Model
quality page compares the two versions on the labelled predictions both answered.

Times are ISO 8601, e.g. 2024-05-01T12:00 or 2024-05-01T14:00+02:00; a time without an
offset is taken as UTC. The window is on prediction time: --since inclusive, --until
exclusive.
"""


def add_parsers(sub: Any) -> None:
    """Add ``shadow-score`` to the subcommands ``sub``."""
    text = ("score the model's logged predictions with another of its versions (shadow "
            "scoring), so the two can be compared on the same labelled predictions")
    p: argparse.ArgumentParser = sub.add_parser(
        NAME, help=text, description=text, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model name (see `models`)")
    p.add_argument("--version", required=True, type=int,
                   help="the version number that scores (usually a candidate)")
    p.add_argument("--since", help="predictions made at or after this time (UTC if no offset)")
    p.add_argument("--until", help="predictions made before this time (UTC if no offset)")
    p.add_argument("--limit", type=int,
                   help="score at most this many predictions, newest first (default: all)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run_shadow_score(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Shadow-score as the local admin ``cli``; the result as JSON values.

    Raises:
        services.cli.common.CliError: bad options, no such model or version, or the version's
            artifact cannot score (missing, tampered with, wrong classes).
        SchemaError: the database has no current schema.
    """
    from db.repositories.registry import RegistryError
    from services.access import CLI
    from services.registry.shadow import ShadowError, shadow_score

    since = parse_time(args.since, "--since")
    until = parse_time(args.until, "--until")
    if since is not None and until is not None and since >= until:
        raise CliError("--since must be earlier than --until")
    if args.limit is not None and args.limit < 1:
        raise CliError("--limit must be at least 1")
    with checked_engine(settings) as engine:
        try:
            result = shadow_score(engine=engine, actor=CLI, model=args.model,
                                  version=args.version, since=since, until=until,
                                  limit=args.limit)
        except (RegistryError, ShadowError) as exc:
            raise CliError(str(exc)) from None
    return {
        "model": result.model,
        "version": result.version,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "scored": result.scored,
        "already_scored": result.already_scored,
        "more": result.more,
        "seconds": round(result.seconds, 1),
    }


def print_scored(result: dict[str, Any]) -> None:
    """One line: what was scored, what was already, whether the limit left some."""
    scope = f"{result['model']} v{result['version']}"
    line = (f"{scope}: scored {result['scored']:,} predictions in {result['seconds']} s; "
            f"{result['already_scored']:,} in the window were already scored")
    if result["more"]:
        line += "; the limit left more: run again to continue"
    print(line)


COMMANDS: dict[str, Command] = {NAME: (run_shadow_score, print_scored)}
