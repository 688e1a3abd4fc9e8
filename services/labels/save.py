"""Ground-truth labels: save a table of edits so that no label is lost, duplicated or
silently overwritten.

``feedback`` holds the one current label of a prediction (unique ``prediction_id``) and a
``revision`` that grows with every change. An edit names the revision the labeler saw; when
the stored revision has moved on (someone else labeled the item meanwhile) and the labels
differ, the edit is not written but returned as a :class:`Conflict` showing the stored label
and who set it. The labeler then either keeps it (:func:`keep_labels`, recorded) or replaces
it (a new save with the revision now seen, or ``replace_conflicts=True``).

Every change writes a ``feedback_history`` row and a ``label`` audit entry in the same
transaction as the change. A save is one write transaction: all its changes or none. An
``all_or_nothing`` save (a CSV import, the feedback API) writes nothing at all when any edit
conflicts (:class:`LabelConflictError`).

A save reads the stored labels of all its predictions once, sorts the edits into new,
unchanged, replacing and conflicting ones, and writes them in batches: the new labels with
one ``INSERT ... SELECT`` run per edit (an executemany), the replacements with one
``UPDATE ... WHERE revision = <the one read>`` executemany whose row count must match,
then the history rows and the audit entries with one executemany each. A batch that loses
a race (another connection inserted or changed one of its labels since the read; possible
on PostgreSQL) is rolled back to its savepoint and re-run edit by edit, so the unique
constraint and the revision still make the loser a conflict, never an ``IntegrityError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, insert, literal_column, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import BindParameter

from db.base import UTCDateTime, utcnow
from db.bulk import executemany
from db.models import FEEDBACK_SOURCES, Feedback, FeedbackHistory, Model, Prediction
from db.repositories.predictions import PREDICTION_FACTS
from db.session import session_scope
from services.access.principal import Principal, require
from services.access.roles import Action, View
from services.audit import record_many

__all__ = [
    "Conflict",
    "HistoryEntry",
    "LabelConflictError",
    "LabelEdit",
    "LabelError",
    "LabelsNotSavedError",
    "SaveResult",
    "keep_labels",
    "label_history",
    "label_write",
    "save_labels",
]

# Ids per IN (...) query: well below SQLite's bound-parameter limit.
_CHUNK = 500
# How many offending ids an error message names before "and N more".
_NAMED = 10
# Width of feedback.labeler.
_LABELER_MAX = 100
# Edits per batched statement; a batch that loses a race is re-run edit by edit.
_BATCH = 1000


class LabelError(ValueError):
    """The edits are invalid; nothing was written. ``str()`` is a message for the user."""


class LabelsNotSavedError(RuntimeError):
    """The database stayed busy (locked by another writer); nothing was written."""


class LabelConflictError(LabelError):
    """An ``all_or_nothing`` save met labels that differ from the stored ones; nothing was
    written.

    Attributes:
        conflicts: every conflicting edit, in the order of the edits.
    """

    def __init__(self, conflicts: Sequence[Conflict]) -> None:
        self.conflicts = list(conflicts)
        ids = [c.prediction_id for c in self.conflicts]
        super().__init__(f"nothing saved: {len(ids)} label(s) differ from the stored ones: "
                         f"{_name(ids)}")


@dataclass(frozen=True)
class LabelEdit:
    """One edited row of the labeling table.

    Attributes:
        prediction_id: the prediction (request id) being labeled.
        label: the class the labeler chose; must be a class of the prediction's model.
        expected_revision: the revision of the stored label the labeler saw, or ``None``
            when they saw no label.
        labeler: who chose the label, when not the actor saving it (a labeler column of
            an imported file); stored as ``feedback.labeler``. The audit entry's actor
            stays the one saving. ``None``: the actor.
    """

    prediction_id: str
    label: str
    expected_revision: int | None
    labeler: str | None = None


@dataclass(frozen=True)
class Conflict:
    """Someone else labeled the item differently since the labeler looked; not written.

    Attributes:
        prediction_id: the prediction.
        stored_label: the label now stored.
        stored_by: who set it.
        stored_at: when it was set.
        stored_revision: its revision (pass it as ``expected_revision`` to replace it).
        your_label: the label the labeler submitted.
    """

    prediction_id: str
    stored_label: str
    stored_by: str
    stored_at: datetime
    stored_revision: int
    your_label: str


@dataclass(frozen=True)
class SaveResult:
    """What a save did.

    Attributes:
        saved: labels inserted or changed.
        unchanged: edits equal to the stored label (nothing written).
        conflicts: edits not written because the stored label changed meanwhile.
        replaced: of ``saved``, those that changed a label stored before the save.
    """

    saved: int
    unchanged: int
    conflicts: list[Conflict]
    replaced: int = 0


@dataclass(frozen=True)
class HistoryEntry:
    """One row of a label's history, oldest first in :func:`label_history`."""

    prediction_id: str
    old_label: str | None
    new_label: str
    old_labeler: str | None
    new_labeler: str
    revision: int
    source: str
    resolution: str
    changed_at: datetime


