"""Late ground truth of live demo traffic: a queue of labels not yet due, and their writer.

The inference service logs predictions in batches, so a label may be due before its
prediction reaches the store. Such labels are retried a little later and dropped once
they are :attr:`LabelQueue.give_up_seconds` overdue.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from db.base import utcnow
from db.repositories.labels import labelled_ids
from db.repositories.predictions import insert_feedback, stored_ids
from db.session import session_scope
from devstack.demo.generator import GROUND_TRUTH_LABELER, GROUND_TRUTH_SOURCE

__all__ = [
    "LabelQueue",
    "LabelWriter",
    "PendingLabel",
    "StoreLabelWriter",
    "WriteOutcome",
]


@dataclass(frozen=True)
class PendingLabel:
    """The true label of one live prediction, to be written at ``due``.

    Attributes:
        prediction_id: the id the inference service answered with.
        label: the true class.
        due: when to write it (clock seconds).
        first_due: the original due time (retries keep it, to know when to give up).
    """

    prediction_id: str
    label: str
    due: float
    first_due: float


@dataclass(frozen=True)
class WriteOutcome:
    """What became of a batch of labels.

    Attributes:
        written: labels now in the store.
        missing: predictions not in the store (yet): retry these.
        duplicate: predictions that already had a label: nothing to do.
    """

    written: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    duplicate: tuple[str, ...] = ()


class LabelWriter(Protocol):
    """Writes due labels to the feedback store."""

    def write(self, labels: Sequence[PendingLabel]) -> WriteOutcome:
        """Write what can be written; report the rest."""
        ...


class LabelQueue:
    """Labels ordered by due time, with retries for those whose prediction is not stored yet.

    Args:
        retry_seconds: wait before retrying a label whose prediction was missing.
        give_up_seconds: drop a label this long after it first fell due.
    """

    def __init__(self, *, retry_seconds: float = 5.0, give_up_seconds: float = 300.0) -> None:
        self.retry_seconds = retry_seconds
        self.give_up_seconds = give_up_seconds
        self._heap: list[tuple[float, int, PendingLabel]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, *, prediction_id: str, label: str, due: float) -> None:
        """Queue a label to be written at ``due``."""
        self._push(PendingLabel(prediction_id=prediction_id, label=label, due=due, first_due=due))

    def next_due(self) -> float | None:
        """When the earliest label falls due, or ``None`` when the queue is empty."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float, *, limit: int = 1000) -> list[PendingLabel]:
        """Remove and return up to ``limit`` labels due at ``now``, earliest first."""
        out: list[PendingLabel] = []
        while self._heap and self._heap[0][0] <= now and len(out) < limit:
            out.append(heapq.heappop(self._heap)[2])
        return out

    def retry(self, labels: Sequence[PendingLabel], now: float) -> int:
        """Queue labels again a little later; returns how many were dropped as too old."""
        dropped = 0
        for label in labels:
            if now - label.first_due >= self.give_up_seconds:
                dropped += 1
            else:
                self._push(replace(label, due=now + self.retry_seconds))
        return dropped

    def _push(self, label: PendingLabel) -> None:
        heapq.heappush(self._heap, (label.due, next(self._order), label))


class StoreLabelWriter:
    """Writes labels as feedback rows (labeler ``demo-ground-truth``, source ``simulator``).

    Args:
        engine: the feedback store.
        clock: the labels' ``created_at`` (the moment they arrive).
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._clock = clock

    def write(self, labels: Sequence[PendingLabel]) -> WriteOutcome:
        """Insert labels whose prediction is stored and has no label yet, in one transaction."""
        if not labels:
            return WriteOutcome()
        ids = list(dict.fromkeys(label.prediction_id for label in labels))
        try:
            with session_scope(self._engine, write=True) as session:
                stored = stored_ids(session=session, ids=ids)
                labelled = labelled_ids(session=session, ids=ids)
                now = self._clock()
                rows, taken = [], set()
                for label in labels:
                    pid = label.prediction_id
                    if pid in stored and pid not in labelled and pid not in taken:
                        taken.add(pid)
                        rows.append(
                            {
                                "prediction_id": pid,
                                "label": label.label,
                                "labeler": GROUND_TRUTH_LABELER,
                                "source": GROUND_TRUTH_SOURCE,
                                "created_at": now,
                            }
                        )
                insert_feedback(session=session, rows=rows)
        except IntegrityError:
            # A prediction vanished or was labelled between the check and the insert:
            # nothing was written, so everything is worth another try.
            return WriteOutcome(missing=tuple(ids))
        return WriteOutcome(
            written=tuple(sorted(taken)),
            missing=tuple(pid for pid in ids if pid not in stored),
            duplicate=tuple(pid for pid in ids if pid in labelled),
        )
