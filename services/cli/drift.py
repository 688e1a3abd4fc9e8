"""``drift --reference FILE --current FILE``: the command line of :mod:`services.drift.compare`.

:func:`add_parsers` adds the subcommand, :data:`COMMANDS` maps it to its ``(run, show)``
pair for the command table of :mod:`services.cli.main` and
:func:`exit_status` turns a drifted dataset into exit status 3 under ``--fail-on-drift``.

Files are CSV or Parquet, told by their extension. The header (or Parquet schema) is
checked by :func:`services.predictions.files.open_rows`, which also finds the line of a bad
CSV record. A CSV body is read by Arrow as text only (every record must have the header's
number of fields; empty cells and the usual markers ``NA``, ``NaN``, ``null``, ... are
missing), so the numeric check below, not a parser's guess, decides each column's kind:

* listed in ``--categorical``: categorical;
* numbers (or missing) only, in both files (Parquet: a numeric type): numeric;
* no number at all in either file (text, booleans, times): categorical;
* numbers and text together: an error naming the column, the file, the line (CSV, the
  header being line 1) or row (Parquet) and the value, suggesting ``--categorical``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.cli.common import CliError, Command
from services.predictions.files import PredictionFileError, format_by_suffix, open_rows
from services.settings import Settings

if TYPE_CHECKING:  # pandas, numpy and SciPy load when the command runs, not with the CLI
    import pandas as pd

__all__ = ["COMMANDS", "EXIT_DRIFTED", "NAME", "add_parsers", "exit_status", "print_drift",
           "run_drift"]

NAME = "drift"
#: Exit status under ``--fail-on-drift`` when the dataset has drifted.
EXIT_DRIFTED = 3
#: Text cells that are no number but "not a number": missing, as ``float`` reads them.
_NAN_TEXT = frozenset({"nan", "+nan", "-nan"})
#: Longest cell value quoted in an error message.
_QUOTE_CHARS = 40
#: New categories named in a row of the table (the JSON has them all).
_NEW_SHOWN = 5

_EPILOG = """\
Files: CSV (UTF-8, header on line 1) or Parquet, by the extension .csv, .parquet or .pq;
both must have the same columns, in any order (the table follows the reference's).
Kinds: a column listed in --categorical is categorical; one holding only numbers (and
missing cells) in both files is numeric; one with no number at all is categorical; a
column mixing numbers and text is refused with the line (CSV, header = line 1) or row
(Parquet) of the first text value: pass --categorical if it really is a category. Empty
cells, NA, NaN, null and the like are missing: counted and left out of the tests.

Tests follow Evidently's defaults (KS / chi-square / Z-test up to 1,000 reference rows,
Wasserstein / Jensen-Shannon above); PSI is shown for every column. A drift TOML file
(--config, default OPSDASH_DRIFT_CONFIG_FILE; --config '' for none) can set a test or
threshold per column and the drift share; its shared [features] entries apply here.

