"""CSV cells that a spreadsheet will not run as formulas ("CSV injection", OWASP).

Every CSV the application writes passes its text cells through :func:`safe_cell`; a file
read back (an edited label export) passes them through :func:`unescape_cell`, so a value
survives the round trip unchanged.
"""

from __future__ import annotations

__all__ = ["FORMULA_START", "safe_cell", "unescape_cell"]

#: A cell starting with one of these is a formula (or becomes one) to a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """``value`` with a leading apostrophe if a spreadsheet would run it as a formula.

    Spreadsheets show the apostrophe-prefixed text as typed and never evaluate it.
    """
    return "'" + value if value.startswith(FORMULA_START) else value


def unescape_cell(value: str) -> str:
    """Undo :func:`safe_cell`: drop an apostrophe that precedes a formula character."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value
