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
unchanged, replacing and conflicting ones, and writes them in batches
(:mod:`services.labels.writes`); the edits, their outcomes and their checks are
:mod:`services.labels.edits`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from db.base import utcnow
from db.repositories import labels as labels_repo
from db.repositories.predictions import prediction_models
from db.session import session_scope
from services.access.principal import Principal, require
from services.access.roles import Action, View
from services.labels.edits import (
    Conflict,
    HistoryEntry,
    LabelConflictError,
    LabelEdit,
    LabelError,
    LabelsNotSavedError,
    SaveResult,
    validate_against_store,
    validate_edits,
)
from services.labels.writes import Change, Writing, apply_all, log_changes

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


def _save(session: Session, *, actor: Principal, edits: Sequence[LabelEdit], source: str,
          replace_conflicts: bool, all_or_nothing: bool) -> SaveResult:
    """The save inside its write transaction: checked against the store, the labels read
    once, the edits written, the changes logged."""
    ids = [e.prediction_id for e in edits]
    validate_against_store(edits, prediction_models(session=session, ids=ids))
    stored = labels_repo.current_labels(session=session, ids=ids)
    writing = Writing(session=session, actor=actor, source=source,
                      replace_conflicts=replace_conflicts, at=utcnow())
    outcomes = apply_all(writing, edits, stored, all_or_nothing=all_or_nothing)
    changes = [o for o in outcomes if isinstance(o, Change)]
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    if all_or_nothing and conflicts:  # lost races: rolls the whole save back
        raise LabelConflictError(conflicts)
    log_changes(writing, changes)
    return SaveResult(saved=len(changes), unchanged=outcomes.count(None), conflicts=conflicts,
                      replaced=sum(c.old is not None for c in changes))


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
    validate_edits(edits, source)
    if not edits:
        return SaveResult(saved=0, unchanged=0, conflicts=[])
    with label_write(engine) as session:
        result = _save(session, actor=labeler, edits=edits, source=source,
                       replace_conflicts=replace_conflicts, all_or_nothing=all_or_nothing)
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
        stored = labels_repo.current_labels(session=session,
                                            ids=[c.prediction_id for c in conflicts])
        writing = Writing(session=session, actor=labeler, source="ui",
                          replace_conflicts=False, at=utcnow())
        kept: list[Change] = []
        for c in conflicts:
            now = stored.get(c.prediction_id)
            if now is None or now.revision != c.stored_revision:
                continue
            kept.append(Change(prediction_id=c.prediction_id, old=now,
                               new_label=now.label, new_labeler=labeler.username,
                               revision=now.revision, resolution="kept",
                               details={"not_used": c.your_label}))
        log_changes(writing, kept)
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
        return [
            HistoryEntry(prediction_id=r.prediction_id, old_label=r.old_label,
                         new_label=r.new_label, old_labeler=r.old_labeler,
                         new_labeler=r.new_labeler, revision=r.revision, source=r.source,
                         resolution=r.resolution, changed_at=r.changed_at)
            for r in labels_repo.history(session=session, prediction_id=prediction_id)
        ]
