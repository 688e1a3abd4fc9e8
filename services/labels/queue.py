"""What labelers work through: the queue of predictions awaiting ground truth, the day's
progress, and "can't tell".

Saving labels is :mod:`services.labels.save`' job; this module only reads the queue (a page at a
time, never a whole table) and records abstentions. Readable by the roles that may open
the labeling page; "can't tell" needs the ``label`` action.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from db.base import utcnow
from db.models import ModelVersion
from db.repositories import labeling, registry, shadow
from db.repositories.labeling import QueueRow, QueueScope
from db.repositories.predictions import stored_ids
from db.session import session_scope
from services.access.principal import Principal, require
from services.access.roles import Action, View
from services.audit import record
from services.labels.save import LabelError, label_write

__all__ = [
    "ORDERS",
    "Progress",
    "Queue",
    "QueueFilter",
    "QueueRow",
    "labeling_progress",
    "labeling_queue",
    "mark_unsure",
]

#: Queue orders: name → what the labeler reads.
ORDERS = {
    "least_confident": "Least confident first",
    "newest": "Newest first",
    "disagreement": "Production and candidate disagree",
}


@dataclass(frozen=True)
class QueueFilter:
    """The labeler's filter: a model and optionally version, predicted class and window."""

    model: str
    version: int | None = None
    predicted_class: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Queue:
    """A page of the queue and what the page needs to show it.

    Attributes:
        model: the model's name.
        classes: its class labels, in its own order.
        features: the names of its input features, in schema order.
        rows: the predictions, in the queue's order.
        candidate: the newest candidate version (``None`` without one); the
            ``disagreement`` order compares it with production.
        order: the order used.
        note: why the queue is shorter than asked, when there is a reason to tell.
    """

    model: str
    classes: list[str]
    features: list[str]
    rows: list[QueueRow]
    candidate: int | None
    order: str
    note: str = ""


@dataclass(frozen=True)
class Progress:
    """Labels set today (local day) and what remains in the filter."""

    today: int
    today_by_you: int
    awaiting: int


def _scope(session: Any, wanted: QueueFilter, labeler: str | None) -> tuple[Any, QueueScope]:
    model = registry.get_model(session=session, name=wanted.model)
    version_id = registry.version_row_id(session=session, model=model, version=wanted.version)
    if wanted.predicted_class is not None and wanted.predicted_class not in model.class_labels:
        raise LabelError(f"{wanted.predicted_class!r} is not a class of {wanted.model!r}")
    return model, QueueScope(model_id=model.id, version_id=version_id,
                             predicted_class=wanted.predicted_class, since=wanted.since,
                             until=wanted.until, labeler=labeler)


def _disagreement_ids(session: Any, scope: QueueScope, candidate: ModelVersion,
                      limit: int, exclude: Sequence[str]) -> list[str]:
    """Unlabelled predictions where production and the candidate answer differently."""
    ids = shadow.disagreements(
        session=session, model_id=scope.model_id, candidate_version_id=candidate.id,
        limit=limit + len(exclude), since=scope.since)
    skipped = set(exclude)
    return [pid for pid in ids if pid not in skipped]


def labeling_queue(
    *,
    engine: Engine,
    actor: Principal | None,
    wanted: QueueFilter,
    order: str = "least_confident",
    limit: int = 50,
    exclude: Sequence[str] = (),
    include_labelled: bool = False,
) -> Queue:
    """A page of predictions awaiting ground truth, in the order the labeler chose.

    Predictions the labeler marked "can't tell" are left out of their queue.

    Args:
        engine: the store.
        actor: who asks; needs the labeling view.
        wanted: model and filters.
        order: a key of :data:`ORDERS`. ``disagreement`` falls back to least confident
            first (with a note) when the model has no candidate or no shadow scores.
        limit: at most this many rows.
        exclude: prediction ids to leave out (skipped in this sitting).
        include_labelled: also predictions already labelled (to correct them).

    Raises:
        PermissionDenied: ``actor`` may not open the labeling page.
        RegistryError: no such model or version.
        LabelError: the class filter is not a class of the model; an unknown order.
    """
    user = require(actor, View.LABELING)
    if order not in ORDERS:
        raise LabelError(f"unknown queue order {order!r}; one of {', '.join(ORDERS)}")
    if not 1 <= limit <= 1000:
        raise LabelError(f"a queue page holds 1 to 1000 predictions, not {limit}")
    with session_scope(engine) as session:
        model, scope = _scope(session, wanted, user.username)
        candidate = registry.newest_candidate(session=session, model_id=model.id)
        ids, note, used = None, "", order
        if order == "disagreement":
            if candidate is None:
                note = ("This model has no candidate version to compare with production, "
                        "so the queue is least confident first.")
            else:
                ids = _disagreement_ids(session, scope, candidate, limit, exclude)
                if not ids:
                    note = (f"Production and candidate v{candidate.version} agree on every "
                            "unlabelled prediction they both scored (or the candidate has "
                            "not scored any yet: run `python -m services.cli shadow-score`).")
            if ids is None:
                used = "least_confident"
        rows = labeling.queue_rows(
            session=session, scope=scope, order=used if ids is None else "newest",
            limit=limit, exclude=exclude, include_labelled=include_labelled, ids=ids)
        return Queue(model=model.name, classes=list(model.class_labels),
                     features=[str(f["name"]) for f in model.feature_schema], rows=rows,
                     candidate=None if candidate is None else candidate.version,
                     order=used, note=note)


def labeling_progress(
    *, engine: Engine, actor: Principal | None, wanted: QueueFilter, day_start: datetime
) -> Progress:
    """Labels of the model set since ``day_start`` (all and the actor's own) and how many
    predictions in the filter still await one.

    Raises:
        PermissionDenied: ``actor`` may not open the labeling page.
        RegistryError: no such model or version.
    """
    user = require(actor, View.LABELING)
    with session_scope(engine) as session:
        model, scope = _scope(session, wanted, None)
        today, by = labeling.labelled_since(session=session, model_id=model.id,
                                            since=day_start)
        awaiting = labeling.count_awaiting(session=session, scope=scope)
    return Progress(today=today, today_by_you=by.get(user.username, 0), awaiting=awaiting)


def mark_unsure(*, engine: Engine, actor: Principal | None, prediction_id: str) -> bool:
    """Record that the actor cannot tell this prediction's class ("can't tell").

    The prediction leaves the actor's queue; an audit entry says so. Returns ``False``
    when it was already marked.

    Raises:
        PermissionDenied: ``actor`` may not label.
        LabelError: no such prediction.
        LabelsNotSavedError: the database stayed busy; nothing was written.
    """
    user = require(actor, Action.LABEL)
    with label_write(engine) as session:
        if not stored_ids(session=session, ids=[prediction_id]):
            raise LabelError(f"no such prediction: {prediction_id!r}")
        added = labeling.abstain(session=session, prediction_id=prediction_id,
                                 labeler=user.username, at=utcnow())
        if added:
            record(session=session, actor=user.username, action="label_unsure",
                   object_type="prediction", object_id=prediction_id, details={})
        return added
