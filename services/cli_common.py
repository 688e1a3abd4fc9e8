"""What every command-line module shares: the one-line error, how times are read, and the
store's engine.

Kept apart from :mod:`services.cli` so the subcommand modules it registers can use them
without importing it back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from services.settings import Settings

__all__ = ["CliError", "checked_engine", "parse_time"]


class CliError(Exception):
    """A failure explained in one line to the user."""


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