@dataclass(frozen=True)
class _Stored:
    label: str
    labeler: str
    updated_at: datetime
    revision: int


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


def _name(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:_NAMED])
    return shown if len(ids) <= _NAMED else f"{shown} and {len(ids) - _NAMED} more"


# Reads of many ids, a chunk at a time (one cached statement, the ids bound as a list).
_IDS: BindParameter[list[str]] = bindparam("b_ids", expanding=True)
_MODEL_OF = select(Prediction.id, Prediction.model_id).where(Prediction.id.in_(_IDS))
_STORED = (select(Feedback.prediction_id, Feedback.label, Feedback.labeler,
                  Feedback.updated_at, Feedback.revision)
           .where(Feedback.prediction_id.in_(_IDS)))


def _classes(session: Session, ids: Sequence[str]) -> dict[str, list[str]]:
    """The class labels of each existing prediction's model (the same list for all the
    predictions of a model)."""
    connection = session.connection()
    model_of: dict[str, int] = {}
    for chunk in _chunks(ids):
        model_of.update(connection.execute(_MODEL_OF, {"b_ids": list(chunk)}).all())
    classes = {model_id: list(labels) for model_id, labels in connection.execute(
        select(Model.id, Model.class_labels).where(Model.id.in_(set(model_of.values()))))}
    return {pid: classes[model_id] for pid, model_id in model_of.items()}


def _current_labels(session: Session, ids: Sequence[str]) -> dict[str, _Stored]:
    """The stored label of each prediction in ``ids`` that has one."""
    connection = session.connection()
    stored: dict[str, _Stored] = {}
    for chunk in _chunks(ids):
        rows = connection.execute(_STORED, {"b_ids": list(chunk)})
        stored.update({pid: _Stored(label, labeler, at, rev)
                       for pid, label, labeler, at, rev in rows})
    return stored


def _validate(edits: Sequence[LabelEdit], source: str) -> None:
    if source not in FEEDBACK_SOURCES:
        raise LabelError(f"unknown label source {source!r}; one of {', '.join(FEEDBACK_SOURCES)}")
    seen: set[str] = set()
    repeated: list[str] = []
    for edit in edits:
        if edit.prediction_id in seen and edit.prediction_id not in repeated:
            repeated.append(edit.prediction_id)
        seen.add(edit.prediction_id)
    if repeated:
        raise LabelError(f"each prediction may be labeled once per save; repeated: "
                         f"{_name(repeated)}")
    bad_revision = [e.prediction_id for e in edits
                    if e.expected_revision is not None and e.expected_revision < 1]
    if bad_revision:
        raise LabelError(f"revisions start at 1; invalid expected revision for "
                         f"{_name(bad_revision)}")
    bad_labeler = [e.prediction_id for e in edits if e.labeler is not None
                   and not (0 < len(e.labeler) <= _LABELER_MAX and e.labeler.strip())]
    if bad_labeler:
        raise LabelError(f"a labeler name has 1 to {_LABELER_MAX} characters; invalid for "
                         f"{_name(bad_labeler)}")


def _validate_against_store(edits: Sequence[LabelEdit], classes: dict[str, list[str]]) -> None:
    unknown = [e.prediction_id for e in edits if e.prediction_id not in classes]
    if unknown:
        raise LabelError(f"no such prediction: {_name(unknown)}")
    wrong = [e for e in edits if e.label not in classes[e.prediction_id]]
    if wrong:
        described = [f"{e.prediction_id!r} ({e.label!r} not in "
                     f"{', '.join(classes[e.prediction_id])})" for e in wrong[:_NAMED]]
        more = f" and {len(wrong) - _NAMED} more" if len(wrong) > _NAMED else ""
        raise LabelError(f"label is not a class of the prediction's model: "
                         f"{'; '.join(described)}{more}")


def _is_busy(exc: OperationalError) -> bool:
    message = str(exc.orig).lower()
    return "database is locked" in message or "database is busy" in message


