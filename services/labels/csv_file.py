"""Label CSV files: parse and check one without the store.

The file is UTF-8 (a byte-order mark is accepted) with a header line naming the columns
``prediction_id`` and ``label`` and optionally ``labeler``, in any order (names are
case-sensitive; surrounding spaces are ignored). The other columns of an export
(:data:`services.labels.export.EXPORT_COLUMNS`) are accepted and ignored, so an exported
file reads back; any other column is an error. Cells are trimmed, and the apostrophe an
export puts before a formula character is removed again. Blank lines are skipped; an empty
``labeler`` cell means the importing user.

Every problem is reported, each bad row with its line in the file (the header is line 1):
a wrong number of cells, an empty prediction id or label, control characters, a labeler
name over 100 characters, a prediction on two lines (naming both); and for the file: its
size, its encoding (with the offset of the first byte that is not UTF-8), its columns, no
rows, too many rows. :mod:`services.labels.importer` then checks the rows against the store
and saves them.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from services.csv_cells import unescape_cell
from services.labels.export import EXPORT_COLUMNS
from services.predictions.limits import DEFAULT_LIMITS
from services.settings import Settings

__all__ = [
    "IGNORED_COLUMNS",
    "LISTED_IN_MESSAGE",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "FileLimits",
    "LabelImportError",
    "LabelRow",
    "RowError",
    "check_rows",
    "label_records",
    "not_utf8",
    "parse_label_csv",
    "problems_found",
    "read_label_csv",
    "show_value",
]

REQUIRED_COLUMNS = ("prediction_id", "label")
OPTIONAL_COLUMNS = ("labeler",)
#: Columns of an export that an import accepts and ignores.
IGNORED_COLUMNS = tuple(c for c in EXPORT_COLUMNS if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
#: Bad rows named in an error's message; its ``errors`` list holds them all.
LISTED_IN_MESSAGE = 5

_KNOWN = REQUIRED_COLUMNS + OPTIONAL_COLUMNS + IGNORED_COLUMNS
_FORMAT = "prediction_id,label[,labeler]"
_LABELER_MAX = 100  # width of feedback.labeler
# One regular expression: a tenth of the time of a loop over the characters.
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_SHOWN = 60  # characters of a value quoted in a message
_MAX_COLUMNS = DEFAULT_LIMITS.max_columns  # as every imported file
_SAVE_AS = "save it as UTF-8 (in Excel: CSV UTF-8)"
_NOT_UTF8 = f"the file is not UTF-8 text; {_SAVE_AS}"
_UTF16 = f"the file is UTF-16 text, not UTF-8; {_SAVE_AS}"
#: The documented limits, for callers that pass none (the importer passes the configured ones).
_DEFAULTS = Settings()


@dataclass(frozen=True)
class RowError:
    """One reason a row (or the file) cannot be imported.

    Attributes:
        line: the line in the file, 1-based, the header being line 1 (for rows that did
            not come from a file: the row's position, e.g. the item of an API request).
        prediction_id: the row's prediction id, when it has one.
        message: what is wrong, for the user.
        column: the column at fault (``prediction_id``, ``label``, ``labeler``), if one.
    """

    line: int
    prediction_id: str | None
    message: str
    column: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class LabelImportError(ValueError):
    """The labels cannot be imported; nothing was stored (all or nothing).

    ``str()`` is a short message for the user: the problem and the first
    :data:`LISTED_IN_MESSAGE` bad rows. ``errors`` holds every bad row, by line;
    ``summary`` is the message without them.
    """

    def __init__(self, summary: str, errors: Sequence[RowError] = ()) -> None:
        self.summary = summary
        self.errors = sorted(errors, key=lambda e: e.line)
        listed = "; ".join(str(e) for e in self.errors[:LISTED_IN_MESSAGE])
        more = len(self.errors) - LISTED_IN_MESSAGE
        text = f"{summary}: {listed}" if listed else summary
        super().__init__(f"{text}; and {more} more" if more > 0 else text)


@dataclass(frozen=True)
class LabelRow:
    """One label to store.

    Attributes:
        line: where it came from (the line in the file).
        prediction_id: the prediction (request id).
        label: the true class.
        labeler: who labeled it; ``None``: the importing user.
    """

    line: int
    prediction_id: str
    label: str
    labeler: str | None = None


@dataclass(frozen=True)
class FileLimits:
    """How large a label file may be, and the settings that say so (named in messages).

    Attributes:
        max_bytes: largest file accepted.
        max_rows: most rows accepted.
        bytes_setting: the variable that sets ``max_bytes``.
        rows_setting: the variable that sets ``max_rows``.
        advice: what to do with a file over a limit.
    """

    max_bytes: int
    max_rows: int
    bytes_setting: str = "OPSDASH_LABEL_IMPORT_MAX_BYTES"
    rows_setting: str = "OPSDASH_LABEL_IMPORT_MAX_ROWS"
    advice: str = "split it"

    @classmethod
    def page(cls, settings: Settings) -> FileLimits:
        """The limits of an import in one transaction (the Label feedback page's)."""
        return cls(settings.label_import_max_bytes, settings.label_import_max_rows,
                   advice="split it, or import it with the command line's import-labels, "
                          "which takes larger files")

    @classmethod
    def command_line(cls, settings: Settings) -> FileLimits:
        """The limits of the command line's ``import-labels``."""
        return cls(settings.label_import_cli_max_bytes, settings.label_import_cli_max_rows,
                   "OPSDASH_LABEL_IMPORT_CLI_MAX_BYTES", "OPSDASH_LABEL_IMPORT_CLI_MAX_ROWS")

    def too_large(self) -> LabelImportError:
        """The error of a file over ``max_bytes``."""
        return LabelImportError(f"the file is larger than {self.max_bytes:,} bytes (the limit, "
                                f"{self.bytes_setting}); {self.advice}")

    def too_many(self, count: int) -> LabelImportError:
        """The error of a file of ``count`` rows, more than ``max_rows``."""
        return LabelImportError(f"the file has {count:,} rows; at most {self.max_rows:,} are "
                                f"imported at once ({self.rows_setting}); {self.advice}")


def not_utf8(offset: int, line: int, byte: int) -> LabelImportError:
    """The error of a file whose byte at ``offset`` (on ``line``) is not UTF-8."""
    return LabelImportError(_NOT_UTF8, [
        RowError(line, None, f"byte 0x{byte:02X} at byte offset {offset} is not UTF-8")])


def show_value(value: str) -> str:
    """``value`` quoted for a message, shortened when long."""
    return repr(value) if len(value) <= _SHOWN else repr(value[:_SHOWN - 1] + "…")


def problems_found(errors: Sequence[RowError], *, rows: Sequence[LabelRow]) -> LabelImportError:
    """The error for bad rows: how many of how many have problems, and every problem.

    ``rows`` are the rows read; rows in ``errors`` but not in ``rows`` count too.
    """
    bad = {e.line for e in errors}
    total = len(bad | {r.line for r in rows})
    return LabelImportError(f"nothing stored: {len(bad)} of {total} rows have problems", errors)


def _has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


def _decode(data: bytes, limits: FileLimits) -> str:
    if len(data) > limits.max_bytes:
        raise limits.too_large()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise LabelImportError(_UTF16)
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        raise not_utf8(offset, data.count(b"\n", 0, offset) + 1, data[offset]) from None
    if not text.strip():
        raise LabelImportError(f"the file is empty; its first line must be the header {_FORMAT}")
    return text


def utf16_error() -> LabelImportError:
    """The error of a file that starts with a UTF-16 byte-order mark."""
    return LabelImportError(_UTF16)


def _columns(cells: Sequence[str], line: int) -> dict[str, int]:
    """Each known column's index; raises naming every unknown, missing or repeated one."""
    if len(cells) > _MAX_COLUMNS:
        raise LabelImportError(f"the header has {len(cells):,} columns; at most {_MAX_COLUMNS:,}")
    names = [c.strip() for c in cells]
    counts = Counter(names)
    errors: list[RowError] = []
    for name in dict.fromkeys(n for n in names if n not in _KNOWN):
        hint = f" (column names are lower case: {name.lower()!r})" if name.lower() in _KNOWN \
            else ""
        what = f"an empty column name (column {names.index(name) + 1})" if not name \
            else f"unknown column {show_value(name)}{hint}"
        errors.append(RowError(line, None, what))
    errors += [RowError(line, None, f"missing column {name!r}")
               for name in REQUIRED_COLUMNS if name not in names]
    errors += [RowError(line, None, f"column {name!r} appears {counts[name]} times")
               for name in dict.fromkeys(names) if name in _KNOWN and counts[name] > 1]
    if errors:
        raise LabelImportError(f"the header must name the columns {_FORMAT} "
                               f"(optional: {', '.join(IGNORED_COLUMNS)}, ignored)", errors)
    return {name: names.index(name) for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS
            if name in names}


def check_rows(rows: Sequence[LabelRow], *, where: str = "line",
               seen: dict[str, int] | None = None) -> list[RowError]:
    """The problems of rows that need no store to find, in row order.

    Empty or control characters in a prediction id or label, a labeler name too long or with
    control characters, and a prediction on two rows (naming both, ``where`` being the word
    for a row's position in messages). ``seen`` maps the predictions of rows checked before
    (by earlier calls, for a file checked a part at a time) to their first line; it is
    updated.
    """
    errors: list[RowError] = []
    first: dict[str, int] = {} if seen is None else seen
    for row in rows:
        pid = row.prediction_id or None
        for column, value in (("prediction_id", row.prediction_id), ("label", row.label)):
            if not value.strip():
                errors.append(RowError(row.line, pid, f"the {column} is empty", column))
            elif _has_control(value):
                errors.append(RowError(row.line, pid, f"the {column} {show_value(value)} "
                                       "holds a line break or another control character",
                                       column))
        labeler = row.labeler
        if labeler is not None and (len(labeler) > _LABELER_MAX or _has_control(labeler)
                                    or not labeler.strip()):
            errors.append(RowError(row.line, pid, f"the labeler {show_value(labeler)} must "
                                   f"have 1 to {_LABELER_MAX} characters, none a control "
                                   "character", "labeler"))
        if not row.prediction_id.strip():
            continue
        if row.prediction_id in first:
            errors.append(RowError(row.line, pid, f"prediction {show_value(row.prediction_id)} "
                                   f"is also on {where} {first[row.prediction_id]}",
                                   "prediction_id"))
        else:
            first[row.prediction_id] = row.line
    return errors


def label_records(lines: Iterable[str], *, limits: FileLimits,
                  errors: list[RowError]) -> Iterator[LabelRow]:
    """The rows of a label CSV file's text, one line of ``lines`` at a time, in file order;
    rows that have not a cell per column are appended to ``errors`` instead.

    ``lines`` are the text's lines with their line endings (a file or ``io.StringIO``
    opened with ``newline=""``). Rows beyond ``limits.max_rows`` are only counted.

    Raises:
        LabelImportError: not CSV (with ``errors`` so far), a bad header, no rows or too
            many (once every line is read).
    """
    reader = csv.reader(lines, strict=True)
    columns: dict[str, int] | None = None
    width = count = previous = 0
    try:
        for cells in reader:
            line, previous = previous + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if columns is None:
                columns, width = _columns(cells, line), len(cells)
                continue
            count += 1
            if count > limits.max_rows:
                continue  # only counted
            values = {name: unescape_cell(cells[i].strip()) for name, i in columns.items()
                      if i < len(cells)}
            if len(cells) != width:
                errors.append(RowError(line, values.get("prediction_id") or None,
                                       f"has {len(cells)} cells; the header has {width}"))
                continue
            yield LabelRow(line, values["prediction_id"], values["label"],
                           values.get("labeler") or None)
    except csv.Error as exc:  # reported at the line where the bad record starts
        errors.append(RowError(previous + 1, None, f"not valid CSV: {exc}"))
        raise LabelImportError("the file is not valid CSV", errors) from None
    if columns is None:  # only separators, e.g. ",,"
        raise LabelImportError(f"the file is empty; its first line must be the header {_FORMAT}")
    if count > limits.max_rows:
        raise limits.too_many(count)
    if not count:
        raise LabelImportError("the file has a header but no rows")


def read_label_csv(
    data: bytes,
    *,
    max_bytes: int = _DEFAULTS.label_import_max_bytes,
    max_rows: int = _DEFAULTS.label_import_max_rows,
) -> tuple[list[LabelRow], list[RowError]]:
    """Read a label CSV file's rows, without checking their values (:func:`check_rows`),
    within the page's limits (an import in one transaction).

    Returns:
        The rows that have a cell per column, in file order, and the rows that do not
        (as errors).

    Raises:
        LabelImportError: the file cannot be read: too large, not UTF-8, not CSV, a bad
            header, no rows or too many.
    """
    limits = replace(FileLimits.page(_DEFAULTS), max_bytes=max_bytes, max_rows=max_rows)
    text = _decode(data, limits)
    errors: list[RowError] = []
    rows = list(label_records(io.StringIO(text, newline=""), limits=limits, errors=errors))
    return rows, errors


def parse_label_csv(
    data: bytes,
    *,
    max_bytes: int = _DEFAULTS.label_import_max_bytes,
    max_rows: int = _DEFAULTS.label_import_max_rows,
) -> list[LabelRow]:
    """Parse and check a label CSV file without the store (see the module notes).

    Args:
        data: the file's bytes.
        max_bytes: largest file accepted.
        max_rows: most rows accepted.

    Returns:
        The rows, in file order, each with its line.

    Raises:
        LabelImportError: the file or some rows are bad; ``errors`` lists every bad row.
    """
    rows, errors = read_label_csv(data, max_bytes=max_bytes, max_rows=max_rows)
    errors += check_rows(rows)
    if errors:
        raise problems_found(errors, rows=rows)
    return rows
