"""Prediction log files, CSV or Parquet, read in batches of rows that know where they came from.

A CSV file is UTF-8 text (a byte-order mark is allowed) with a header line; every record is
numbered by the line it starts on, the header being line 1, as an editor shows it. A Parquet
file is read one record batch at a time; its records are numbered 1, 2, ... (``row N``).
Neither format is ever loaded whole: memory stays bounded by the batch size.

A row that cannot be read (bytes that are not UTF-8, a NUL character, broken quoting, the
wrong number of fields) comes back with its ``problem`` set instead of being skipped, so the
caller can report every bad row; problems with the file as a whole (unreadable, empty, no
header, repeated column names, too many rows or columns, a limit of
:class:`~services.predictions.limits.FileLimits` passed) raise :class:`PredictionFileError`. A
CSV cell longer than the limit is a problem of its row; a Parquet one refuses the file, as
its value is checked once for every row that repeats it. The ``cell_*`` helpers read one
cell of either kind: text from CSV, typed values from Parquet.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from services.predictions.limits import (
    DEFAULT_LIMITS,
    FileLimits,
    LimitError,
    check_columns,
    check_file_size,
    check_parquet_metadata,
    row_slices,
    text_columns,
)

__all__ = [
    "DEFAULT_LIMITS",
    "FORMATS",
    "FileLimits",
    "PredictionFileError",
    "RawRow",
    "RowSource",
    "cell_blank",
    "cell_number",
    "cell_text",
    "cell_version",
    "detect_format",
    "file_sha256",
    "format_by_suffix",
    "open_rows",
]

#: The formats read, by name.
FORMATS = ("csv", "parquet")
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".parq": "parquet", ".pq": "parquet"}
_PARQUET_MAGIC = b"PAR1"


class PredictionFileError(ValueError):
    """The file as a whole cannot be read; ``str()`` is a message for the user."""


@dataclass(frozen=True)
class RawRow:
    """One record as read, before any validation.

    Attributes:
        number: CSV: the line the record starts on (the header is line 1); Parquet: the
            record's position, from 1.
        cells: column name to value: ``str`` for CSV (``""`` when blank); for Parquet the
            stored value (``None`` when null; timestamps as ``datetime``).
        problem: why the record could not be read (its cells are then unreliable).
    """

    number: int
    cells: dict[str, Any]
    problem: str | None = None


@dataclass(frozen=True)
class RowSource:
    """An open file: its format, its columns and its rows in batches.

    Attributes:
        format: ``csv`` or ``parquet``.
        unit: how a row's number reads in messages: ``line`` (CSV) or ``row`` (Parquet).
        columns: the column names, in file order.
        batches: lists of at most the requested number of rows, in file order.
    """

    format: str
    unit: str
    columns: tuple[str, ...]
    batches: Iterator[list[RawRow]]


def cell_blank(value: Any) -> bool:
    """A cell with nothing in it: null, or text of only spaces."""
    return value is None or (isinstance(value, str) and not value.strip())


def cell_text(value: Any) -> str | None:
    """A cell as text without surrounding spaces (integers too); ``None`` otherwise."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def cell_number(value: Any) -> float | None:
    """A finite float from a number or its text; ``None`` when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def cell_version(value: Any) -> int | None:
    """A version number: ``3``, ``"3"``, ``"v3"`` (or ``3.0`` from Parquet); else ``None``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = cell_text(value)
    if text is None:
        return None
    text = text[1:] if text[:1] in ("v", "V") else text
    return int(text) if text.isdigit() else None


def format_by_suffix(path: Path) -> str | None:
    """``csv`` (``.csv``) or ``parquet`` (``.parquet``, ``.parq``, ``.pq``) by the file
    name's extension, in any case; ``None`` for any other name."""
    return _SUFFIXES.get(path.suffix.lower())


def detect_format(path: Path) -> str:
    """``csv`` or ``parquet``: by the file name's extension, else by the first bytes.

    Raises:
        PredictionFileError: the file cannot be opened.
    """
    by_suffix = format_by_suffix(path)
    if by_suffix is not None:
        return by_suffix
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_PARQUET_MAGIC))
    except OSError as exc:
        raise PredictionFileError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    return "parquet" if head == _PARQUET_MAGIC else "csv"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file's bytes (read in blocks).

    Raises:
        PredictionFileError: the file cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise PredictionFileError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _too_many(max_rows: int) -> PredictionFileError:
    return PredictionFileError(f"the file has more than {max_rows:,} rows: split it, or raise "
                               "the limit (--max-rows)")