@contextmanager
def label_write(engine: Engine) -> Iterator[Session]:
    """One write transaction of labeling data; a database that stays busy (locked by
    another writer beyond the busy timeout) becomes :class:`LabelsNotSavedError`, with
    nothing written.
    """
    try:
        with session_scope(engine, write=True) as session:
            yield session
    except OperationalError as exc:
        if _is_busy(exc):
            raise LabelsNotSavedError("not saved: the database is busy; try again") from exc
        raise


@dataclass(slots=True)  # not frozen: a frozen init costs five times more, per change
class _Change:
    """A label written (or a conflict kept): one history row and one ``label`` audit entry."""

    prediction_id: str
    old: _Stored | None
    new_label: str
    new_labeler: str
    revision: int
    resolution: str
    #: Audit details beyond the common ones (``expected_revision``, ``not_used``, ``labeler``).
    details: dict[str, Any]


def _log_changes(session: Session, *, actor: Principal, changes: Sequence[_Change],
                 source: str, at: datetime) -> None:
    """The history rows and ``label`` audit entries of ``changes``, in their order, each
    with one executemany in the caller's transaction."""
    if not changes:
        return
    executemany(session.connection(), _HISTORY, [
        {"prediction_id": c.prediction_id,
         "old_label": c.old.label if c.old else None,
         "new_label": c.new_label,
         "old_labeler": c.old.labeler if c.old else None,
         "new_labeler": c.new_labeler,
         "revision": c.revision,
         "source": source,
         "resolution": c.resolution,
         "changed_at": at}
        for c in changes
    ])
    record_many(session=session, actor=actor.username, action="label", object_type="prediction",
                entries=[(c.prediction_id,
                          {"old": c.old.label if c.old else None, "new": c.new_label,
                           "old_labeler": c.old.labeler if c.old else None,
                           "revision": c.revision, "resolution": c.resolution,
                           "source": source, **c.details})
                         for c in changes])


def _change(actor: Principal, edit: LabelEdit, old: _Stored | None, resolution: str,
            **details: Any) -> _Change:
    if edit.labeler is not None:
        details["labeler"] = edit.labeler
    return _Change(prediction_id=edit.prediction_id, old=old, new_label=edit.label,
                   new_labeler=edit.labeler or actor.username,
                   revision=old.revision + 1 if old else 1, resolution=resolution,
                   details=details)


_HISTORY = insert(FeedbackHistory)
# A first label, the prediction's facts copied in the same statement (a subquery a fact,
# each a lookup of the same primary key); run once per edit, as an executemany for a batch.
# SQLite ran this INSERT ... VALUES 15-40 % faster than the equivalent INSERT ... SELECT
# (measured on a busy machine). A prediction that vanished leaves the facts NULL: the NOT
# NULL constraints refuse the row. (A parameter used more than once is converted once per
# row: the id, the time.)
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


def _writer(actor: Principal, edit: LabelEdit) -> str:
    """Who is stored as the labeler: the edit's own, when it names one, else the actor."""
    return edit.labeler if edit.labeler is not None else actor.username


def _insert_params(actor: Principal, edit: LabelEdit, source: str,
                   at: datetime) -> dict[str, Any]:
    return {"b_prediction_id": edit.prediction_id, "b_label": edit.label,
            "b_labeler": _writer(actor, edit), "b_source": source, "b_at": at}


def _replace_params(actor: Principal, edit: LabelEdit, stored: _Stored, source: str,
                    at: datetime) -> dict[str, Any]:
    return {"b_prediction_id": edit.prediction_id, "b_revision": stored.revision,
            "b_label": edit.label, "b_labeler": _writer(actor, edit), "b_source": source,
            "b_at": at}


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


def _conflict(edit: LabelEdit, stored: _Stored) -> Conflict:
    return Conflict(prediction_id=edit.prediction_id, stored_label=stored.label,
                    stored_by=stored.labeler, stored_at=stored.updated_at,
                    stored_revision=stored.revision, your_label=edit.label)


