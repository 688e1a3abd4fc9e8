"""Import a label CSV file too large for one transaction (the command line's
``import-labels``): checked whole first, then written in bounded transactions, resumable.

:func:`check_label_file` reads the file from disk a part at a time
(:mod:`services.labels.csv_stream`) and runs every check of a page import on each part: the
file's format and limits, the cells, a prediction on two lines (across parts), unknown
predictions, labels that are not classes of the prediction's model, and (unless
``replace``) rows that would change a stored label. Every bad line is reported at once,
and nothing is written.

:func:`write_label_file` then reads the file again and saves its rows in transactions of
``batch_rows`` (:func:`services.labels.save.save_labels`, each all or nothing), so another
writer (a labeler saving on the Label feedback page) waits for one transaction at a time,
not for the whole file; between two transactions the store is left to other writers for
:data:`PAUSE_S`, so a writer already waiting goes first. Each transaction adds one
``import_labels_batch`` audit entry (the import's id, its number, its lines and counts)
besides the ``label`` entry of each change; the last adds the ``import_labels`` entry of the
whole import. The import as a whole is not atomic: when it stops (interrupted, the database
busy, a label changed by someone else since the check), the transactions written stay, and
running the same import again finishes it: rows already stored with the file's label count
as unchanged.

:func:`import_label_file` does both; a file within the page's limits is imported as the
page does (:func:`services.labels.importer.import_labels`: one transaction, all or none).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.repositories import labels as labels_repo
from db.session import session_scope
from services.access.principal import Principal, require
from services.access.roles import Action, Role
from services.audit import record
from services.labels.csv_file import FileLimits, LabelRow, RowError, check_rows
from services.labels.csv_stream import file_stamp, label_file_rows
from services.labels.importer import (
    ImportConflictError,
    ImportResult,
    LabelImportError,
    attribute_rows,
    import_labels,
    store_errors,
)
from services.labels.save import (
    Conflict,
    LabelConflictError,
    LabelEdit,
    LabelError,
    LabelsNotSavedError,
    SaveResult,
    save_labels,
)
from services.settings import Settings, get_settings

__all__ = ["BATCH_ROWS", "PAUSE_S", "CheckedFile", "ImportStoppedError", "Transaction",
           "check_label_file", "import_label_file", "write_label_file"]

#: Rows per transaction by default: about 0.3 s on SQLite on a quiet machine (the 17,600
#: labels/s of ``make bench-labels``), 1.5 to 2.3 s on average at a load average of 9 to 11
#: (``make bench-label-import-cli``).
BATCH_ROWS = 5_000
#: Seconds the import leaves the store to other writers between two transactions: longer
#: than the 0.1 s a writer waiting for SQLite's lock sleeps between tries, so one waiting
#: is not passed over by the import's next transaction.
PAUSE_S = 0.15
_CHECKED_AT_ONCE = 5_000


@dataclass(frozen=True)
class CheckedFile:
    """A label file found good: what :func:`write_label_file` writes.

    Attributes:
        path: the file.
        filename: its name, for the audit entries.
        rows: its rows.
        replace: whether stored labels that differ are overwritten.
        stamp: its size and modification time when checked.
    """

    path: Path
    filename: str
    rows: int
    replace: bool
    stamp: tuple[int, int]


@dataclass(frozen=True)
class Transaction:
    """One transaction of an import, written (committed).

    Attributes:
        number: its number, from 1.
        of: how many the import has.
        first_line: its first row's line in the file.
        last_line: its last row's line.
        saved: labels stored (new and replaced).
        unchanged: rows equal to the stored label.
        replaced: of ``saved``, those that overwrote another label.
        named_others: rows naming another labeler, stored as the importer's own (only an
            admin may name someone else; see :func:`services.labels.importer.attribute_rows`).
    """

    number: int
    of: int
    first_line: int
    last_line: int
    saved: int
    unchanged: int
    replaced: int
    named_others: int = 0


class ImportStoppedError(LabelImportError):
    """The import stopped before its end; the transactions written before stay stored.

    Attributes:
        transactions: transactions written by this run.
        stored_through: the last line stored (1, the header, when none).
        conflicts: ``(line, conflict)`` for rows whose stored label changed since the check.
    """

    def __init__(self, reason: str, errors: Sequence[RowError] = (), *, transactions: int,
                 of: int, stored_through: int,
                 conflicts: Sequence[tuple[int, Conflict]] = ()) -> None:
        self.transactions, self.stored_through = transactions, stored_through
        self.conflicts = list(conflicts)
        stored = f"the rows of lines 2 to {stored_through} are stored" if transactions \
            else "nothing stored"
        super().__init__(f"stopped after {transactions} of {of} transactions ({stored}): "
                         f"{reason}; run the same import again to finish it", errors)


def _conflicts(engine: Engine, rows: Sequence[LabelRow]) -> list[tuple[int, Conflict]]:
    """Rows whose prediction has another label stored."""
    with session_scope(engine) as session:
        stored = labels_repo.current_labels(session=session,
                                            ids=[r.prediction_id for r in rows])
    return [(r.line, Conflict(prediction_id=r.prediction_id, stored_label=s.label,
                              stored_by=s.labeler, stored_at=s.updated_at,
                              stored_revision=s.revision, your_label=r.label))
            for r in rows if (s := stored.get(r.prediction_id)) is not None
            and s.label != r.label]


def check_label_file(*, engine: Engine, actor: Principal | None, path: Path, filename: str,
                     replace: bool, limits: FileLimits) -> CheckedFile:
    """Check a whole label file against the store, a part at a time; nothing is written.

    Raises:
        PermissionDenied: ``actor`` may not import labels.
        LabelImportError: the file or some rows are bad (``errors`` lists every one).
        ImportConflictError: rows differ from stored labels and not ``replace``.
        OSError: the file cannot be read.
    """
    require(actor, Action.IMPORT_LABELS)
    stamp = file_stamp(path)
    errors: list[RowError] = []
    unread: list[RowError] = []  # rows without a cell per column
    conflicts: list[tuple[int, Conflict]] = []
    seen: dict[str, int] = {}
    count = 0

    def check(part: list[LabelRow]) -> None:
        errors.extend(check_rows(part, seen=seen))
        errors.extend(store_errors(engine, part))
        if not replace:
            conflicts.extend(_conflicts(engine, part))

    part: list[LabelRow] = []
    for row in label_file_rows(path, limits=limits, errors=unread):
        count += 1
        part.append(row)
        if len(part) == _CHECKED_AT_ONCE:
            check(part)
            part = []
    if part:
        check(part)
    if errors or unread:
        bad = {e.line for e in [*errors, *unread]}
        total = count + len({e.line for e in unread})
        raise LabelImportError(f"nothing stored: {len(bad)} of {total} rows have problems",
                               [*unread, *errors])
    if conflicts:
        raise ImportConflictError(conflicts, rows=count)
    return CheckedFile(path, filename, count, replace, stamp)


def write_label_file(*, engine: Engine, actor: Principal | None, checked: CheckedFile,
                     batch_rows: int = BATCH_ROWS) -> Iterator[Transaction]:
    """Write a checked file in transactions of ``batch_rows`` rows; yields each once
    committed (so stopping the iteration stops the import between two transactions).

    Raises:
        PermissionDenied: ``actor`` may not import labels.
        LabelImportError: the file changed since it was checked; nothing more is written.
        ImportStoppedError: a transaction could not be written (the database stayed busy,
            a label changed since the check); the earlier ones stay.
    """
    importer = require(actor, Action.IMPORT_LABELS)
    writer = _Writer(engine, importer, checked, -(-checked.rows // batch_rows))
    if file_stamp(checked.path) != checked.stamp:
        raise writer.file_changed()
    errors: list[RowError] = []
    part: list[LabelRow] = []
    # The limits were checked; a row beyond the rows checked means the file changed.
    rows = label_file_rows(checked.path, limits=FileLimits(1 << 62, checked.rows),
                           errors=errors)
    try:
        for row in rows:
            part.append(row)
            if len(part) == batch_rows:
                yield writer.write(part)
                part = []
    except ImportStoppedError:
        raise
    except LabelImportError:  # more rows than checked, or no longer CSV
        raise writer.file_changed() from None
    if part:
        yield writer.write(part)
    if errors or writer.done != writer.of:
        raise writer.file_changed()


class _Writer:
    """The transactions of one run of an import, and their totals."""

    def __init__(self, engine: Engine, importer: Principal, checked: CheckedFile,
                 of: int) -> None:
        self.engine, self.importer, self.checked, self.of = engine, importer, checked, of
        self.run = uuid.uuid4().hex
        self.done, self.stored_through = 0, 1
        self.totals = {"saved": 0, "unchanged": 0, "replaced": 0, "named_others": 0}

    def file_changed(self) -> LabelImportError:
        reason = "the file changed since it was checked"
        if not self.done:
            return LabelImportError(f"nothing stored: {reason}; run the import again")
        return ImportStoppedError(reason, transactions=self.done, of=self.of,
                                  stored_through=self.stored_through)

    def _audit(self, part: Sequence[LabelRow], others: int, session: Session,
               result: SaveResult) -> None:
        counts = {"saved": result.saved, "unchanged": result.unchanged,
                  "replaced": result.replaced}
        if others:
            counts["named_others_as_importer"] = others
        base: dict[str, Any] = {"import": self.run}
        record(session=session, actor=self.importer.username, action="import_labels_batch",
               object_type="label_file", object_id=self.checked.filename,
               details={**base, "transaction": self.done + 1, "of": self.of,
                        "lines": [part[0].line, part[-1].line], "rows": len(part), **counts,
                        "replace": self.checked.replace})
        if self.done + 1 == self.of:
            totals = {k: self.totals[k] + counts[k] for k in ("saved", "unchanged", "replaced")}
            named = self.totals["named_others"] + others
            if named:
                totals["named_others_as_importer"] = named
            record(session=session, actor=self.importer.username, action="import_labels",
                   object_type="label_file", object_id=self.checked.filename,
                   details={**base, "rows": self.checked.rows, **totals,
                            "replace": self.checked.replace, "transactions": self.of})

    def write(self, part: Sequence[LabelRow]) -> Transaction:
        """Save ``part`` in one transaction, with its audit entries (after a pause, when
        it is not the first: see :data:`PAUSE_S`)."""
        if self.done:
            time.sleep(PAUSE_S)
        attributed, others = attribute_rows(self.importer, part)
        others = 0 if self.importer.role is Role.ADMIN else others
        edits = [LabelEdit(r.prediction_id, r.label, None, labeler=r.labeler)
                 for r in attributed]
        try:
            result = save_labels(engine=self.engine, actor=self.importer, edits=edits,
                                 source="csv", replace_conflicts=self.checked.replace,
                                 all_or_nothing=True,
                                 on_saved=lambda s, r: self._audit(part, others, s, r))
        except LabelConflictError as exc:
            lines = {r.prediction_id: r.line for r in part}
            found = ImportConflictError([(lines[c.prediction_id], c) for c in exc.conflicts],
                                        rows=len(part))
            n = len(found.conflicts)
            raise self._stopped(f"{n} row{'s' if n > 1 else ''} would change a stored label",
                                found.errors, conflicts=found.conflicts) from None
        except (LabelError, LabelsNotSavedError) as exc:
            raise self._stopped(str(exc)) from None
        self.done += 1
        self.stored_through = part[-1].line
        for key, value in (("saved", result.saved), ("unchanged", result.unchanged),
                           ("replaced", result.replaced), ("named_others", others)):
            self.totals[key] += value
        return Transaction(self.done, self.of, part[0].line, part[-1].line, result.saved,
                           result.unchanged, result.replaced, others)

    def _stopped(self, reason: str, errors: Sequence[RowError] = (),
                 conflicts: Sequence[tuple[int, Conflict]] = ()) -> ImportStoppedError:
        return ImportStoppedError(reason, errors, transactions=self.done, of=self.of,
                                  stored_through=self.stored_through, conflicts=conflicts)


def import_label_file(*, engine: Engine, actor: Principal | None, path: Path, filename: str,
                      replace: bool = False, settings: Settings | None = None,
                      batch_rows: int = BATCH_ROWS) -> ImportResult:
    """Import a label file of up to the command line's limits (see the module notes).

    A file within the page's limits (``OPSDASH_LABEL_IMPORT_MAX_BYTES``,
    ``OPSDASH_LABEL_IMPORT_MAX_ROWS``) is stored in one transaction, all rows or none;
    a larger one, once checked whole, in transactions of ``batch_rows`` rows.

    Raises:
        PermissionDenied, LabelImportError, ImportConflictError: as
            :func:`check_label_file`; nothing was stored.
        ImportStoppedError: the import stopped part-way (see :func:`write_label_file`).
        LabelsNotSavedError: a file within the page's limits found the database busy.
        OSError: the file cannot be read.
    """
    cfg = settings or get_settings()
    checked = check_label_file(engine=engine, actor=actor, path=path, filename=filename,
                               replace=replace, limits=FileLimits.command_line(cfg))
    if checked.rows <= cfg.label_import_max_rows and \
            checked.stamp[0] <= cfg.label_import_max_bytes:
        return import_labels(engine=engine, actor=actor, data=path.read_bytes(),
                             filename=filename, replace=replace, settings=cfg)
    saved = unchanged = replaced = transactions = others = 0
    for done in write_label_file(engine=engine, actor=actor, checked=checked,
                                 batch_rows=batch_rows):
        saved, unchanged = saved + done.saved, unchanged + done.unchanged
        replaced, transactions = replaced + done.replaced, done.of
        others += done.named_others
    return ImportResult(rows=checked.rows, saved=saved, unchanged=unchanged,
                        replaced=replaced, transactions=transactions, named_others=others)
