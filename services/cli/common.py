"""What every command-line module shares: the one-line error and its parser, the command
table's entry type, how times are read, and the store's engine.

Kept apart from :mod:`services.cli.main` so the subcommand modules it registers can use them
without importing it back.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from services.settings import Settings

__all__ = ["EXIT_USAGE", "CliError", "Command", "Parser", "checked_engine", "parse_time"]

#: Exit status for bad arguments or input, and for an unusable database.
EXIT_USAGE = 2

#: A subcommand: ``run(args, settings)`` returns the result (what ``--json`` prints) and
#: ``show(result)`` prints it for people.
Command = tuple[Callable[[argparse.Namespace, "Settings"], dict[str, Any]],
                Callable[[dict[str, Any]], None]]


class CliError(Exception):
    """A failure explained in one line to the user."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def parse_time(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time given to ``option``; without a UTC offset it is taken as UTC.

    Raises:
        CliError: ``text`` is not an ISO 8601 time.
    """
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{option} {text!r} is not an ISO 8601 time, e.g. 2024-05-01T12:00"
                       ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@contextmanager
def checked_engine(settings: Settings) -> Iterator[Engine]:
    """The store's engine once its schema is checked; disposed of on the way out.

    Raises:
        SchemaError: the database has no current schema (the message names the fix).
    """
    from db.schema import check_schema
    from db.session import make_engine

    engine = make_engine(settings.resolved_database_url)
    try:
        check_schema(engine)
        yield engine
    finally:
        engine.dispose()
