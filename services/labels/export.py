"""CSV export of a model's predictions and their ground-truth labels.

One row per prediction, oldest first: ``prediction_id, timestamp, model, version, predicted,
top_score, label, labeler, labelled_at`` (label, labeler and labelled_at empty when the
prediction has no label). Text cells go through :func:`services.csv_cells.safe_cell`, so a
class or labeler name such as ``=HYPERLINK(...)`` is shown, never run, by a spreadsheet; the
importer (:mod:`services.labels.importer`) undoes that, so an export of labelled rows imports
back as "unchanged".

Readable by the roles that may open the labeling page (admins, operators, labelers): the
file names who labeled what, as :func:`services.labels.save.label_history` does. Analysts see
the same labels aggregated on the Model quality page.

The rows are read in pages of :data:`PAGE_ROWS` (keyset on prediction time and id, one short
read transaction each), so an export of any size never holds the table in memory nor keeps
a transaction open while the caller writes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.repositories import labels as labels_repo
from db.repositories import registry
from db.session import session_scope
from services.access.principal import Principal, require
from services.access.roles import View
from services.csv_cells import safe_cell

__all__ = ["EXPORT_COLUMNS", "PAGE_ROWS", "export_csv"]

#: Columns of the export, in order.
EXPORT_COLUMNS = ("prediction_id", "timestamp", "model", "version", "predicted", "top_score",
                  "label", "labeler", "labelled_at")
#: Rows read from the store per query.
PAGE_ROWS = 1000


@dataclass(frozen=True)
class _Scope:
    model_id: int
    model: str
    version_id: int | None
    since: datetime | None
    until: datetime | None
    labelled_only: bool


def _scope(
    session: Session, *, model: str, version: int | None, since: datetime | None,
    until: datetime | None, labelled_only: bool,
) -> _Scope:
    found = registry.get_model(session=session, name=model)
    version_id = registry.version_row_id(session=session, model=found, version=version)
    return _Scope(model_id=found.id, model=model, version_id=version_id, since=since,
                  until=until, labelled_only=labelled_only)


_Key = tuple[datetime, str]


def _page(session: Session, scope: _Scope, after: _Key | None,
          size: int) -> list[tuple[_Key, tuple[str, ...]]]:
    """Up to ``size`` rows after the (time, id) key ``after``: each key and its cells."""
    rows = labels_repo.export_page(
        session=session, model_id=scope.model_id, version_id=scope.version_id,
        since=scope.since, until=scope.until, labelled_only=scope.labelled_only, after=after,
        limit=size)
    return [
        ((ts, pid),
         (pid, ts.isoformat(), scope.model, str(version), predicted, repr(float(top)),
          label or "", labeler or "", labelled_at.isoformat() if labelled_at else ""))
        for pid, ts, version, predicted, top, label, labeler, labelled_at in rows
    ]


def _lines(engine: Engine, scope: _Scope, page_rows: int) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def line(cells: tuple[str, ...]) -> str:
        out.seek(0)
        out.truncate()
        writer.writerow([safe_cell(cell) for cell in cells])
        return out.getvalue()

    yield line(EXPORT_COLUMNS)
    after: _Key | None = None
    while True:
        with session_scope(engine) as session:
            page = _page(session, scope, after, page_rows)
        for _, cells in page:
            yield line(cells)
        if len(page) < page_rows:
            return
        after = page[-1][0]


def export_csv(
    *,
    engine: Engine,
    actor: Principal | None,
    model: str,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    labelled_only: bool = False,
    page_rows: int = PAGE_ROWS,
) -> Iterator[str]:
    """The predictions of ``model`` made in ``[since, until)`` and their labels, as CSV.

    The caller, the model, the version and the window are checked at once (before the
    first line is read); the lines are then read page by page as the iterator is consumed.
    Join them for one text (``"".join(export_csv(...))``) or write them as they come.

    Args:
        engine: the store.
        actor: the caller; needs the labeling page (admins, operators, labelers).
        model: the model's name.
        version: only this version number (default: every version).
        since: only predictions made at or after this time (timezone-aware).
        until: only predictions made before this time (timezone-aware).
        labelled_only: only predictions that have a label.
        page_rows: rows read per query.

    Returns:
        The header line, then one line per prediction (each ending in CRLF, as RFC 4180
        and spreadsheets expect), ordered by prediction time.

    Raises:
        PermissionDenied: the caller may not view the labeling page.
        RegistryError: no such model, or no such version of it.
        ValueError: a naive time, ``since`` not before ``until``, or ``page_rows`` < 1.
    """
    require(actor, View.LABELING)
    for bound in (since, until):
        if bound is not None and bound.tzinfo is None:
            raise ValueError("export times must be timezone-aware")
    if since is not None and until is not None and since >= until:
        raise ValueError("the start of the window must be before its end")
    if page_rows < 1:
        raise ValueError(f"page_rows must be at least 1, got {page_rows}")
    with session_scope(engine) as session:
        scope = _scope(session, model=model, version=version, since=since, until=until,
                       labelled_only=labelled_only)
    return _lines(engine, scope, page_rows)
