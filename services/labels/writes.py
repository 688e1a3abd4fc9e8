"""How a save's edits are written: sorted against the labels read, written in batches, a
batch that lost a race re-run edit by edit, and every change logged.

The new labels are inserted and the replacements written in batches
(:func:`db.repositories.labels.insert_labels`, :func:`~db.repositories.labels.replace_labels`,
each an executemany in a savepoint); then the history rows and the audit entries are
written with one executemany each. A batch that loses a race (another connection inserted
or changed one of its labels since the read; possible on PostgreSQL) is rolled back to its
savepoint and re-run edit by edit, so the unique constraint and the revision still make
the loser a conflict, never an ``IntegrityError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from db.repositories import labels as labels_repo
from db.repositories.labels import NewLabel, Replacement, StoredLabel
from db.repositories.predictions import stored_ids
from services.access.principal import Principal
from services.audit import record_many
from services.labels.edits import (
    Conflict,
    LabelConflictError,
    LabelEdit,
    LabelError,
    LabelsNotSavedError,
    named,
)

__all__ = ["Change", "Outcome", "Writing", "apply_all", "log_changes"]

# Edits per batched statement; a batch that loses a race is re-run edit by edit.
_BATCH = 1000


@dataclass(frozen=True)
class Writing:
    """What every write of one save shares.

    Attributes:
        session: the save's write transaction.
        actor: who saves (the labeler of edits that name none).
        source: where the labels come from.
        replace_conflicts: replace labels that changed since the labeler looked.
        at: the time of every change.
    """

    session: Session
    actor: Principal
    source: str
    replace_conflicts: bool
    at: datetime


@dataclass(slots=True)  # not frozen: a frozen init costs five times more, per change
class Change:
    """A label written (or a conflict kept): one history row and one ``label`` audit entry."""

    prediction_id: str
    old: StoredLabel | None
    new_label: str
    new_labeler: str
    revision: int
    resolution: str
    #: Audit details beyond the common ones (``expected_revision``, ``not_used``, ``labeler``).
    details: dict[str, Any]


#: What became of one edit: written, in conflict, or unchanged (``None``).
Outcome = Change | Conflict | None


def log_changes(writing: Writing, changes: Sequence[Change]) -> None:
    """The history rows and ``label`` audit entries of ``changes``, in their order, each
    with one executemany in the save's transaction."""
    if not changes:
        return
    labels_repo.append_history(session=writing.session, rows=[
        {"prediction_id": c.prediction_id,
         "old_label": c.old.label if c.old else None,
         "new_label": c.new_label,
         "old_labeler": c.old.labeler if c.old else None,
         "new_labeler": c.new_labeler,
         "revision": c.revision,
         "source": writing.source,
         "resolution": c.resolution,
         "changed_at": writing.at}
        for c in changes
    ])
    record_many(session=writing.session, actor=writing.actor.username, action="label",
                object_type="prediction",
                entries=[(c.prediction_id,
                          {"old": c.old.label if c.old else None, "new": c.new_label,
                           "old_labeler": c.old.labeler if c.old else None,
                           "revision": c.revision, "resolution": c.resolution,
                           "source": writing.source, **c.details})
                         for c in changes])


def _change(actor: Principal, edit: LabelEdit, old: StoredLabel | None, resolution: str,
            **details: Any) -> Change:
    if edit.labeler is not None:
        details["labeler"] = edit.labeler
    return Change(prediction_id=edit.prediction_id, old=old, new_label=edit.label,
                  new_labeler=edit.labeler or actor.username,
                  revision=old.revision + 1 if old else 1, resolution=resolution,
                  details=details)


def _replaced(actor: Principal, edit: LabelEdit, old: StoredLabel) -> Change:
    """The change of a replacement written: of a conflict, when the labeler saw another
    revision than the one replaced."""
    if edit.expected_revision != old.revision:
        return _change(actor, edit, old, "replaced_conflict",
                       expected_revision=edit.expected_revision)
    return _change(actor, edit, old, "replaced")


def _conflict(edit: LabelEdit, stored: StoredLabel) -> Conflict:
    return Conflict(prediction_id=edit.prediction_id, stored_label=stored.label,
                    stored_by=stored.labeler, stored_at=stored.updated_at,
                    stored_revision=stored.revision, your_label=edit.label)


def _new(writing: Writing, edit: LabelEdit) -> NewLabel:
    # Who is stored as the labeler: the edit's own, when it names one, else the actor.
    labeler = edit.labeler if edit.labeler is not None else writing.actor.username
    return NewLabel(edit.prediction_id, edit.label, labeler)


def _replacement(writing: Writing, edit: LabelEdit, stored: StoredLabel) -> Replacement:
    labeler = edit.labeler if edit.labeler is not None else writing.actor.username
    return Replacement(edit.prediction_id, stored.revision, edit.label, labeler)


