"""Limits of imported files (CSV and Parquet), checked before their data is decoded.

A file is refused when it is too large on disk, has too many columns, or (Parquet) would be
too large once decompressed: a few kilobytes of compressed pages can hold a column chunk of
megabytes, and a dictionary-encoded column can repeat one huge value on every row. So the
footer's sizes are checked before any page is read, text columns are read dictionary-encoded
(the dictionary once, an index a row), and each value's length is checked before a value is
repeated into rows. Every refusal is a :class:`LimitError` naming what is too big and the
limit.

What is not checked: that a footer's sizes match its pages. The sizes the footer declares
are what is compared here; page headers declaring larger pages are read as Arrow reads them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.registry.features import MAX_CATEGORY_CHARS

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_ROWS",
    "FileLimits",
    "LimitError",
    "check_columns",
    "check_file_size",
    "check_parquet_metadata",
    "check_table_text",
    "row_slices",
    "text_bytes",
    "text_columns",
]


#: Default bound on a prediction file's rows (``--max-rows``): the check keeps every id in
#: memory. Here, apart from the importer, so the command line shows it in ``--help`` without
#: loading the store (:mod:`services.predictions.importer` re-exports it).
MAX_ROWS = 1_000_000


class LimitError(ValueError):
    """A file exceeds a limit; ``str()`` names what and the limit.

    Attributes:
        row: the row at fault (from 1), when one is (``str()`` then starts ``row N: ``).
        detail: the message without the row, for a caller that names rows otherwise.
    """

    def __init__(self, detail: str, *, row: int | None = None) -> None:
        super().__init__(detail if row is None else f"row {row}: {detail}")
        self.row = row
        self.detail = detail


@dataclass(frozen=True)
class FileLimits:
    """The limits of one imported file.

    Attributes:
        max_bytes: the file's size on disk.
        max_columns: columns in its header (a model's features and the known columns need
            far fewer).
        max_cell_chars: characters of any one cell (a category value is at most
            :data:`services.registry.features.MAX_CATEGORY_CHARS` wherever it enters).
        max_line_bytes: bytes of one CSV line (a full row of the longest cells fits).
        max_uncompressed_bytes: Parquet: the column chunks' declared size once decompressed.
        max_chunk_bytes_per_row: Parquet: a column chunk's decompressed size over its row
            group's rows (a cell of the longest text, 4 bytes a character, fits twice).
        batch_text_bytes: Parquet: text decoded into rows at a time; a batch holding more is
            read in slices.
    """

    max_bytes: int = 1 << 30
    max_columns: int = 1_000
    max_cell_chars: int = MAX_CATEGORY_CHARS
    max_line_bytes: int = 8 << 20
    max_uncompressed_bytes: int = 1 << 30
    max_chunk_bytes_per_row: int = 8 << 10
    batch_text_bytes: int = 64 << 20


#: The limits every import applies unless told otherwise.
DEFAULT_LIMITS = FileLimits()


def check_file_size(path: Path, limits: FileLimits) -> None:
    """Raises :class:`LimitError` when the file has more than ``max_bytes`` bytes; an
    unreadable file raises ``OSError``."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise LimitError(f"{path.name} is {size:,} bytes; at most {limits.max_bytes:,} are "
                         "read at once: split it")


def check_columns(names: Sequence[str], limits: FileLimits, *, file: str) -> tuple[str, ...]:
    """The column names, once each count and the names are checked (in linear time).

    Raises:
        LimitError: more than ``max_columns`` columns, unnamed or repeated ones (all named).
    """
    if len(names) > limits.max_columns:
        raise LimitError(f"{file} has {len(names):,} columns; at most {limits.max_columns:,}")
    unnamed = [str(i + 1) for i, name in enumerate(names) if not name]
    if unnamed:
        raise LimitError(f"column(s) {', '.join(unnamed)} of the header have no name")
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise LimitError(f"column name(s) repeated in the header: {', '.join(repeated)}")
    return tuple(names)


def _scalar_type(kind: pa.DataType) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        return _scalar_type(kind.value_type)
    checks = (pa.types.is_null, pa.types.is_boolean, pa.types.is_integer, pa.types.is_floating,
              pa.types.is_decimal, pa.types.is_string, pa.types.is_large_string,
              pa.types.is_binary, pa.types.is_large_binary, pa.types.is_temporal)
    return any(check(kind) for check in checks)


def _is_text(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind)
                or pa.types.is_binary(kind) or pa.types.is_large_binary(kind))


def text_columns(schema: pa.Schema) -> list[str]:
    """The columns of text or bytes, to be read dictionary-encoded."""
    return [f.name for f in schema if _is_text(f.type)]


