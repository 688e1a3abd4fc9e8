"""Two tables (CSV or Parquet) read whole for a drift comparison, and each column's kind.

Pure: no command line here (:mod:`services.cli.drift` is its command); every problem is a
:class:`TabularError` whose message names the file and, where it can, the line or row.

Files are CSV or Parquet, told by their extension. The header (or Parquet schema) is
checked by :func:`services.predictions.files.open_rows`, which also finds the line of a bad
CSV record, with the limits of every import (:mod:`services.predictions.limits`): the file's
bytes, its columns, Parquet's sizes once decompressed. As a file is held whole, its cells are
checked too (at most 1,000 characters, UTF-8), and Parquet text is read dictionary-encoded
so a value is checked before every row repeats it.

A CSV body is read by Arrow as text only (every record must have the header's number of
fields; empty cells and the usual markers ``NA``, ``NaN``, ``null``, ... are
missing), so the numeric check of :func:`typed_frames`, not a parser's guess, decides each
column's kind:

* listed as categorical by the caller: categorical;
* numbers (or missing) only, in both files (Parquet: a numeric type): numeric;
* no number at all in either file (text, booleans, times): categorical;
* numbers and text together: an error naming the column, the file, the line (CSV, the
  header being line 1) or row (Parquet) and the value, suggesting ``--categorical``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from services.predictions.files import PredictionFileError, format_by_suffix, open_rows
from services.predictions.limits import DEFAULT_LIMITS, LimitError, check_table_text, text_columns

__all__ = ["Table", "TabularError", "read_table", "typed_frames"]

#: Text cells that are no number but "not a number": missing, as ``float`` reads them.
_NAN_TEXT = frozenset({"nan", "+nan", "-nan"})
#: Longest cell value quoted in an error message.
_QUOTE_CHARS = 40


class TabularError(ValueError):
    """A file cannot be read or a column's kind cannot be told; the message says where."""


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Table:
    """One file, read: its role (``reference``/``current``), path, format and frame."""

    role: str
    path: Path
    format: str
    frame: pd.DataFrame

    @property
    def label(self) -> str:
        return f"the {self.role} file {self.path}"

    def where(self, index: int) -> str:
        """The position of the record at ``index`` (from 0) in words."""
        if self.format == "parquet":
            return f"row {index + 1} of {self.label}"
        return f"line {_csv_line(self.path, index)} of {self.label}"


def read_table(role: str, path: Path) -> Table:
    """Read one file whole.

    Raises:
        TabularError: the file is not CSV or Parquet by its name, missing, unreadable, not
            UTF-8, malformed, or has no header or no rows.
    """
    label = f"the {role} file {path}"
    fmt = format_by_suffix(path)
    if fmt is None:
        raise TabularError(f"{label} is neither CSV nor Parquet: its name must end in .csv, "
                           ".parquet or .pq")
    if not path.exists():
        raise TabularError(f"{label} does not exist")
    if path.is_dir():
        raise TabularError(f"{label} is a directory")
    try:
        empty = path.stat().st_size == 0
    except OSError as exc:
        raise TabularError(f"{label} cannot be read: {exc.strerror or exc}") from None
    if empty:
        raise TabularError(f"{label} is empty: no header and no rows")
    try:
        # The header alone: unreadable or not UTF-8, unnamed or repeated columns.
        with open_rows(path, batch_rows=1, max_rows=sys.maxsize) as source:
            columns = source.columns
    except PredictionFileError as exc:
        raise TabularError(f"{label}: {exc}") from None
    if not columns:
        raise TabularError(f"{label} is empty: no header" if fmt == "csv" else
                           f"{label} has no columns")
    frame = _read_csv(path, columns, label) if fmt == "csv" else _read_parquet(path, label)
    if frame.empty:
        raise TabularError(f"{label} has a header but no rows" if fmt == "csv" else
                           f"{label} has no rows")
    return Table(role=role, path=path, format=fmt, frame=frame)


def _read_csv(path: Path, columns: tuple[str, ...], label: str) -> pd.DataFrame:
    """Every cell as text (``None`` when missing); records of the wrong length refused."""
    try:
        table = pa_csv.read_csv(
            str(path),
            read_options=pa_csv.ReadOptions(skip_rows=1, column_names=list(columns)),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()),
                strings_can_be_null=True, quoted_strings_can_be_null=True),
        )
    except (pa.ArrowException, OSError) as exc:
        # Arrow says what, not where: the row reader finds the first bad record's line.
        problem = _csv_problem(path) or _one_line(str(exc))
        raise TabularError(f"{label}: {problem}") from None
    try:
        check_table_text(table, DEFAULT_LIMITS, file=path.name)
    except LimitError as exc:
        where = f"line {_csv_line(path, exc.row - 1)}: " if exc.row else ""
        raise TabularError(f"{label}: {where}{exc.detail}") from None
    return table.to_pandas()


def _read_parquet(path: Path, label: str) -> pd.DataFrame:
    """The file with its text checked before it is decoded (see the module's notes)."""
    try:
        schema = pq.read_schema(path)
        text = text_columns(schema)
        table = pq.read_table(path, read_dictionary=text or None)
        check_table_text(table, DEFAULT_LIMITS, file=path.name)
        for name in text:
            position = table.schema.get_field_index(name)
            table = table.set_column(position, schema.field(name),
                                     table.column(name).cast(schema.field(name).type))
        return table.to_pandas()
    except LimitError as exc:
        raise TabularError(f"{label}: {exc}") from None
    except (pa.ArrowException, OSError) as exc:
        raise TabularError(f"{label} cannot be read as Parquet: {_one_line(str(exc))}") from None


