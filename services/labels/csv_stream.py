"""A label CSV file read from disk a line at a time, for files too large to hold in memory.

The same format, checks and messages as :func:`services.labels.csv_file.read_label_csv`
(which reads a file held in memory, the page's upload): the size is read from the file
system before any line, the text is decoded as it is read (a byte-order mark is skipped),
and the whole file is checked to be UTF-8 (a bad byte reported with its offset and line)
before its first line is parsed, as in memory. Nothing but the current line (and the
decoder's block) is held.
"""

from __future__ import annotations

import codecs
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from services.labels.csv_file import (
    FileLimits,
    LabelImportError,
    LabelRow,
    RowError,
    label_records,
    not_utf8,
    utf16_error,
)

__all__ = ["file_stamp", "label_file_rows"]

_BLOCK = 1 << 20


def file_stamp(path: Path) -> tuple[int, int]:
    """The file's size and modification time (nanoseconds): what tells it changed."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _utf8_error(f: BinaryIO) -> LabelImportError | None:
    """The error naming the first byte of ``f`` that is not UTF-8 (offset and line), if
    one is not."""
    f.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    read = newlines = 0
    while True:
        block = f.read(_BLOCK)
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            # exc.object is the bytes held back from the previous block (part of a
            # character, never a line break), then this block.
            offset = read - pending + exc.start
            line = newlines + exc.object[:exc.start].count(b"\n") + 1
            return not_utf8(offset, line, exc.object[exc.start])
        if not block:
            return None
        read += len(block)
        newlines += block.count(b"\n")


def label_file_rows(path: Path, *, limits: FileLimits,
                    errors: list[RowError]) -> Iterator[LabelRow]:
    """The rows of the label CSV file at ``path``, read as they are consumed (see
    :func:`services.labels.csv_file.label_records`; rows without a cell per column go to
    ``errors``).

    Raises:
        LabelImportError: the file is too large, not UTF-8, not CSV, has a bad header, no
            rows or too many.
        OSError: the file cannot be read.
    """
    with path.open("rb") as f:
        if os.fstat(f.fileno()).st_size > limits.max_bytes:
            raise limits.too_large()
        if f.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            raise utf16_error()
        # As in memory, a file that is not UTF-8 is refused before any line is read.
        error = _utf8_error(f)
        if error is not None:
            raise error
        f.seek(0)
        text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
        try:
            yield from label_records(text, limits=limits, errors=errors)
        except UnicodeDecodeError:  # the file changed since it was checked
            raise LabelImportError("the file changed while it was read") from None
        finally:
            text.detach()
