"""What every command-line module shares: the one-line error and how times are read.

Kept apart from :mod:`services.cli` so the subcommand modules it registers can use them
without importing it back.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["CliError", "parse_time"]


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
