"""Credentials in URLs are never shown or logged: the user info of a URL becomes ``***``.

``OPSDASH_PROMETHEUS_URL`` and ``OPSDASH_DATABASE_URL`` may carry ``user:password@``; every
message, page and log line that names one passes it (or the whole message) through here.
Imports nothing of ours, so every layer above ``db`` may use it.
"""

from __future__ import annotations

import re

__all__ = ["HIDDEN", "redact_url", "redact_urls"]

#: What replaces the user info (user name and password alike: a user name alone may be a
#: token, as in ``https://<token>@host``).
HIDDEN = "***"

_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
# The user info: SQLAlchemy's reading first (a user name, ":", a password up to the first
# "@", which may hold "/"), then the URL standard's (everything of the authority before its
# last "@"). Neither crosses a blank, so a message's later words are not taken for it.
_USERINFO = r"(?:[^\s:/@]*:[^\s@]*|[^\s/?#@]*)@"
_IN_TEXT = re.compile(rf"(?<![A-Za-z0-9+.-])({_SCHEME}){_USERINFO}")
_WHOLE = re.compile(rf"^({_SCHEME}){_USERINFO}")


def redact_url(url: str) -> str:
    """``url`` with its user info replaced by ``***`` (``http://***@host:9090``)."""
    return _WHOLE.sub(rf"\g<1>{HIDDEN}@", url, count=1)


def redact_urls(text: str) -> str:
    """``text`` with the user info of every URL in it replaced by ``***``."""
    return _IN_TEXT.sub(rf"\g<1>{HIDDEN}@", text)