def _apply(session: Session, *, actor: Principal, edit: LabelEdit, stored: _Stored | None,
           source: str, replace_conflicts: bool, at: datetime) -> _Change | Conflict | None:
    """Apply one edit on its own: a :class:`_Change` written, ``None`` unchanged, a
    :class:`Conflict` not written. The path of a batch that lost a race.

    A lost race (the row appeared or moved on since it was read) re-reads the row and
    decides again, so the unique constraint and the revision make the loser a conflict.

    Raises:
        LabelError: the prediction no longer exists.
    """
    for _ in range(3):
        if stored is None:
            if _write(session, _INSERT, [_insert_params(actor, edit, source, at)]):
                return _change(actor, edit, None, "new")
            # Someone else labeled it first (not what this labeler saw), or it is gone.
            edit = replace(edit, expected_revision=None)
        elif stored.label == edit.label:
            return None
        else:
            in_conflict = edit.expected_revision != stored.revision
            if in_conflict and not replace_conflicts:
                return _conflict(edit, stored)
            if _write(session, _REPLACE, [_replace_params(actor, edit, stored, source, at)]):
                if in_conflict:
                    return _change(actor, edit, stored, "replaced_conflict",
                                   expected_revision=edit.expected_revision)
                return _change(actor, edit, stored, "replaced")
        stored = _current_labels(session, [edit.prediction_id]).get(edit.prediction_id)
        if stored is None and edit.prediction_id not in _classes(session, [edit.prediction_id]):
            raise LabelError(f"no such prediction: {_name([edit.prediction_id])}")
    if stored is None:  # pragma: no cover - the row kept appearing and vanishing
        raise LabelsNotSavedError("not saved: the labels kept changing; try again")
    return _conflict(edit, stored)


def _batches(indexes: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(indexes), _BATCH):
        yield indexes[start:start + _BATCH]


def _apply_all(session: Session, *, actor: Principal, edits: Sequence[LabelEdit],
               stored: dict[str, _Stored], source: str, replace_conflicts: bool,
               all_or_nothing: bool, at: datetime) -> list[_Change | Conflict | None]:
    """Apply the edits; the outcome of each, as :func:`_apply`, in the order of the edits.

    The edits are sorted against the labels read (``stored``) into new, unchanged,
    replaced and conflicting ones; the new ones are inserted and the replacements written
    in batches of executemany statements. A batch that loses a race (a label inserted or
    changed by another writer since the read: PostgreSQL, another connection) is rolled
    back to its savepoint and re-run edit by edit (:func:`_apply`).

    Raises:
        LabelConflictError: ``all_or_nothing`` and some edits conflict with the labels
            read; nothing was written.
    """
    outcomes: list[_Change | Conflict | None] = [None] * len(edits)
    new: list[int] = []
    replacing: list[int] = []
    for i, edit in enumerate(edits):
        now = stored.get(edit.prediction_id)
        if now is None:
            new.append(i)
        elif now.label == edit.label:
            continue  # unchanged
        elif edit.expected_revision != now.revision and not replace_conflicts:
            outcomes[i] = _conflict(edit, now)
        else:
            replacing.append(i)
    if all_or_nothing and any(isinstance(o, Conflict) for o in outcomes):
        raise LabelConflictError([o for o in outcomes if isinstance(o, Conflict)])
    # A dialect that cannot count the rows of an executemany gets no batches.
    batched = session.connection().dialect.supports_sane_multi_rowcount
    # In id order, neighbouring inserts touch the same pages of the (random) id indexes.
    new.sort(key=lambda i: edits[i].prediction_id)
    replacing.sort(key=lambda i: edits[i].prediction_id)
    for batch in _batches(new):
        if batched and _write(session, _INSERT, [_insert_params(actor, edits[i], source, at)
                                                 for i in batch]):
            for i in batch:
                outcomes[i] = _change(actor, edits[i], None, "new")
            continue
        for i in batch:
            outcomes[i] = _apply(session, actor=actor, edit=edits[i], stored=None,
                                 source=source, replace_conflicts=replace_conflicts, at=at)
    for batch in _batches(replacing):
        params = [_replace_params(actor, edits[i], stored[edits[i].prediction_id], source, at)
                  for i in batch]
        if batched and _write(session, _REPLACE, params):
            for i in batch:
                edit, old = edits[i], stored[edits[i].prediction_id]
                if edit.expected_revision != old.revision:
                    outcomes[i] = _change(actor, edit, old, "replaced_conflict",
                                          expected_revision=edit.expected_revision)
                else:
                    outcomes[i] = _change(actor, edit, old, "replaced")
            continue
        for i in batch:
            outcomes[i] = _apply(session, actor=actor, edit=edits[i],
                                 stored=stored[edits[i].prediction_id], source=source,
                                 replace_conflicts=replace_conflicts, at=at)
    return outcomes