Exit status: 0 when the comparison ran, drifted or not; 3 with --fail-on-drift when the
dataset drifted (the report is printed all the same); 2 for bad options or files, with
a one-line reason on standard error and nothing on standard output.
"""


def add_parsers(sub: Any) -> None:
    """Add ``drift`` to the subcommands ``sub``."""
    text = ("compare a current sample (CSV or Parquet) with a reference one: per-column "
            "drift tests, PSI and the dataset's verdict")
    p: argparse.ArgumentParser = sub.add_parser(
        NAME, help=text, description=text, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", required=True, type=Path, metavar="FILE",
                   help="the reference sample (e.g. training data): .csv, .parquet or .pq")
    p.add_argument("--current", required=True, type=Path, metavar="FILE",
                   help="the sample to compare with it, same columns")
    p.add_argument("--categorical", action="append", default=[], metavar="A,B",
                   help="columns to treat as categories even when their values are numbers "
                        "(comma-separated; may be repeated)")
    p.add_argument("--config", metavar="FILE",
                   help="drift TOML file with per-column tests and thresholds (default: "
                        "OPSDASH_DRIFT_CONFIG_FILE; '' for none)")
    p.add_argument("--drift-share", type=float, metavar="X",
                   help="share of drifted columns at which the dataset has drifted, in (0, 1] "
                        "(default: the config file's, else OPSDASH_DRIFT_SHARE, 0.5)")
    p.add_argument("--fail-on-drift", action="store_true",
                   help="exit with status 3 when the dataset has drifted")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(exit_status=exit_status)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Sample:
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


def _read(role: str, path: Path) -> _Sample:
    """Read one file whole.

    Raises:
        CliError: the file is not CSV or Parquet by its name, missing, unreadable, not
            UTF-8, malformed, or has no header or no rows.
    """
    label = f"the {role} file {path}"
    fmt = format_by_suffix(path)
    if fmt is None:
        raise CliError(f"{label} is neither CSV nor Parquet: its name must end in .csv, "
                       ".parquet or .pq")
    if not path.exists():
        raise CliError(f"{label} does not exist")
    if path.is_dir():
        raise CliError(f"{label} is a directory")
    try:
        empty = path.stat().st_size == 0
    except OSError as exc:
        raise CliError(f"{label} cannot be read: {exc.strerror or exc}") from None
    if empty:
        raise CliError(f"{label} is empty: no header and no rows")
    try:
        # The header alone: unreadable or not UTF-8, unnamed or repeated columns.
        with open_rows(path, batch_rows=1, max_rows=sys.maxsize) as source:
            columns = source.columns
    except PredictionFileError as exc:
        raise CliError(f"{label}: {exc}") from None
    if not columns:
        raise CliError(f"{label} is empty: no header" if fmt == "csv" else
                       f"{label} has no columns")
    frame = _read_csv(path, columns, label) if fmt == "csv" else _read_parquet(path, label)
    if frame.empty:
        raise CliError(f"{label} has a header but no rows" if fmt == "csv" else
                       f"{label} has no rows")
    return _Sample(role=role, path=path, format=fmt, frame=frame)


def _read_csv(path: Path, columns: tuple[str, ...], label: str) -> pd.DataFrame:
    """Every cell as text (``None`` when missing); records of the wrong length refused."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

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
        raise CliError(f"{label}: {problem}") from None
    return table.to_pandas()


def _read_parquet(path: Path, label: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise CliError(f"{label} cannot be read as Parquet: {_one_line(str(exc))}") from None


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
    import pandas as pd

    return bool(pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series))


def _values(series: pd.Series) -> _Values:
    import pandas as pd

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
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

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
    import numpy as np

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


