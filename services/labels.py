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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, literal, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from db.base import UTCDateTime, utcnow
from db.models import FEEDBACK_SOURCES, Feedback, FeedbackHistory, Model, Prediction
from db.repositories.predictions import PREDICTION_FACTS
from db.session import session_scope
from services.audit import record
from services.auth.principal import Principal, require
from services.auth.roles import Action, View

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
    "save_labels",
]

# Ids per IN (...) query: well below SQLite's bound-parameter limit.
_CHUNK = 500
# How many offending ids an error message names before "and N more".
_NAMED = 10
# Width of feedback.labeler.
_LABELER_MAX = 100


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


def _classes(session: Session, ids: Sequence[str]) -> dict[str, list[str]]:
    """The class labels of each existing prediction's model."""
    found: dict[str, list[str]] = {}
    for chunk in _chunks(ids):
        rows = session.execute(
            select(Prediction.id, Model.class_labels)
            .join(Model, Model.id == Prediction.model_id)
            .where(Prediction.id.in_(chunk))
        )
        found.update({pid: list(labels) for pid, labels in rows})
    return found


def _current_labels(session: Session, ids: Sequence[str]) -> dict[str, _Stored]:
    """The stored label of each prediction in ``ids`` that has one."""
    stored: dict[str, _Stored] = {}
    for chunk in _chunks(ids):
        rows = session.execute(
            select(Feedback.prediction_id, Feedback.label, Feedback.labeler,
                   Feedback.updated_at, Feedback.revision)
            .where(Feedback.prediction_id.in_(chunk))
        )
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


def _log_change(
    session: Session,
    *,
    actor: Principal,
    prediction_id: str,
    old: _Stored | None,
    new_label: str,
    revision: int,
    source: str,
    resolution: str,
    at: datetime,
    labeler: str | None = None,
    **details: Any,
) -> None:
    if labeler is not None:
        details["labeler"] = labeler
    session.execute(insert(FeedbackHistory).values(
        prediction_id=prediction_id,
        old_label=old.label if old else None,
        new_label=new_label,
        old_labeler=old.labeler if old else None,
        new_labeler=labeler or actor.username,
        revision=revision,
        source=source,
        resolution=resolution,
        changed_at=at,
    ))
    record(session=session, actor=actor.username, action="label", object_type="prediction",
           object_id=prediction_id,
           details={"old": old.label if old else None, "new": new_label,
                    "old_labeler": old.labeler if old else None, "revision": revision,
                    "resolution": resolution, "source": source, **details})


def _insert(session: Session, *, actor: Principal, edit: LabelEdit, source: str,
            at: datetime) -> bool:
    """Insert a first label; ``False`` if a concurrent writer inserted one first."""
    # The prediction's facts are copied in the same statement (INSERT ... SELECT).
    facts = select(
        literal(edit.prediction_id), literal(edit.label), literal(actor.username),
        literal(source), literal(at, UTCDateTime()), literal(at, UTCDateTime()), literal(1),
        *PREDICTION_FACTS.values(),
    ).where(Prediction.id == edit.prediction_id)
    try:
        with session.begin_nested():  # the savepoint keeps the rest of the save on a loss
            session.execute(insert(Feedback).from_select(
                ["prediction_id", "label", "labeler", "source", "created_at", "updated_at",
                 "revision", *PREDICTION_FACTS], facts,
            ))
    except IntegrityError:
        return False
    return True


def _replace(session: Session, *, actor: Principal, edit: LabelEdit, source: str,
             at: datetime, revision: int) -> bool:
    """Replace the label stored at ``revision``; ``False`` if it moved on meanwhile."""
    result = session.connection().execute(
        update(Feedback)
        .where(Feedback.prediction_id == edit.prediction_id, Feedback.revision == revision)
        .values(label=edit.label, labeler=actor.username, source=source, updated_at=at,
                revision=revision + 1)
    )
    return result.rowcount == 1


