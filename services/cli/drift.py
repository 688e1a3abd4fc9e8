"""``drift --reference FILE --current FILE``: the command line of :mod:`services.drift.compare`.

:func:`add_parsers` adds the subcommand, :data:`COMMANDS` maps it to its ``(run, show)``
pair for the command table of :mod:`services.cli.main` and
:func:`exit_status` turns a drifted dataset into exit status 3 under ``--fail-on-drift``.

The files are read, and each column's kind told (``--categorical`` first), by
:mod:`services.drift.tabular`; this module holds the parser, the run and the printing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.cli.common import CliError, Command

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = ["COMMANDS", "EXIT_DRIFTED", "NAME", "add_parsers", "exit_status", "print_drift",
           "run_drift"]

NAME = "drift"
#: Exit status under ``--fail-on-drift`` when the dataset has drifted.
EXIT_DRIFTED = 3
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
Limits: each file at most {bytes:,} bytes (Parquet: also once decompressed), {columns:,}
columns, {chars:,} characters a cell (UTF-8 text).

Tests follow Evidently's defaults (KS / chi-square / Z-test up to 1,000 reference rows,
Wasserstein / Jensen-Shannon above); PSI is shown for every column. A drift TOML file
(--config, default OPSDASH_DRIFT_CONFIG_FILE; --config '' for none) can set a test or
threshold per column and the drift share; its shared [features] entries apply here.

Exit status: 0 when the comparison ran, drifted or not; 3 with --fail-on-drift when the
dataset drifted (the report is printed all the same); 2 for bad options or files, with
a one-line reason on standard error and nothing on standard output.
"""


def _epilog() -> str:
    from services.predictions.limits import DEFAULT_LIMITS

    limits = DEFAULT_LIMITS
    return _EPILOG.format(bytes=limits.max_bytes, columns=limits.max_columns,
                          chars=limits.max_cell_chars)


def add_parsers(sub: Any) -> None:
    """Add ``drift`` to the subcommands ``sub``."""
    text = ("compare a current sample (CSV or Parquet) with a reference one: per-column "
            "drift tests, PSI and the dataset's verdict")
    p: argparse.ArgumentParser = sub.add_parser(
        NAME, help=text, description=text, epilog=_epilog(),
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
    # pandas, numpy, SciPy and Arrow load when the command runs, not with the CLI.
    from services.drift.compare import check_columns, compare_frames
    from services.drift.config import DriftConfigError, load_drift_config
    from services.drift.errors import DriftError
    from services.drift.tabular import TabularError, read_table, typed_frames

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
    try:
        reference = read_table("reference", args.reference)
        current = read_table("current", args.current)
        check_columns(list(reference.frame.columns), list(current.frame.columns), categorical)
        ref_frame, cur_frame, categories = typed_frames(reference, current, set(categorical))
        drift = compare_frames(ref_frame, cur_frame, categorical=categories,
                               config=config.columns_for(None), drift_share=share)
    except TabularError as exc:
        raise CliError(str(exc)) from None
    except DriftError as exc:
        raise CliError(_one_line(str(exc))) from None
    return {
        "reference": {"file": str(args.reference), "rows": len(reference.frame)},
        "current": {"file": str(args.current), "rows": len(current.frame)},
        **drift.to_json(),
    }


def _one_line(text: str) -> str:
    return " ".join(text.split())


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
