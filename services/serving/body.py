"""Request bodies of the inference service: one capped reader, one bounded JSON parser.

Every endpoint that takes a body reads it with :func:`read_capped`, whether the client sent
a ``Content-Length`` or ``Transfer-Encoding: chunked``: reading stops at the first byte over
the endpoint's limit, and the answer is a 413 that closes the connection, so the rest of the
body is never read. :func:`loads` parses it with the nesting depth bounded before the parser
runs (a deep document would exhaust Python's recursion) and integers too long for a number
kept as :class:`TooManyDigits`, so the check that meets one can name its field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "MAX_INT_DIGITS",
    "MAX_JSON_DEPTH",
    "BodyError",
    "BodyTooLargeError",
    "CloseUnreadBodies",
    "TooManyDigits",
    "loads",
    "read_capped",
    "too_large",
]

#: Deepest nesting of arrays and objects accepted. A request needs 3 (``{"instances":
#: [{...}]}``); Python's parser would fail near 1,000 with a ``RecursionError``.
MAX_JSON_DEPTH = 32
#: Longest integer literal parsed as a number. Any integer over 309 digits is too large for
#: a float anyway; Python refuses to parse one over 4,300 digits (``ValueError``).
MAX_INT_DIGITS = 400

_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as int8: +1, +1, -1, -1
_SLICE = 1 << 20


class BodyTooLargeError(Exception):
    """The body is longer than ``limit`` bytes (read no further)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class BodyError(ValueError):
    """The body is not a JSON document we parse; ``message`` says why (field ``body``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class TooManyDigits:
    """An integer literal of more than :data:`MAX_INT_DIGITS` digits, left unparsed."""

    digits: int


async def read_capped(request: Request, limit: int) -> bytes:
    """The request's body, read chunk by chunk and never past ``limit`` bytes.

    Raises:
        BodyTooLargeError: the declared ``Content-Length``, or the bytes received so far,
            exceed ``limit``; the rest of the body is left unread.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(limit)
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise BodyTooLargeError(limit)
        body += chunk
    return bytes(body)


class CloseUnreadBodies:
    """ASGI middleware: an answer that starts before the request's body was read to its end
    closes the connection, on every route (a 413, a 401, a ``GET`` sent with a body, a 404).

    Otherwise the server, to reuse the connection, would go on reading and discarding
    whatever the client keeps sending, however long.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope["headers"]):
            await self.app(scope, receive, send)
            return
        received = False

        async def tracked() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                received = True
            return message

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not received:
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, tracked, closing)


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


def too_large(limit: int) -> JSONResponse:
    """The 413 answer; ``Connection: close`` so the server stops reading the body."""
    return JSONResponse(
        {"detail": f"request body larger than {limit} bytes"},
        status_code=413,
        headers={"Connection": "close"},
    )


def loads(body: bytes) -> Any:
    """Parse a UTF-8 JSON body, refusing what the parser could not take whole.

    Raises:
        BodyError: not UTF-8, nested deeper than :data:`MAX_JSON_DEPTH`, or not JSON.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"is not UTF-8 text (byte {exc.start})") from None
    depth = _nesting_depth(body)
    if depth > MAX_JSON_DEPTH:
        raise BodyError(f"nests arrays and objects {depth:,} levels deep; at most "
                        f"{MAX_JSON_DEPTH}")
    try:
        return json.loads(text, parse_int=_integer)
    except json.JSONDecodeError as exc:
        raise BodyError(f"is not valid JSON ({exc})") from None


def _integer(literal: str) -> int | TooManyDigits:
    digits = len(literal.lstrip("-"))
    return TooManyDigits(digits) if digits > MAX_INT_DIGITS else int(literal)


def _nesting_depth(body: bytes) -> int:
    """How deep arrays and objects nest in ``body`` (UTF-8), brackets in strings not counted.

    In UTF-8 the bytes of ``"``, ``\\`` and the brackets only ever stand for themselves, so
    the scan works on the bytes; it costs a regular-expression pass and a running sum.
    """
    openers = body.count(b"[") + body.count(b"{")
    if openers <= MAX_JSON_DEPTH:
        return openers  # never less than the depth
    structure = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS).translate(_STEPS)
    steps = np.frombuffer(structure, dtype=np.int8)
    depth = peak = 0
    for start in range(0, len(steps), _SLICE):
        running = np.cumsum(steps[start:start + _SLICE], dtype=np.int64) + depth
        peak = max(peak, int(running.max()))
        depth = int(running[-1])
    return peak