def _conflict(edit: LabelEdit, stored: _Stored) -> Conflict:
    return Conflict(prediction_id=edit.prediction_id, stored_label=stored.label,
                    stored_by=stored.labeler, stored_at=stored.updated_at,
                    stored_revision=stored.revision, your_label=edit.label)


def _apply(session: Session, *, actor: Principal, edit: LabelEdit, stored: _Stored | None,
           source: str, replace_conflicts: bool, at: datetime) -> Conflict | bool:
    """Apply one edit: ``True`` written, ``False`` unchanged, a :class:`Conflict` not written.

    A lost race (the row appeared or moved on since it was read) re-reads the row and
    decides again, so the unique constraint and the revision make the loser a conflict.
    """
    # _insert and _replace store the username of the principal they are given as the
    # labeler: the edit's own labeler, when it names one (the audit actor stays ``actor``).
    writer = actor if edit.labeler is None else replace(actor, username=edit.labeler)
    for _ in range(3):
        if stored is None:
            if _insert(session, actor=writer, edit=edit, source=source, at=at):
                _log_change(session, actor=actor, prediction_id=edit.prediction_id, old=None,
                            new_label=edit.label, revision=1, source=source,
                            resolution="new", at=at, labeler=edit.labeler)
                return True
            # Someone else labeled it first: not what this labeler saw.
            edit = replace(edit, expected_revision=None)
        elif stored.label == edit.label:
            return False
        else:
            in_conflict = edit.expected_revision != stored.revision
            if in_conflict and not replace_conflicts:
                return _conflict(edit, stored)
            if _replace(session, actor=writer, edit=edit, source=source, at=at,
                        revision=stored.revision):
                details = ({"expected_revision": edit.expected_revision} if in_conflict
                           else {})
                _log_change(session, actor=actor, prediction_id=edit.prediction_id,
                            old=stored, new_label=edit.label, revision=stored.revision + 1,
                            source=source,
                            resolution="replaced_conflict" if in_conflict else "replaced",
                            at=at, labeler=edit.labeler, **details)
                return True
        stored = _current_labels(session, [edit.prediction_id]).get(edit.prediction_id)
    if stored is None:  # pragma: no cover - the row kept appearing and vanishing
        raise LabelsNotSavedError("not saved: the labels kept changing; try again")
    return _conflict(edit, stored)


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
    saved = unchanged = replaced = 0
    conflicts: list[Conflict] = []
    try:
        with session_scope(engine, write=True) as session:
            _validate_against_store(edits, _classes(session, ids))
            stored = _current_labels(session, ids)
            at = utcnow()
            for edit in edits:
                outcome = _apply(session, actor=labeler, edit=edit,
                                 stored=stored.get(edit.prediction_id), source=source,
                                 replace_conflicts=replace_conflicts, at=at)
                if isinstance(outcome, Conflict):
                    conflicts.append(outcome)
                elif outcome:
                    saved += 1
                    if edit.prediction_id in stored:
                        replaced += 1
                else:
                    unchanged += 1
            if all_or_nothing and conflicts:
                raise LabelConflictError(conflicts)  # rolls the whole save back
            result = SaveResult(saved=saved, unchanged=unchanged, conflicts=conflicts,
                                replaced=replaced)
            if on_saved is not None:
                on_saved(session, result)
    except OperationalError as exc:
        if _is_busy(exc):
            raise LabelsNotSavedError("not saved: the database is busy; try again") from exc
        raise
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
    recorded = 0
    try:
        with session_scope(engine, write=True) as session:
            stored = _current_labels(session, [c.prediction_id for c in conflicts])
            at = utcnow()
            for c in conflicts:
                now = stored.get(c.prediction_id)
                if now is None or now.revision != c.stored_revision:
                    continue
                _log_change(session, actor=labeler, prediction_id=c.prediction_id, old=now,
                            new_label=now.label, revision=now.revision, source="ui",
                            resolution="kept", at=at, not_used=c.your_label)
                recorded += 1
    except OperationalError as exc:
        if _is_busy(exc):
            raise LabelsNotSavedError("not saved: the database is busy; try again") from exc
        raise
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