def _typed(
    reference: _Sample, current: _Sample, categorical: set[str]
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Both frames with numeric columns as floats, and the names of the categorical ones.

    Raises:
        CliError: a column mixes numbers and text (within a file or across the two).
    """
    import pandas as pd

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
        texts = [(sample, v.first_text) for sample, v in
                 ((reference, ref_values), (current, cur_values)) if v.first_text is not None]
        if texts and has_numbers:
            sample, (index, value) = texts[0]
            raise CliError(
                f"column {name!r} mixes numbers and text: {_quote(value)} at "
                f"{sample.where(index)} is not a number; if {name!r} is a category, pass "
                f"--categorical {name}")
        if texts or ref_values.numbers is None or cur_values.numbers is None:
            categories.append(name)
            ref_out[name], cur_out[name] = _blank_to_missing(ref_col), _blank_to_missing(cur_col)
        else:
            ref_out[name], cur_out[name] = ref_values.numbers, cur_values.numbers
    return (pd.DataFrame(ref_out, index=reference.frame.index),
            pd.DataFrame(cur_out, index=current.frame.index), categories)


# --------------------------------------------------------------------------- the command


def _categorical(values: list[str]) -> list[str]:
    """``--categorical a,b --categorical c`` as ``[a, b, c]``, each once."""
    names: list[str] = []
    for value in values:
        for name in value.split(","):
            if name.strip() and name.strip() not in names:
                names.append(name.strip())
    return names


def run_drift(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Compare the two files; the report as JSON values (``DatasetDrift.to_json()`` and
    the files' names and rows).

    Raises:
        services.cli.common.CliError: a bad option, file, column or configuration.
    """
    from services.drift.compare import check_columns, compare_frames
    from services.drift.config import DriftConfigError, load_drift_config
    from services.drift.errors import DriftError

    if args.drift_share is not None and not 0.0 < args.drift_share <= 1.0:
        raise CliError(f"--drift-share must be in (0, 1], got {args.drift_share}")
    config_file = settings.drift_config_file if args.config is None else args.config
    try:
        config = load_drift_config(config_file)
    except DriftConfigError as exc:
        raise CliError(_one_line(str(exc))) from None
    if args.drift_share is not None:
        share = args.drift_share
    else:
        share = config.share_for(None, settings.drift_share)
        if not 0.0 < share <= 1.0:
            raise CliError(f"OPSDASH_DRIFT_SHARE must be in (0, 1], got {share}")
    categorical = _categorical(args.categorical)
    reference = _read("reference", args.reference)
    current = _read("current", args.current)
    try:
        check_columns(list(reference.frame.columns), list(current.frame.columns), categorical)
        ref_frame, cur_frame, categories = _typed(reference, current, set(categorical))
        drift = compare_frames(ref_frame, cur_frame, categorical=categories,
                               config=config.columns_for(None), drift_share=share)
    except DriftError as exc:
        raise CliError(_one_line(str(exc))) from None
    return {
        "reference": {"file": str(args.reference), "rows": len(reference.frame)},
        "current": {"file": str(args.current), "rows": len(current.frame)},
        **drift.to_json(),
    }


def exit_status(args: argparse.Namespace, result: dict[str, Any]) -> int:
    """3 (:data:`EXIT_DRIFTED`) under ``--fail-on-drift`` when the dataset drifted, else 0."""
    return EXIT_DRIFTED if args.fail_on_drift and result["dataset"]["drifted"] else 0


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _notes(column: dict[str, Any]) -> str:
    """The column's note, with its new categories named (the first few)."""
    parts = column["note"].split("; ") if column["note"] else []
    new = column["new_categories"]
    if new:
        shown = ", ".join(new[:_NEW_SHOWN]) + (", …" if len(new) > _NEW_SHOWN else "")
        counted = [i for i, part in enumerate(parts) if part.endswith("not in the reference")]
        if counted:
            parts[counted[0]] += f": {shown}"
        else:
            parts.append(f"new: {shown}")
    return "; ".join(parts)


def print_drift(result: dict[str, Any]) -> None:
    """The report as a table, one row per column in the reference's order, and a verdict."""
    ref, cur = result["reference"], result["current"]
    print(f"reference {ref['file']} ({ref['rows']:,} rows), "
          f"current {cur['file']} ({cur['rows']:,} rows)")
    header = ("column", "kind", "test", "statistic", "threshold", "drifted", "psi", "notes")
    rows = [
        (c["column"], c["kind"], c["test"], _num(c["statistic"]), _num(c["threshold"]),
         "yes" if c["drifted"] else "no", _num(c["psi"]), _notes(c))
        for c in result["columns"]
    ]
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]).rstrip())
    print(_verdict(result["dataset"]))


def _verdict(dataset: dict[str, Any]) -> str:
    tested, drifted = dataset["tested_columns"], dataset["drifted_columns"]
    if not tested:
        return "dataset: not drifted (no column could be tested)"
    untested = dataset["columns"] - tested
    verdict, sign = ("drifted", ">=") if dataset["drifted"] else ("not drifted", "<")
    line = (f"dataset: {verdict} ({drifted} of {tested} column{'s' if tested != 1 else ''}, "
            f"share {dataset['drifted_share']:.2f} {sign} {dataset['drift_share']:.2f}")
    if untested:
        line += f"; {untested} not tested"
    return line + ")"


#: ``(run, show)`` for the command table of ``services.cli.main``.
COMMANDS: dict[str, Command] = {NAME: (run_drift, print_drift)}