def _reread(session: Session, prediction_id: str) -> StoredLabel | None:
    """The label stored now, after a lost race.

    Raises:
        LabelError: the prediction no longer exists.
    """
    stored = labels_repo.current_labels(session=session, ids=[prediction_id]).get(prediction_id)
    if stored is None and not stored_ids(session=session, ids=[prediction_id]):
        raise LabelError(f"no such prediction: {named([prediction_id])}")
    return stored


def _apply(writing: Writing, edit: LabelEdit, stored: StoredLabel | None) -> Outcome:
    """Apply one edit on its own: a :class:`Change` written, ``None`` unchanged, a
    :class:`Conflict` not written. The path of a batch that lost a race.

    A lost race (the row appeared or moved on since it was read) re-reads the row and
    decides again, so the unique constraint and the revision make the loser a conflict.

    Raises:
        LabelError: the prediction no longer exists.
    """
    session, source, at = writing.session, writing.source, writing.at
    for _ in range(3):
        if stored is None:
            if labels_repo.insert_labels(session=session, labels=[_new(writing, edit)],
                                         source=source, at=at):
                return _change(writing.actor, edit, None, "new")
            # Someone else labeled it first (not what this labeler saw), or it is gone.
            edit = replace(edit, expected_revision=None)
        elif stored.label == edit.label:
            return None
        else:
            if edit.expected_revision != stored.revision and not writing.replace_conflicts:
                return _conflict(edit, stored)
            if labels_repo.replace_labels(session=session,
                                          labels=[_replacement(writing, edit, stored)],
                                          source=source, at=at):
                return _replaced(writing.actor, edit, stored)
        stored = _reread(session, edit.prediction_id)
    if stored is None:  # pragma: no cover - the row kept appearing and vanishing
        raise LabelsNotSavedError("not saved: the labels kept changing; try again")
    return _conflict(edit, stored)


def _batches(indexes: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(indexes), _BATCH):
        yield indexes[start:start + _BATCH]


def _sort(edits: Sequence[LabelEdit], stored: dict[str, StoredLabel], *,
          replace_conflicts: bool) -> tuple[list[Outcome], list[int], list[int]]:
    """The edits against the labels read: the conflicts (as outcomes; the others
    ``None`` so far), and the positions of the new labels and of the replacements."""
    outcomes: list[Outcome] = [None] * len(edits)
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
    # In id order, neighbouring inserts touch the same pages of the (random) id indexes.
    new.sort(key=lambda i: edits[i].prediction_id)
    replacing.sort(key=lambda i: edits[i].prediction_id)
    return outcomes, new, replacing


def _insert_new(writing: Writing, edits: Sequence[LabelEdit], new: list[int],
                outcomes: list[Outcome], *, batched: bool) -> None:
    for batch in _batches(new):
        if batched and labels_repo.insert_labels(
                session=writing.session, labels=[_new(writing, edits[i]) for i in batch],
                source=writing.source, at=writing.at):
            for i in batch:
                outcomes[i] = _change(writing.actor, edits[i], None, "new")
            continue
        for i in batch:
            outcomes[i] = _apply(writing, edits[i], None)


def _replace(writing: Writing, edits: Sequence[LabelEdit], stored: dict[str, StoredLabel],
             replacing: list[int], outcomes: list[Outcome], *, batched: bool) -> None:
    for batch in _batches(replacing):
        if batched and labels_repo.replace_labels(
                session=writing.session,
                labels=[_replacement(writing, edits[i], stored[edits[i].prediction_id])
                        for i in batch],
                source=writing.source, at=writing.at):
            for i in batch:
                outcomes[i] = _replaced(writing.actor, edits[i], stored[edits[i].prediction_id])
            continue
        for i in batch:
            outcomes[i] = _apply(writing, edits[i], stored[edits[i].prediction_id])


def apply_all(writing: Writing, edits: Sequence[LabelEdit], stored: dict[str, StoredLabel],
              *, all_or_nothing: bool) -> list[Outcome]:
    """Apply the edits; the outcome of each, in the order of the edits.

    The edits are sorted against the labels read (``stored``) into new, unchanged,
    replaced and conflicting ones; the new ones are inserted and the replacements written
    in batches of executemany statements. A batch that loses a race (a label inserted or
    changed by another writer since the read: PostgreSQL, another connection) is rolled
    back to its savepoint and re-run edit by edit.

    Raises:
        LabelConflictError: ``all_or_nothing`` and some edits conflict with the labels
            read; nothing was written.
        LabelError: a prediction vanished since it was read.
    """
    outcomes, new, replacing = _sort(edits, stored,
                                     replace_conflicts=writing.replace_conflicts)
    if all_or_nothing and any(isinstance(o, Conflict) for o in outcomes):
        raise LabelConflictError([o for o in outcomes if isinstance(o, Conflict)])
    # A dialect that cannot count the rows of an executemany gets no batches.
    batched = labels_repo.batch_rowcount_reliable(session=writing.session)
    _insert_new(writing, edits, new, outcomes, batched=batched)
    _replace(writing, edits, stored, replacing, outcomes, batched=batched)
    return outcomes