class _Lines:
    """Decoded lines of a binary file; lines that are not clean UTF-8 are remembered.

    A line longer than ``max_bytes`` (its line break left out) raises :class:`LimitError`
    once that many bytes are read, so a file without line breaks is never held whole.
    """

    def __init__(self, handle: BinaryIO, max_bytes: int) -> None:
        self.handle = handle
        self.max_bytes = max_bytes
        self.bad: dict[int, str] = {}

    def _raw(self) -> Iterator[bytes]:
        number = 0
        while raw := self.handle.readline(self.max_bytes + 3):
            number += 1
            if len(raw.rstrip(b"\r\n")) > self.max_bytes:
                raise LimitError(f"line {number} is longer than {self.max_bytes:,} bytes")
            yield raw

    def __iter__(self) -> Iterator[str]:
        for number, raw in enumerate(self._raw(), start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.bad[number] = (f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                                    f"position {exc.start + 1}); save the file as UTF-8")
                text = raw.decode("utf-8", errors="replace")
            if "\x00" in text and number not in self.bad:
                self.bad[number] = "contains a NUL character"
            yield text


def _long_cell(columns: tuple[str, ...], fields: list[str], max_chars: int) -> str | None:
    """The problem of the first cell longer than ``max_chars`` characters, if any."""
    for name, value in zip(columns, fields, strict=True):
        if len(value) > max_chars:
            return f"column {name} has {len(value):,} characters; at most {max_chars:,}"
    return None


def _csv_batches(lines: _Lines, reader: Any, columns: tuple[str, ...], batch_rows: int,
                 max_rows: int, max_chars: int) -> Iterator[list[RawRow]]:
    batch: list[RawRow] = []
    count = 0
    previous = reader.line_num
    while True:
        problem: str | None = None
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            fields, problem = None, f"not valid CSV: {exc}"
        start, previous = previous + 1, reader.line_num
        if fields == []:  # a blank line
            continue
        count += 1
        if count > max_rows:
            raise _too_many(max_rows)
        bad = [lines.bad[n] for n in range(start, previous + 1) if n in lines.bad]
        problem = bad[0] if bad else problem
        if problem is None and fields is not None and len(fields) != len(columns):
            problem = f"has {len(fields)} fields; the header has {len(columns)}"
        if problem is None and fields:
            problem = _long_cell(columns, fields, max_chars)
        cells = dict(zip(columns, fields, strict=True)) if problem is None and fields else {}
        batch.append(RawRow(number=start, cells=cells, problem=problem))
        if len(batch) >= batch_rows:
            yield batch
            batch = []
    if batch:
        yield batch


@contextmanager
def _open_csv(path: Path, batch_rows: int, max_rows: int,
              limits: FileLimits) -> Iterator[RowSource]:
    check_file_size(path, limits)
    with path.open("rb") as handle:
        lines = _Lines(handle, limits.max_line_bytes)
        reader = csv.reader(iter(lines), strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise PredictionFileError(f"{path.name} is empty") from None
        except csv.Error as exc:
            raise PredictionFileError(f"line 1 (the header) is not valid CSV: {exc}") from None
        if 1 in lines.bad:
            raise PredictionFileError(f"line 1 (the header): {lines.bad[1]}")
        columns = check_columns([name.strip() for name in header], limits, file=path.name)
        yield RowSource(format="csv", unit="line", columns=columns,
                        batches=_csv_batches(lines, reader, columns, batch_rows, max_rows,
                                             limits.max_cell_chars))


def _parquet_batches(parquet: Any, batch_rows: int,
                     limits: FileLimits) -> Iterator[list[RawRow]]:
    """Rows in batches of at most ``batch_rows``; text columns come dictionary-encoded and
    are checked (:func:`~services.predictions.limits.row_slices`) before rows repeat them."""
    import pyarrow as pa

    number = 0
    for batch in parquet.iter_batches(batch_size=batch_rows):
        for part in row_slices(batch, limits, first_row=number + 1):
            # Microsecond timestamps come back as datetime (nanoseconds: pandas objects).
            arrays = [
                a.cast(pa.timestamp("us", tz=a.type.tz), safe=False)
                if pa.types.is_timestamp(a.type) else a
                for a in part.columns
            ]
            table = pa.RecordBatch.from_arrays(arrays, names=part.schema.names)
            rows = []
            for cells in table.to_pylist():
                number += 1
                rows.append(RawRow(number=number, cells=cells))
            yield rows


def _parquet_file(path: Path, read_dictionary: list[str] | None = None) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, read_dictionary=read_dictionary)
    except (pa.ArrowException, OSError) as exc:
        raise PredictionFileError(f"{path.name} is not a readable Parquet file: {exc}") from None


@contextmanager
def _open_parquet(path: Path, batch_rows: int, max_rows: int,
                  limits: FileLimits) -> Iterator[RowSource]:
    check_file_size(path, limits)
    parquet = _parquet_file(path)
    try:
        columns = check_columns(list(parquet.schema_arrow.names), limits, file=path.name)
        if parquet.metadata.num_rows > max_rows:
            raise _too_many(max_rows)
        check_parquet_metadata(parquet, limits, file=path.name)
        text = text_columns(parquet.schema_arrow)
    finally:
        parquet.close()
    # Opened again, text columns dictionary-encoded: a value is decoded once, not a row.
    parquet = _parquet_file(path, text or None)
    try:
        yield RowSource(format="parquet", unit="row", columns=columns,
                        batches=_parquet_batches(parquet, batch_rows, limits))
    finally:
        parquet.close()


@contextmanager
def open_rows(path: Path, *, batch_rows: int, max_rows: int,
              limits: FileLimits = DEFAULT_LIMITS) -> Iterator[RowSource]:
    """Open a prediction log file and read its rows lazily, in batches.

    Args:
        path: a CSV or Parquet file (see :func:`detect_format`).
        batch_rows: rows per batch (a Parquet batch holding much text comes in smaller ones).
        max_rows: more rows than this is an error (raised when reading reaches it; for
            Parquet, from the file's metadata before any row is read).
        limits: the file's size, columns, cells and lines, and Parquet's decoded size.

    Raises:
        PredictionFileError: the file cannot be opened or read, is empty, its header is
            unusable, it has more than ``max_rows`` rows, or it passes a limit (Parquet's
            sizes from its footer before any row is read). A Parquet file whose data turns
            out to be corrupt, or holds a cell too long, also raises it, while its batches
            are read.
    """
    import pyarrow as pa

    fmt = detect_format(path)
    opener = _open_csv if fmt == "csv" else _open_parquet
    try:
        with opener(path, batch_rows, max_rows, limits) as source:
            yield source
    except LimitError as exc:
        raise PredictionFileError(str(exc)) from None
    except OSError as exc:
        raise PredictionFileError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    except pa.ArrowException as exc:
        raise PredictionFileError(f"{path.name} cannot be read: {exc}") from None
