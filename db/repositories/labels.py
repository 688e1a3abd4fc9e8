"""Ground-truth labels: the current label of each prediction, its changes and its history.

``feedback`` holds the one current label of a prediction (unique ``prediction_id``) and a
``revision`` that grows with every change; ``feedback_history`` is the append-only trail
of every change. The writes run in the caller's transaction, each batch in a savepoint:
a batch that loses a race (another writer inserted or changed one of its labels since it
was read) is rolled back to it and reported as ``False``, so the caller can decide again
edit by edit. The unique constraint and the revision, not the read, decide who wins.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, insert, literal_column, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import BindParameter

from db.base import UTCDateTime
from db.bulk import executemany
from db.models import Feedback, FeedbackHistory, ModelVersion, Prediction
from db.repositories.predictions import PREDICTION_FACTS

__all__ = [
    "ExportRow",
    "NewLabel",
    "Replacement",
    "StoredLabel",
    "append_history",
    "batch_rowcount_reliable",
    "current_labels",
    "export_page",
    "history",
    "insert_labels",
    "labelled_ids",
    "replace_labels",
]

# Ids per IN (...) query: well below SQLite's bound-parameter limit.
_CHUNK = 500


@dataclass(frozen=True)
class StoredLabel:
    """The current label of a prediction, as read."""

    label: str
    labeler: str
    updated_at: datetime
    revision: int


class NewLabel(NamedTuple):
    """A first label of a prediction (revision 1)."""

    prediction_id: str
    label: str
    labeler: str


class Replacement(NamedTuple):
    """A new label for a prediction whose label was read at ``revision``."""

    prediction_id: str
    revision: int
    label: str
    labeler: str


class ExportRow(NamedTuple):
    """A prediction and its current label (``None`` s when it has none)."""

    prediction_id: str
    ts: datetime
    version: int
    predicted_class: str
    top_score: float
    label: str | None
    labeler: str | None
    labelled_at: datetime | None


# Reads of many ids, a chunk at a time (one cached statement, the ids bound as a list).
_IDS: BindParameter[list[str]] = bindparam("b_ids", expanding=True)
_STORED = (select(Feedback.prediction_id, Feedback.label, Feedback.labeler,
                  Feedback.updated_at, Feedback.revision)
           .where(Feedback.prediction_id.in_(_IDS)))
_HISTORY = insert(FeedbackHistory)
# A first label, the prediction's facts copied in the same statement (a subquery a fact,
# each a lookup of the same primary key); run once per label, as an executemany for a
# batch. SQLite ran this INSERT ... VALUES 15-40 % faster than the equivalent INSERT ...
# SELECT (measured on a busy machine). A prediction that vanished leaves the facts NULL:
# the NOT NULL constraints refuse the row. (A parameter used more than once is converted
# once per row: the id, the time.)
_ID = bindparam("b_prediction_id", type_=Prediction.id.type)
_AT = bindparam("b_at", type_=UTCDateTime())
_INSERT = insert(Feedback).values(
    prediction_id=_ID,
    label=bindparam("b_label", type_=Feedback.label.type),
    labeler=bindparam("b_labeler", type_=Feedback.labeler.type),
    source=bindparam("b_source", type_=Feedback.source.type),
    created_at=_AT,
    updated_at=_AT,
    revision=literal_column("1"),
    **{name: select(fact).where(Prediction.id == _ID).scalar_subquery()
       for name, fact in PREDICTION_FACTS.items()},
)
# A replacement of the label stored at the revision read; matches no row if it moved on.
_REPLACE = (
    update(Feedback)
    .where(Feedback.prediction_id == bindparam("b_prediction_id", type_=Prediction.id.type),
           Feedback.revision == bindparam("b_revision", type_=Feedback.revision.type))
    .values(label=bindparam("b_label", type_=Feedback.label.type),
            labeler=bindparam("b_labeler", type_=Feedback.labeler.type),
            source=bindparam("b_source", type_=Feedback.source.type),
            updated_at=bindparam("b_at", type_=UTCDateTime()),
            revision=Feedback.revision + 1)
)


def current_labels(*, session: Session, ids: Sequence[str]) -> dict[str, StoredLabel]:
    """The stored label of each prediction in ``ids`` that has one."""
    connection = session.connection()
    stored: dict[str, StoredLabel] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = connection.execute(_STORED, {"b_ids": list(ids[start:start + _CHUNK])})
        stored.update({pid: StoredLabel(label, labeler, at, rev)
                       for pid, label, labeler, at, rev in rows})
    return stored


def labelled_ids(*, session: Session, ids: Collection[str]) -> set[str]:
    """The predictions of ``ids`` that have a label."""
    keys = list(ids)
    found: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        found.update(session.scalars(select(Feedback.prediction_id).where(
            Feedback.prediction_id.in_(keys[start:start + _CHUNK]))))
    return found


def batch_rowcount_reliable(*, session: Session) -> bool:
    """Whether the store counts the rows of an executemany (else batches cannot tell a
    lost race; write one label at a time)."""
    return bool(session.connection().dialect.supports_sane_multi_rowcount)


def _write(session: Session, statement: Insert | Update, params: list[dict[str, Any]]) -> bool:
    """Run ``statement`` once per parameter set, in a savepoint.

    ``False``, with the savepoint rolled back (nothing of the batch written), when a row hit
    the unique constraint (another writer inserted it first) or the statements did not
    change exactly one row each (a revision moved on, a prediction vanished).
    """
    savepoint = session.begin_nested()
    try:
        written = executemany(session.connection(), statement, params)
    except IntegrityError:
        savepoint.rollback()
        return False
    if written != len(params):
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def insert_labels(*, session: Session, labels: Sequence[NewLabel], source: str,
                  at: datetime) -> bool:
    """Insert first labels (revision 1, the prediction's facts copied), all or none.

    Returns:
        ``True`` when every label was inserted; ``False``, with none of them written, when
        one of the predictions already has a label (another writer was first) or no
        longer exists.
    """
    return _write(session, _INSERT, [
        {"b_prediction_id": pid, "b_label": label, "b_labeler": labeler, "b_source": source,
         "b_at": at}
        for pid, label, labeler in labels
    ])


def replace_labels(*, session: Session, labels: Sequence[Replacement], source: str,
                   at: datetime) -> bool:
    """Replace stored labels still at the revision read (revision + 1), all or none.

    Returns:
        ``True`` when every label was replaced; ``False``, with none of them written, when
        the stored revision of one moved on since it was read (or its label vanished).
    """
    return _write(session, _REPLACE, [
        {"b_prediction_id": pid, "b_revision": revision, "b_label": label,
         "b_labeler": labeler, "b_source": source, "b_at": at}
        for pid, revision, label, labeler in labels
    ])


def append_history(*, session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Append ``feedback_history`` rows in their order, with one executemany.

    Each row has every column of :class:`db.models.FeedbackHistory` but ``id``
    (``changed_at`` timezone-aware). Returns how many were written.
    """
    if not rows:
        return 0
    executemany(session.connection(), _HISTORY, rows)
    return len(rows)


def history(*, session: Session, prediction_id: str) -> list[FeedbackHistory]:
    """Every history row of a prediction's label, oldest first."""
    return list(session.scalars(
        select(FeedbackHistory)
        .where(FeedbackHistory.prediction_id == prediction_id)
        .order_by(FeedbackHistory.id)
    ))


def export_page(
    *,
    session: Session,
    model_id: int,
    version_id: int | None,
    since: datetime | None,
    until: datetime | None,
    labelled_only: bool,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[ExportRow]:
    """Up to ``limit`` predictions of a model and their labels, by time then id, after the
    (time, id) key ``after`` (a keyset page: each page one short read).

    Args:
        session: an open session.
        model_id: the model.
        version_id: only this version's predictions (``None``: every version).
        since: only predictions made at or after this time.
        until: only predictions made before this time.
        labelled_only: only predictions that have a label.
        after: the (time, id) of the last row of the previous page (``None``: the first).
        limit: at most this many rows.
    """
    query = (
        select(Prediction.id, Prediction.ts, ModelVersion.version, Prediction.predicted_class,
               Prediction.top_score, Feedback.label, Feedback.labeler, Feedback.updated_at)
        .join(ModelVersion, ModelVersion.id == Prediction.version_id)
        .join(Feedback, Feedback.prediction_id == Prediction.id, isouter=not labelled_only)
        .where(Prediction.model_id == model_id)
    )
    if version_id is not None:
        query = query.where(Prediction.version_id == version_id)
    if since is not None:
        query = query.where(Prediction.ts >= since)
    if until is not None:
        query = query.where(Prediction.ts < until)
    if after is not None:
        ts, pid = after
        query = query.where(or_(Prediction.ts > ts, and_(Prediction.ts == ts,
                                                          Prediction.id > pid)))
    rows = session.execute(query.order_by(Prediction.ts, Prediction.id).limit(limit))
    return [ExportRow(*row) for row in rows]
