"""What a label save is made of: the edits, their outcomes, and the checks an edit passes
before anything is written.

An edit names the revision of the stored label the labeler saw; an edit whose stored label
moved on meanwhile, and differs, is a :class:`Conflict`. The save itself is
:func:`services.labels.save.save_labels`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from db.models import FEEDBACK_SOURCES
from db.repositories.predictions import PredictionModel

__all__ = [
    "Conflict",
    "HistoryEntry",
    "LabelConflictError",
    "LabelEdit",
    "LabelError",
    "LabelsNotSavedError",
    "SaveResult",
    "named",
    "validate_against_store",
    "validate_edits",
]

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
                         f"{named(ids)}")


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
    """One row of a label's history, oldest first in
    :func:`services.labels.save.label_history`."""

    prediction_id: str
    old_label: str | None
    new_label: str
    old_labeler: str | None
    new_labeler: str
    revision: int
    source: str
    resolution: str
    changed_at: datetime


def named(ids: Sequence[str]) -> str:
    """The first ids, quoted, and how many more there are: for a message."""
    shown = ", ".join(repr(i) for i in ids[:_NAMED])
    return shown if len(ids) <= _NAMED else f"{shown} and {len(ids) - _NAMED} more"


def _repeated(edits: Sequence[LabelEdit]) -> list[str]:
    seen: set[str] = set()
    repeated: list[str] = []
    for edit in edits:
        if edit.prediction_id in seen and edit.prediction_id not in repeated:
            repeated.append(edit.prediction_id)
        seen.add(edit.prediction_id)
    return repeated


def validate_edits(edits: Sequence[LabelEdit], source: str) -> None:
    """Check what needs no store: the source, repeated predictions, revisions, labelers.

    Raises:
        LabelError: the first kind of problem found, naming the edits that have it.
    """
    if source not in FEEDBACK_SOURCES:
        raise LabelError(f"unknown label source {source!r}; one of {', '.join(FEEDBACK_SOURCES)}")
    repeated = _repeated(edits)
    if repeated:
        raise LabelError(f"each prediction may be labeled once per save; repeated: "
                         f"{named(repeated)}")
    bad_revision = [e.prediction_id for e in edits
                    if e.expected_revision is not None and e.expected_revision < 1]
    if bad_revision:
        raise LabelError(f"revisions start at 1; invalid expected revision for "
                         f"{named(bad_revision)}")
    bad_labeler = [e.prediction_id for e in edits if e.labeler is not None
                   and not (0 < len(e.labeler) <= _LABELER_MAX and e.labeler.strip())]
    if bad_labeler:
        raise LabelError(f"a labeler name has 1 to {_LABELER_MAX} characters; invalid for "
                         f"{named(bad_labeler)}")


def validate_against_store(edits: Sequence[LabelEdit],
                           models: Mapping[str, PredictionModel]) -> None:
    """Check every edit names a stored prediction and one of its model's classes.

    Args:
        edits: the edits.
        models: the model of each stored prediction among the edits'.

    Raises:
        LabelError: unknown predictions, or labels that are not a class of the model.
    """
    unknown = [e.prediction_id for e in edits if e.prediction_id not in models]
    if unknown:
        raise LabelError(f"no such prediction: {named(unknown)}")
    wrong = [e for e in edits if e.label not in models[e.prediction_id].classes]
    if wrong:
        described = [f"{e.prediction_id!r} ({e.label!r} not in "
                     f"{', '.join(models[e.prediction_id].classes)})" for e in wrong[:_NAMED]]
        more = f" and {len(wrong) - _NAMED} more" if len(wrong) > _NAMED else ""
        raise LabelError(f"label is not a class of the prediction's model: "
                         f"{'; '.join(described)}{more}")