def save_labels(
    *,
    engine: Engine,
    actor: Principal | None,
    edits: Sequence[LabelEdit],
    source: str = "ui",
    replace_conflicts: bool = False,
    all_or_nothing: bool = False,
    on_saved: Callable[[Session, SaveResult], None] | None = None,
) -> SaveResult:
    """Save the edited rows of a labeling table in one write transaction.

    Per edit: no stored label → inserted (revision 1); the same label as stored → nothing
    written; the stored revision is the one the labeler saw → replaced (revision + 1); the
    stored label changed meanwhile → a :class:`Conflict`, not written unless
    ``replace_conflicts``. Each change writes a history row and one ``label`` audit entry
    by ``actor`` in the same transaction.

    Args:
        engine: the store.
        actor: the labeler; needs ``label``.
        edits: only the edited rows; each prediction at most once.
        source: where the labels come from: ``ui``, ``csv``, ``api`` or ``simulator``.
        replace_conflicts: replace labels that changed since the labeler looked (after
            they saw the conflicts and chose to replace them).
        all_or_nothing: write nothing when any edit conflicts (raise
            :class:`LabelConflictError` naming them all) instead of saving the others.
        on_saved: called with the session and the result after the edits, inside the
            same transaction (e.g. to add one audit entry for a whole import); if it
            raises, nothing is written.

    Raises:
        PermissionDenied: ``actor`` may not label.
        LabelError: a repeated or unknown prediction id, a label that is not a class of the
            prediction's model, a labeler name that is empty or too long, or an unknown
            source; nothing was written.
        LabelConflictError: ``all_or_nothing`` and some edits conflict; nothing was written.
        LabelsNotSavedError: the database stayed locked by another writer beyond the busy
            timeout; nothing was written.
    """
    labeler = require(actor, Action.LABEL)
    edits = list(edits)
    _validate(edits, source)
    if not edits:
        return SaveResult(saved=0, unchanged=0, conflicts=[])
    ids = [e.prediction_id for e in edits]
    with label_write(engine) as session:
        _validate_against_store(edits, _classes(session, ids))
        stored = _current_labels(session, ids)
        at = utcnow()
        outcomes = _apply_all(session, actor=labeler, edits=edits, stored=stored,
                              source=source, replace_conflicts=replace_conflicts,
                              all_or_nothing=all_or_nothing, at=at)
        changes = [o for o in outcomes if isinstance(o, _Change)]
        conflicts = [o for o in outcomes if isinstance(o, Conflict)]
        if all_or_nothing and conflicts:  # lost races: rolls the whole save back
            raise LabelConflictError(conflicts)
        _log_changes(session, actor=labeler, changes=changes, source=source, at=at)
        result = SaveResult(saved=len(changes), unchanged=outcomes.count(None),
                            conflicts=conflicts,
                            replaced=sum(c.old is not None for c in changes))
        if on_saved is not None:
            on_saved(session, result)
    return result


def keep_labels(
    *, engine: Engine, actor: Principal | None, conflicts: Sequence[Conflict]
) -> int:
    """Record that the labeler saw these conflicts and kept the stored labels.

    Nothing in ``feedback`` changes; each conflict whose stored label is still the one shown
    gets a ``kept`` history row and a ``label`` audit entry naming the label not used.
    Returns how many were recorded (a label that changed again meanwhile is skipped: the
    labeler did not see it).

    Raises:
        PermissionDenied: ``actor`` may not label.
        LabelsNotSavedError: the database stayed busy; nothing was written.
    """
    labeler = require(actor, Action.LABEL)
    if not conflicts:
        return 0
    with label_write(engine) as session:
        stored = _current_labels(session, [c.prediction_id for c in conflicts])
        at = utcnow()
        kept: list[_Change] = []
        for c in conflicts:
            now = stored.get(c.prediction_id)
            if now is None or now.revision != c.stored_revision:
                continue
            kept.append(_Change(prediction_id=c.prediction_id, old=now,
                                new_label=now.label, new_labeler=labeler.username,
                                revision=now.revision, resolution="kept",
                                details={"not_used": c.your_label}))
        _log_changes(session, actor=labeler, changes=kept, source="ui", at=at)
        recorded = len(kept)
    return recorded


def label_history(
    *, engine: Engine, actor: Principal | None, prediction_id: str
) -> list[HistoryEntry]:
    """Every change of a prediction's label, oldest first.

    Readable by the roles that may open the labeling page (it names who labeled what).

    Raises:
        PermissionDenied: ``actor`` may not view the labeling page.
    """
    require(actor, View.LABELING)
    with session_scope(engine) as session:
        rows = session.scalars(
            select(FeedbackHistory)
            .where(FeedbackHistory.prediction_id == prediction_id)
            .order_by(FeedbackHistory.id)
        )
        return [
            HistoryEntry(prediction_id=r.prediction_id, old_label=r.old_label,
                         new_label=r.new_label, old_labeler=r.old_labeler,
                         new_labeler=r.new_labeler, revision=r.revision, source=r.source,
                         resolution=r.resolution, changed_at=r.changed_at)
            for r in rows
        ]