def check_parquet_metadata(parquet: Any, limits: FileLimits, *, file: str) -> None:
    """Check a Parquet file's footer before any of its data is read.

    Args:
        parquet: a ``pyarrow.parquet.ParquetFile``.

    Raises:
        LimitError: a column of lists, maps or structs (a cell of any size); the column
            chunks' decompressed sizes above ``max_uncompressed_bytes`` in all; or one above
            ``max_chunk_bytes_per_row`` a row of its row group.
    """
    for fld in parquet.schema_arrow:
        if not _scalar_type(fld.type):
            raise LimitError(f"column {fld.name} holds {fld.type} values; one number, text, "
                             "boolean or time a cell is read")
    metadata = parquet.metadata
    total = 0
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        rows = max(group.num_rows, 1)
        for c in range(group.num_columns):
            chunk = group.column(c)
            size = chunk.total_uncompressed_size
            total += size
            if size / rows > limits.max_chunk_bytes_per_row:
                raise LimitError(
                    f"column {chunk.path_in_schema} of row group {g + 1} is {size:,} bytes "
                    f"once decompressed for {group.num_rows:,} rows ({size // rows:,} bytes a "
                    f"row); at most {limits.max_chunk_bytes_per_row:,} bytes a row")
    if total > limits.max_uncompressed_bytes:
        raise LimitError(f"{file} is {total:,} bytes once decompressed; at most "
                         f"{limits.max_uncompressed_bytes:,}")


def _lengths(array: pa.Array, measure: Any) -> np.ndarray:
    """``measure`` of each cell (0 when null), dictionaries measured once a value."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        sizes = pc.take(measure(array.dictionary), array.indices)
    else:
        sizes = measure(array)
    return np.asarray(pc.fill_null(sizes, 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _text(array: pa.Array) -> bool:
    import pyarrow as pa

    kind = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
    return _is_text(kind)


def _chars(array: pa.Array) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pc.utf8_length(array)
    return pc.binary_length(array)


def _first_not_utf8(array: pa.Array) -> int | None:
    """The position of the first cell of a text column that is not UTF-8, if any."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dictionary = pa.types.is_dictionary(array.type)
    values = array.dictionary if dictionary else array
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    try:
        values.validate(full=True)
        return None
    except pa.ArrowInvalid:
        pass
    raw = values.view(pa.large_binary() if pa.types.is_large_string(values.type)
                      else pa.binary())
    bad = next(i for i, v in enumerate(raw.to_pylist()) if v is not None and not _utf8(v))
    if not dictionary:
        return bad
    return int(pc.index(array.indices, bad).as_py())


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def text_bytes(batch: pa.RecordBatch, limits: FileLimits, *, first_row: int) -> np.ndarray:
    """The bytes of text of each row of the batch, once every text cell is checked (from
    the dictionary, for a dictionary-encoded column, before any value is repeated).

    Args:
        first_row: the number of the batch's first row (from 1), for messages.

    Raises:
        LimitError: a cell of more than ``max_cell_chars`` characters (bytes, for binary
            columns), or text that is not UTF-8, naming its row and column.
    """
    import numpy as np
    import pyarrow.compute as pc

    row_bytes = np.zeros(batch.num_rows, dtype=np.int64)
    for name, array in zip(batch.schema.names, batch.columns, strict=True):
        if not _text(array):
            continue
        bad = _first_not_utf8(array)
        if bad is not None:
            raise LimitError(f"column {name} is not UTF-8 text", row=first_row + bad)
        chars = _lengths(array, _chars)
        too_long = np.flatnonzero(chars > limits.max_cell_chars)
        if too_long.size:
            at = int(too_long[0])
            raise LimitError(f"column {name} has {int(chars[at]):,} characters; at most "
                             f"{limits.max_cell_chars:,}", row=first_row + at)
        row_bytes += _lengths(array, pc.binary_length)
    return row_bytes


def row_slices(batch: pa.RecordBatch, limits: FileLimits, *,
               first_row: int) -> Iterator[pa.RecordBatch]:
    """The batch in slices holding at most ``batch_text_bytes`` of text (at least one row),
    once its cells are checked (:func:`text_bytes`, which raises :class:`LimitError`)."""
    import numpy as np

    ends = np.cumsum(text_bytes(batch, limits, first_row=first_row))
    start = 0
    while start < batch.num_rows:
        budget = (ends[start - 1] if start else 0) + limits.batch_text_bytes
        stop = max(start + 1, int(np.searchsorted(ends, budget, side="right")))
        yield batch.slice(start, stop - start)
        start = stop


def check_table_text(table: pa.Table, limits: FileLimits, *, file: str) -> None:
    """Check every text cell of a table read whole (:func:`text_bytes`), and that its text,
    once every row holds its own copy, is at most ``max_uncompressed_bytes``.

    Raises:
        LimitError: naming the row and column, or the decoded size and the limit.
    """
    total = 0
    first_row = 1
    for batch in table.to_batches():
        total += int(text_bytes(batch, limits, first_row=first_row).sum())
        first_row += batch.num_rows
    if total > limits.max_uncompressed_bytes:
        raise LimitError(f"{file} holds {total:,} bytes of text once decoded; at most "
                         f"{limits.max_uncompressed_bytes:,}")
