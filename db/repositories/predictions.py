"""Logged predictions and their ground-truth labels (bulk paths)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from db.models import Feedback, Prediction

__all__ = ["PREDICTION_FACTS", "insert_feedback", "insert_predictions", "prediction_facts"]

#: Columns of ``feedback`` copied from the labelled prediction, and where they come from.
PREDICTION_FACTS = {
    "model_id": Prediction.model_id,
    "version_id": Prediction.version_id,
    "predicted_class": Prediction.predicted_class,
    "predicted_at": Prediction.ts,
    "top_score": Prediction.top_score,
}
# Ids per IN (...) query: well below SQLite's bound-parameter limit.
_CHUNK = 500


def insert_predictions(*, session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert prediction rows in one executemany; returns the number inserted.

    Each row has the columns of :class:`db.models.Prediction` (``ts`` timezone-aware).
    """
    if not rows:
        return 0
    # A Core executemany on the session's connection: the ORM bulk path costs ~45 % more.
    session.connection().execute(insert(Prediction), list(rows))
    return len(rows)


def prediction_facts(*, session: Session, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The :data:`PREDICTION_FACTS` of each existing prediction in ``ids``."""
    found: dict[str, dict[str, Any]] = {}
    names = list(PREDICTION_FACTS)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        rows = session.execute(
            select(Prediction.id, *PREDICTION_FACTS.values()).where(Prediction.id.in_(chunk))
        )
        for pid, *values in rows:
            found[pid] = dict(zip(names, values, strict=True))
    return found


def insert_feedback(*, session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert new ground-truth rows (``prediction_id, label, labeler, source, created_at``).

    The prediction's facts (model, version, predicted class, time, top score) are copied
    from ``predictions``. The unique constraint on ``prediction_id`` rejects a second label
    for a prediction; changing an existing label is the labeling service's job, not this
    bulk path.

    Raises:
        LookupError: a row names a prediction that does not exist (nothing inserted).
    """
    if not rows:
        return 0
    facts = prediction_facts(session=session, ids=[row["prediction_id"] for row in rows])
    missing = [row["prediction_id"] for row in rows if row["prediction_id"] not in facts]
    if missing:
        raise LookupError(f"no such prediction: {', '.join(map(repr, missing[:10]))}")
    prepared = [
        {**row, **facts[row["prediction_id"]],
         "updated_at": row.get("updated_at", row["created_at"]), "revision": 1}
        for row in rows
    ]
    session.connection().execute(insert(Feedback), prepared)
    return len(prepared)
