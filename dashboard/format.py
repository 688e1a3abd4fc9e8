"""Text for figures: one place decides how numbers, shares and times read."""

from __future__ import annotations

import re
import string
from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["count", "latency", "md_text", "rate", "share", "size", "when"]

NO_DATA = "—"


def count(value: int) -> str:
    """``12,345``."""
    return f"{value:,}"


def share(value: float | None, digits: int = 1) -> str:
    """A 0..1 share as a percentage, or a dash."""
    return NO_DATA if value is None else f"{100 * value:.{digits}f} %"


def rate(value: float | None) -> str:
    """Requests per second."""
    if value is None:
        return NO_DATA
    return f"{value:.2f} req/s" if value < 10 else f"{value:,.0f} req/s"


def latency(seconds: float | None) -> str:
    """A latency in milliseconds."""
    if seconds is None:
        return NO_DATA
    ms = 1000 * seconds
    return f"{ms:.1f} ms" if ms < 100 else f"{ms:,.0f} ms"


def size(n_bytes: float | None) -> str:
    """A size in bytes, KiB, MiB or GiB (powers of 1,024, as files are sized)."""
    if n_bytes is None:
        return NO_DATA
    value = float(n_bytes)
    for unit in ("bytes", "KiB", "MiB"):
        if abs(value) < 1024:
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GiB"


def when(moment: datetime | None, tz: str) -> str:
    """A timestamp in the display time zone, to the minute, with the zone's name."""
    if moment is None:
        return NO_DATA
    local = moment.astimezone(ZoneInfo(tz))
    return f"{local:%Y-%m-%d %H:%M} {tz}"


_MD_SPECIAL = frozenset(string.punctuation)
# Inside a line these start no markdown construct; at its start (after any blanks, which
# Streamlit strips) "-", "." (after digits), "=" and "+" can, so the first character that
# is not a blank is always escaped. "&" is not here: "&lt;" would show as "<".
_MD_INERT_INSIDE = frozenset("-.,;'\"?%/=+")
#: An invisible WORD JOINER: inside ``://`` and ``www.`` and after ``@`` it keeps
#: GitHub-flavoured markdown from turning an address in user text into a live link.
#: (``://`` covers ``http://`` and ``https://``; ``@`` an e-mail address.)
NO_LINK = "\u2060"
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?i:(?<=www))(?=\.)|(?<=@)")


def md_text(text: str) -> str:
    """User text made literal inside Streamlit markdown (titles, captions, labels).

    ASCII punctuation is backslash-escaped (CommonMark allows it for all of it), so no
    link, image, HTML, emphasis, entity, ``:color[...]`` directive or ``$`` formula can be
    formed from what a user typed; punctuation that is inert inside a line is left
    readable, and line breaks become spaces. A bare URL (``www.example.org``) may still be
    shown as a link by GitHub-flavoured renderers, which match it after escapes are
    resolved, so an invisible word joiner (:data:`NO_LINK`) is put in ``://`` and
    ``www.`` and after ``@``: the address reads the same and is no link.
    """
    line = _AUTOLINK.sub(NO_LINK, " ".join(text.splitlines()))
    out: list[str] = []
    at_start = True  # only blanks so far
    after_digits = False  # only blanks, then digits so far: "1." starts a list
    for ch in line:
        escape = ch in _MD_SPECIAL and (
            at_start or ch not in _MD_INERT_INSIDE or (after_digits and ch == ".")
        )
        out.append(f"\\{ch}" if escape else ch)
        if at_start and ch.isspace():
            continue
        after_digits = (at_start or after_digits) and ch.isdigit()
        at_start = False
    return "".join(out)