def _csv_records(path: Path) -> Iterable[Any]:
    with open_rows(path, batch_rows=1000, max_rows=sys.maxsize) as source:
        for batch in source.batches:
            yield from batch


def _csv_problem(path: Path) -> str | None:
    """``line N: why`` for the first record the row reader cannot read, if any."""
    try:
        for record in _csv_records(path):
            if record.problem:
                return f"line {record.number}: {record.problem}"
    except PredictionFileError as exc:
        return str(exc)
    return None


def _csv_line(path: Path, index: int) -> int:
    """The line the record at ``index`` (from 0, blank lines skipped) starts on."""
    for position, record in enumerate(_csv_records(path)):
        if position == index:
            return int(record.number)
    raise AssertionError(f"{path} has no record {index}")  # read once already: cannot happen


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class _Values:
    """One column of one file as numbers where it can be.

    ``numbers``: the values as floats (missing and text cells NaN), or ``None`` when the
    column cannot be numeric at all (booleans, times). ``first_text``: the index and value
    of the first cell that is neither a number nor missing.
    """

    numbers: pd.Series | None
    has_numbers: bool
    first_text: tuple[int, Any] | None


def _blank_to_missing(series: pd.Series) -> pd.Series:
    """Cells of only spaces become missing, like empty ones."""
    if not _is_text(series):
        return series
    try:
        blank = series.str.strip().eq("")
    except AttributeError:  # no text in it at all
        return series
    mask = blank.fillna(False).to_numpy(dtype=bool)
    return series.mask(mask) if mask.any() else series


def _is_text(series: pd.Series) -> bool:
    return bool(pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series))


def _values(series: pd.Series) -> _Values:
    if pd.api.types.is_bool_dtype(series):
        return _Values(None, False, _first(series, series.notna()))
    if pd.api.types.is_numeric_dtype(series):
        floats = series.astype("float64")
        return _Values(floats, bool(floats.notna().any()), None)
    if not _is_text(series):  # times, durations, dictionaries: never numbers
        return _Values(None, False, _first(series, series.notna()))
    series = _blank_to_missing(series)
    numbers = _all_numbers(series)
    if numbers is not None:
        return _Values(numbers, bool(numbers.notna().any()), None)
    # Some cell is no number: find the first (pandas reads what Arrow reads, cell by cell).
    numbers = pd.to_numeric(series, errors="coerce").astype("float64")
    unread = series.notna().to_numpy(dtype=bool) & numbers.isna().to_numpy(dtype=bool)
    for position in unread.nonzero()[0]:  # "nan" is read as a (missing) number, not text
        value = series.iloc[position]
        if isinstance(value, str) and value.strip().lower() in _NAN_TEXT:
            unread[position] = False
        else:
            break  # the first real text value is all the caller needs
    return _Values(numbers, bool(numbers.notna().any()), _first(series, unread))


def _all_numbers(series: pd.Series) -> pd.Series | None:
    """The text column as floats when every cell is a number or missing, else ``None``;
    Arrow casts a column some twenty times faster than ``pandas.to_numeric``."""
    try:
        array = pa.array(series, from_pandas=True)
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            return None
        floats = pc.cast(pc.utf8_trim_whitespace(array), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return pd.Series(floats.to_numpy(zero_copy_only=False), index=series.index,
                     dtype="float64")


def _first(series: pd.Series, mask: Any) -> tuple[int, Any] | None:
    """Position and value of the first cell where ``mask`` (a Series or array) holds."""
    hits = np.asarray(mask, dtype=bool).nonzero()[0]
    if hits.size == 0:
        return None
    position = int(hits[0])
    return position, series.iloc[position]


def _quote(value: Any) -> str:
    text = str(value)
    if len(text) > _QUOTE_CHARS:
        text = text[: _QUOTE_CHARS - 1] + "…"
    return repr(text)


def typed_frames(
    reference: Table, current: Table, categorical: set[str]
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Both frames with numeric columns as floats, and the names of the categorical ones.

    Raises:
        TabularError: a column mixes numbers and text (within a file or across the two).
    """
    ref_out: dict[str, pd.Series] = {}
    cur_out: dict[str, pd.Series] = {}
    categories: list[str] = []
    for name in reference.frame.columns:
        ref_col, cur_col = reference.frame[name], current.frame[name]
        if name in categorical:
            categories.append(name)
            ref_out[name], cur_out[name] = _blank_to_missing(ref_col), _blank_to_missing(cur_col)
            continue
        ref_values, cur_values = _values(ref_col), _values(cur_col)
        has_numbers = ref_values.has_numbers or cur_values.has_numbers
        texts = [(table, v.first_text) for table, v in
                 ((reference, ref_values), (current, cur_values)) if v.first_text is not None]
        if texts and has_numbers:
            table, (index, value) = texts[0]
            raise TabularError(
                f"column {name!r} mixes numbers and text: {_quote(value)} at "
                f"{table.where(index)} is not a number; if {name!r} is a category, pass "
                f"--categorical {name}")
        if texts or ref_values.numbers is None or cur_values.numbers is None:
            categories.append(name)
            ref_out[name], cur_out[name] = _blank_to_missing(ref_col), _blank_to_missing(cur_col)
        else:
            ref_out[name], cur_out[name] = ref_values.numbers, cur_values.numbers
    return (pd.DataFrame(ref_out, index=reference.frame.index),
            pd.DataFrame(cur_out, index=current.frame.index), categories)
