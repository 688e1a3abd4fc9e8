"""``import-labels`` and ``export-labels``: the command line of the label CSV files.

Kept apart from ``services/cli/main.py``, which only registers them: :func:`add_parsers` adds
the subcommands, :data:`COMMANDS` maps each name to its ``(run, show)`` pair, and every
failure is a :class:`LabelCommandError` whose message is for the user.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from services.cli.common import Command, checked_engine, parse_time

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = ["COMMANDS", "LabelCommandError", "add_parsers"]

_IMPORT_EPILOG = """\
The file is UTF-8 CSV with a header line: prediction_id,label[,labeler] in any order (the
other columns of export-labels are accepted and ignored). Every bad row is listed with its
line (the header is line 1) and then nothing is imported. A row whose prediction already
has another label refuses the whole import unless --replace. Labels are stored by the
acting user (the local admin `cli`, or --as), who is also the labeler of rows without a
labeler cell. "-" reads standard input.

A file within the Label feedback page's limits (OPSDASH_LABEL_IMPORT_MAX_ROWS,
OPSDASH_LABEL_IMPORT_MAX_BYTES) is stored in one transaction, all rows or none. A larger
one, up to OPSDASH_LABEL_IMPORT_CLI_MAX_ROWS and OPSDASH_LABEL_IMPORT_CLI_MAX_BYTES, is
checked whole first and then stored in transactions of --batch-rows rows, so labelers
saving meanwhile wait for one transaction at a time; if the import stops part-way, the
transactions written stay, and running the same command again finishes it (rows already
stored with the file's label count as unchanged).
"""
_EXPORT_EPILOG = """\
Columns: prediction_id, timestamp, model, version, predicted, top_score, label, labeler,
labelled_at (UTC, ISO 8601); cells a spreadsheet would run as formulas start with an
apostrophe. Times are ISO 8601, UTC when without an offset; the window is on prediction
time: --since inclusive, --until exclusive. The file imports back with import-labels.
"""


class LabelCommandError(Exception):
    """The command failed; ``str()`` says why, one problem a line."""


@contextmanager
def _source(name: str, limit: int) -> Iterator[tuple[Path, str]]:
    """The file to import and its name; standard input (at most ``limit`` + 1 bytes: enough
    to tell it is too large) is copied to a temporary file, as the import reads it twice."""
    if name != "-":
        path = Path(name)
        try:
            path.open("rb").close()
        except OSError as exc:
            raise LabelCommandError(f"cannot read {name}: {exc.strerror or exc}") from None
        yield path, path.name
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="opsdash-labels-") as folder:
        path = Path(folder) / "stdin.csv"
        with path.open("wb") as out:
            left = limit + 1
            while left > 0 and (block := sys.stdin.buffer.read(min(left, 1 << 20))):
                out.write(block)
                left -= len(block)
        yield path, "stdin"


def _batch_rows(args: argparse.Namespace, settings: Settings) -> int:
    """``--batch-rows`` (default 5,000), at most the rows the page stores in one
    transaction."""
    most = settings.label_import_max_rows
    if args.batch_rows is None:
        return min(5_000, most)
    if not 1 <= args.batch_rows <= most:
        raise LabelCommandError(f"--batch-rows must be 1 to {most:,} (one transaction holds "
                                f"at most OPSDASH_LABEL_IMPORT_MAX_ROWS rows)")
    return int(args.batch_rows)


def _run_import(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.access import CLI
    from services.auth.users import get_principal
    from services.labels.file_import import ImportStoppedError, import_label_file
    from services.labels.importer import ImportConflictError, LabelImportError
    from services.labels.save import LabelsNotSavedError

    batch_rows = _batch_rows(args, settings)
    with _source(args.file, settings.label_import_cli_max_bytes) as (path, name), \
            checked_engine(settings) as engine:
        try:
            actor = CLI
            if args.as_user is not None:
                found = get_principal(engine=engine, username=args.as_user)
                if found is None:
                    raise LabelCommandError(f"no enabled user named {args.as_user!r} (see "
                                            "`users list`)")
                actor = found
            result = import_label_file(engine=engine, actor=actor, path=path, filename=name,
                                       replace=args.replace, settings=settings,
                                       batch_rows=batch_rows)
        except LabelImportError as exc:
            conflicts = isinstance(exc, ImportConflictError) or (
                isinstance(exc, ImportStoppedError) and exc.conflicts)
            hint = "; run again with --replace to overwrite them" if conflicts else ""
            lines = [f"{name}: {exc.summary}{hint}", *(f"  {e}" for e in exc.errors)]
            raise LabelCommandError("\n".join(lines)) from None
        except LabelsNotSavedError as exc:
            raise LabelCommandError(str(exc)) from None
        except OSError as exc:
            raise LabelCommandError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    return {"file": name, "actor": actor.username, "rows": result.rows, "saved": result.saved,
            "unchanged": result.unchanged, "replaced": result.replaced,
            "transactions": result.transactions}


def _print_import(result: dict[str, Any]) -> None:
    many = f" in {result['transactions']:,} transactions" if result["transactions"] > 1 else ""
    print(f"{result['file']}: {result['rows']:,} rows imported by {result['actor']}{many}: "
          f"{result['saved']:,} saved ({result['replaced']:,} replacing another label), "
          f"{result['unchanged']:,} unchanged")


def _write(lines: Iterator[str], output: str | None) -> int:
    """Write the lines to ``output`` (whole or not at all) or to standard output.

    Returns:
        The number of data rows (lines after the header).
    """
    count = 0

    def copy(out: TextIO) -> None:
        nonlocal count
        for line in lines:
            out.write(line)
            count += 1

    if output is None:
        copy(sys.stdout)
        return count - 1
    path = Path(output)
    part = path.with_name(path.name + ".part")
    try:
        with part.open("w", encoding="utf-8", newline="") as f:
            copy(f)
        part.replace(path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise LabelCommandError(f"cannot write {output}: {exc.strerror or exc}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return count - 1


def _run_export(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from db.repositories.registry import RegistryError
    from services.access import CLI
    from services.labels.export import export_csv

    if args.json and args.output is None:
        raise LabelCommandError("--json prints a summary, so it needs --output FILE (the CSV "
                                "would share standard output)")
    since, until = parse_time(args.since, "--since"), parse_time(args.until, "--until")
    with checked_engine(settings) as engine:
        try:
            lines = export_csv(engine=engine, actor=CLI, model=args.model,
                               version=args.version, since=since, until=until,
                               labelled_only=args.labelled_only)
            rows = _write(lines, args.output)
        except (RegistryError, ValueError) as exc:
            raise LabelCommandError(str(exc)) from None
    return {"model": args.model, "version": args.version,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "labelled_only": args.labelled_only, "rows": rows, "output": args.output}


def _print_export(result: dict[str, Any]) -> None:
    if result["output"] is None:
        return  # standard output holds the CSV
    scope = result["model"] + (f" v{result['version']}" if result["version"] else "")
    what = "labelled predictions" if result["labelled_only"] else "predictions"
    print(f"wrote {result['rows']:,} {what} of {scope} to {result['output']}")


def add_parsers(sub: Any) -> None:
    """Add ``import-labels`` and ``export-labels`` to the subcommands ``sub``."""
    text = ("import ground-truth labels from a CSV file: checked whole, then stored (a large "
            "file in several transactions)")
    p: argparse.ArgumentParser = sub.add_parser(
        "import-labels", help=text, description=text, epilog=_IMPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help='a CSV file, or "-" for standard input')
    p.add_argument("--replace", action="store_true",
                   help="overwrite stored labels that differ from the file's")
    p.add_argument("--as", dest="as_user", metavar="USER",
                   help="act as this user (needs the labeler or admin role; default: the "
                        "local admin `cli`)")
    p.add_argument("--batch-rows", type=int, metavar="N",
                   help="rows per transaction of a file larger than the page's limits "
                        "(default 5000, at most OPSDASH_LABEL_IMPORT_MAX_ROWS)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    text = "export a model's predictions and their labels as CSV"
    p = sub.add_parser("export-labels", help=text, description=text, epilog=_EXPORT_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model name (see `models`)")
    p.add_argument("--version", type=int, help="one version number (default: all versions)")
    p.add_argument("--since", help="predictions made at or after this time (UTC if no offset)")
    p.add_argument("--until", help="predictions made before this time (UTC if no offset)")
    p.add_argument("--labelled-only", action="store_true",
                   help="only predictions that have a label")
    p.add_argument("--output", metavar="FILE",
                   help="write the CSV here (default: standard output)")
    p.add_argument("--json", action="store_true",
                   help="print the summary as JSON (with --output)")


#: ``(run, show)`` of each subcommand, for the command table of ``services.cli.main``.
COMMANDS: dict[str, Command] = {
    "import-labels": (_run_import, _print_import),
    "export-labels": (_run_export, _print_export),
}
