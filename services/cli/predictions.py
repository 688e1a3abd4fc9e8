"""``import-predictions FILE``: the command line of :mod:`services.predictions.importer`.

:func:`add_parsers` adds the subcommand, :data:`COMMANDS` maps it to its ``(run, show)``
pair for the command table of :mod:`services.cli.main`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.cli.common import Command, checked_engine
from services.predictions.limits import DEFAULT_LIMITS, MAX_ROWS

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = ["COMMANDS", "NAME", "add_parsers", "print_imported", "run_import"]

NAME = "import-predictions"

_EPILOG = """\
Columns: prediction_id, timestamp, model, version, predicted; score_<class> for each class
probability; optionally latency_ms; every other column is a feature of the model (its
feature_schema names). Timestamps are ISO 8601 with an offset or Z. A row is checked like a
request to the inference service. Every bad row is listed with its line (CSV, header = line
1) or row (Parquet) number, and then nothing is imported; a good file is imported in one
transaction and audited. The model and version must be registered first (see `models`).
Limits: the file at most {bytes:,} bytes (Parquet: also once decompressed, and
{per_row:,} bytes a row for each column), {columns:,} columns, {chars:,} characters a cell,
{line:,} bytes a CSV line.
"""


def add_parsers(sub: Any) -> None:
    """Add ``import-predictions`` to the subcommands ``sub``."""
    text = "import a prediction log (CSV or Parquet) from another serving stack, all or nothing"
    limits = DEFAULT_LIMITS
    epilog = _EPILOG.format(bytes=limits.max_bytes, per_row=limits.max_chunk_bytes_per_row,
                            columns=limits.max_columns, chars=limits.max_cell_chars,
                            line=limits.max_line_bytes)
    p: argparse.ArgumentParser = sub.add_parser(
        NAME, help=text, description=text, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", type=Path, help="a .csv or .parquet file (else told by content)")
    p.add_argument("--timezone", metavar="ZONE",
                   help="IANA time zone of timestamps written without an offset, e.g. "
                        "Europe/Paris (default: such timestamps are errors)")
    p.add_argument("--without-scores", action="store_true",
                   help="accept rows without class probabilities; stored with top_score 1.0, "
                        "meaning confidence unknown")
    p.add_argument("--ignore-extra-columns", action="store_true",
                   help="leave out columns that are no feature of the model instead of "
                        "refusing the file")
    p.add_argument("--max-rows", type=int, default=MAX_ROWS,
                   help=f"refuse files with more rows (default {MAX_ROWS:,})")
    p.add_argument("--dry-run", action="store_true",
                   help="check the file and say what would be imported; write nothing")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run_import(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Import (or check) the file as the local admin ``cli``; the result as JSON values.

    Raises:
        PredictionImportError: nothing was imported (the message lists why).
        SchemaError: the database has no current schema.
    """
    from services.access import CLI
    from services.predictions.importer import PredictionImportError, import_predictions

    if args.max_rows < 1:
        raise PredictionImportError("--max-rows must be at least 1")
    with checked_engine(settings) as engine:
        result = import_predictions(
            engine=engine, actor=CLI, path=args.file, timezone=args.timezone,
            without_scores=args.without_scores,
            ignore_extra_columns=args.ignore_extra_columns, dry_run=args.dry_run,
            max_rows=args.max_rows)
    return {
        "file": result.file,
        "format": result.format,
        "sha256": result.sha256,
        "dry_run": result.dry_run,
        "imported": 0 if result.dry_run else result.rows,
        "rows": result.rows,
        "versions": [{"model": c.model, "version": c.version, "rows": c.rows}
                     for c in result.versions],
        "first_ts": result.first_ts.isoformat() if result.first_ts else None,
        "last_ts": result.last_ts.isoformat() if result.last_ts else None,
        "without_scores": result.without_scores,
        "ignored_columns": list(result.ignored_columns),
    }


def print_imported(result: dict[str, Any]) -> None:
    """The result of :func:`run_import` in words."""
    verb = "would import" if result["dry_run"] else "imported"
    print(f"{result['file']}: {verb} {result['rows']:,} predictions "
          f"({result['format']}, from {result['first_ts']} to {result['last_ts']})")
    for c in result["versions"]:
        print(f"  {c['model']} v{c['version']}: {c['rows']:,}")
    if result["without_scores"]:
        print(f"note: {result['without_scores']:,} predictions have no scores; their top_score "
              "is 1.0 (confidence unknown)")
    if result["ignored_columns"]:
        print(f"note: columns left out: {', '.join(result['ignored_columns'])}")
    if result["dry_run"]:
        print("dry run: nothing written")


#: ``(run, show)`` for the command table of ``services.cli.main``.
COMMANDS: dict[str, Command] = {NAME: (run_import, print_imported)}
