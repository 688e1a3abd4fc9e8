"""Import ground-truth labels from a CSV file: every row or none.

:func:`import_labels` parses the file (:func:`services.labels.csv_file.parse_label_csv`: format,
limits and the checks that need no store), then checks the rows against the store: every
unknown prediction id and every label that is not a class of its prediction's model is
reported with its line. Only then are the rows saved by
:func:`services.labels.save.save_labels`, in one transaction, all or nothing: a row whose
prediction already has a different label is a conflict, and the whole import is refused
(:class:`ImportConflictError`, naming each stored label and who set it) unless ``replace``.
Each label gets its history row and ``label`` audit entry (actor: the importing user;
``labeler`` in the details when the file names another), and the import one
``import_labels`` audit entry, all in that transaction.

Who a label is attributed to is decided here (:func:`attribute_rows`), not by the file or
the request: only an admin may name another labeler. A labeler's rows that name someone
else are stored as the labeler's own, and the result says how many did (refusing the file
would throw back labels that are fine, and break importing an export, which names every
labeler, back unchanged). A name sent to the feedback API is stored as
``feedback-api:<name>`` (:func:`api_labeler`): a source, never a dashboard user (user names
have no colon).

:func:`save_label_rows` is the same check-then-save for rows from elsewhere (the inference
service's ``POST /feedback``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.repositories.predictions import prediction_models
from db.session import session_scope
from services.access.principal import FEEDBACK_API, Principal, require
from services.access.roles import Action, Role
from services.audit import record
from services.labels.csv_file import (
    LabelImportError,
    LabelRow,
    RowError,
    check_rows,
    parse_label_csv,
    problems_found,
    read_label_csv,
    show_value,
)
from services.labels.save import (
    Conflict,
    LabelConflictError,
    LabelEdit,
    LabelError,
    SaveResult,
    save_labels,
)
from services.settings import Settings, get_settings

__all__ = [
    "API_LABELER_PREFIX",
    "ImportConflictError",
    "ImportResult",
    "LabelImportError",
    "LabelRow",
    "RowError",
    "api_labeler",
    "attribute_rows",
    "import_labels",
    "parse_label_csv",
    "save_label_rows",
    "store_errors",
]

_CLASSES_SHOWN = 10


class ImportConflictError(LabelImportError):
    """Rows would change labels already stored, and ``replace`` was not asked for.

    Attributes:
        conflicts: ``(line, conflict)`` for each such row: the stored label, who set it and
            when (:class:`services.labels.save.Conflict`).
    """

    def __init__(self, conflicts: Sequence[tuple[int, Conflict]], *, rows: int) -> None:
        self.conflicts = list(conflicts)
        errors = [
            RowError(line, c.prediction_id,
                     f"stored label {show_value(c.stored_label)} (set by {c.stored_by} at "
                     f"{c.stored_at:%Y-%m-%d %H:%M} UTC) differs from {show_value(c.your_label)}",
                     "label")
            for line, c in self.conflicts
        ]
        super().__init__(f"nothing stored: {len(errors)} of {rows} rows would change a "
                         f"stored label (replace them to overwrite)", errors)


@dataclass(frozen=True)
class ImportResult:
    """What an import stored.

    Attributes:
        rows: rows in the file.
        saved: labels stored: new ones and replaced ones.
        unchanged: rows equal to the stored label (nothing written).
        replaced: of ``saved``, those that overwrote a different stored label.
        transactions: the write transactions it took (more than one only for a file
            larger than the page's limits, from the command line).
        named_others: rows naming a labeler other than the importer, which only an admin
            may do: stored as the importer's own.
    """

    rows: int
    saved: int
    unchanged: int
    replaced: int
    transactions: int = 1
    named_others: int = 0


def store_errors(engine: Engine, rows: Sequence[LabelRow]) -> list[RowError]:
    """Unknown predictions and labels that are not classes of the prediction's model."""
    ids = [r.prediction_id for r in rows if r.prediction_id.strip()]
    with session_scope(engine) as session:
        models = prediction_models(session=session, ids=ids)
    errors: list[RowError] = []
    for row in rows:
        if not row.prediction_id.strip():
            continue  # reported by check_rows
        if row.prediction_id not in models:
            errors.append(RowError(row.line, row.prediction_id,
                                   f"no prediction {show_value(row.prediction_id)}",
                                   "prediction_id"))
            continue
        model = models[row.prediction_id]
        if row.label.strip() and row.label not in model.classes:
            shown = ", ".join(model.classes[:_CLASSES_SHOWN])
            more = f" and {len(model.classes) - _CLASSES_SHOWN} more" \
                if len(model.classes) > _CLASSES_SHOWN else ""
            errors.append(RowError(row.line, row.prediction_id,
                                   f"{show_value(row.label)} is not a class of {model.name} "
                                   f"({shown}{more})", "label"))
    return errors


#: How a labeler named by a feedback API caller is stored: ``feedback-api:<name>``.
API_LABELER_PREFIX = f"{FEEDBACK_API.username}:"


def api_labeler(name: str) -> str:
    """The stored labeler of a label the feedback API's caller attributed to ``name``."""
    return API_LABELER_PREFIX + name


def attribute_rows(actor: Principal, rows: Sequence[LabelRow]) -> tuple[list[LabelRow], int]:
    """``rows`` with the labeler ``actor`` may store, and how many named someone else.

    An admin's rows keep the labeler they name; the feedback API's become
    ``feedback-api:<name>``; anyone else's are their own (the file's other name is not
    trusted, and the label is not thrown away either).
    """
    others = sum(r.labeler is not None and r.labeler != actor.username for r in rows)
    if actor.role is Role.ADMIN or not others:
        return list(rows), others
    if actor == FEEDBACK_API:
        return [r if r.labeler is None or r.labeler == actor.username
                else dataclasses.replace(r, labeler=api_labeler(r.labeler)) for r in rows], others
    return [dataclasses.replace(r, labeler=None) if r.labeler is not None else r
            for r in rows], others


def save_label_rows(
    *,
    engine: Engine,
    actor: Principal | None,
    rows: Sequence[LabelRow],
    source: str,
    replace: bool = False,
    where: str = "line",
    errors: Sequence[RowError] = (),
    on_saved: Callable[[Session, SaveResult], None] | None = None,
) -> SaveResult:
    """Check ``rows`` against the store, then save them all or none.

    Args:
        engine: the store.
        actor: who saves (the audit actor; the labeler of rows without one); needs ``label``.
        rows: the labels, each prediction once.
        source: ``csv``, ``api``, … (see :func:`services.labels.save.save_labels`).
        replace: overwrite stored labels that differ (else they refuse the whole save).
        where: the word for a row's position in messages (``line``, ``item``).
        errors: problems already found in other rows of the same source (reported with
            those of ``rows``).
        on_saved: passed to :func:`services.labels.save.save_labels` (runs in its transaction).

    Raises:
        PermissionDenied: ``actor`` may not label.
        LabelImportError: bad rows (every one in ``errors``); nothing was stored.
        ImportConflictError: rows differ from stored labels and not ``replace``.
        LabelsNotSavedError: the database stayed busy; nothing was stored.
    """
    saver = require(actor, Action.LABEL)
    rows, _ = attribute_rows(saver, rows)
    found = [*errors, *check_rows(rows, where=where), *store_errors(engine, rows)]
    if found:
        raise problems_found(found, rows=rows)
    lines = {r.prediction_id: r.line for r in rows}
    edits = [LabelEdit(r.prediction_id, r.label, None, labeler=r.labeler) for r in rows]
    try:
        return save_labels(engine=engine, actor=saver, edits=edits, source=source,
                           replace_conflicts=replace, all_or_nothing=True, on_saved=on_saved)
    except LabelConflictError as exc:
        raise ImportConflictError([(lines[c.prediction_id], c) for c in exc.conflicts],
                                  rows=len(rows)) from None
    except LabelError as exc:  # the store changed since the check (a prediction removed)
        raise LabelImportError(f"nothing stored: {exc}") from None


def import_labels(
    *,
    engine: Engine,
    actor: Principal | None,
    data: bytes,
    filename: str,
    replace: bool = False,
    settings: Settings | None = None,
) -> ImportResult:
    """Import a label CSV file (see the module notes): every row, or none.

    Args:
        engine: the store.
        actor: who imports; needs ``import_labels``. The audit actor of every label, and
            the labeler of rows without a ``labeler`` cell.
        data: the file's bytes.
        filename: the file's name, for the audit entry (a name, not a path).
        replace: overwrite stored labels that differ from the file's.
        settings: the size and row limits (default: from the environment).

    Raises:
        PermissionDenied: ``actor`` may not import labels.
        LabelImportError: the file or some rows are bad (``errors`` lists every one by
            line); nothing was stored.
        ImportConflictError: rows differ from stored labels and not ``replace``; nothing
            was stored.
        LabelsNotSavedError: the database stayed busy; nothing was stored.
    """
    importer = require(actor, Action.IMPORT_LABELS)
    cfg = settings or get_settings()
    rows, errors = read_label_csv(data, max_bytes=cfg.label_import_max_bytes,
                                  max_rows=cfg.label_import_max_rows)
    rows, others = attribute_rows(importer, rows)
    others = 0 if importer.role is Role.ADMIN else others

    def audit_import(session: Session, result: SaveResult) -> None:
        record(session=session, actor=importer.username, action="import_labels",
               object_type="label_file", object_id=filename or "unnamed",
               details={"rows": len(rows), "saved": result.saved,
                        "unchanged": result.unchanged, "replaced": result.replaced,
                        "replace": replace}
               | ({"named_others_as_importer": others} if others else {}))

    result = save_label_rows(engine=engine, actor=importer, rows=rows, source="csv",
                             replace=replace, errors=errors, on_saved=audit_import)
    return ImportResult(rows=len(rows), saved=result.saved, unchanged=result.unchanged,
                        replaced=result.replaced, named_others=others)
