"""Shadow predictions: a version's answers to predictions another version served.

A version's *answer* for a prediction is the logged ``predicted_class`` when that version
made the prediction, else its ``shadow_predictions`` row (if it scored it). Comparisons and
the disagreement queue drive from ``ix_shadow_predictions_version_predicted`` (version,
prediction time, prediction id, predicted class) and reach ``feedback`` and
``predictions`` through their unique prediction ids; counts are grouped in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from db.models import (
    Feedback,
    Prediction,
    ProductionPointer,
    ShadowPrediction,
    VersionTrainingRow,
)

__all__ = [
    "answer_counts",
    "disagreements",
    "insert_shadow",
    "scored_count",
    "unscored_predictions",
]

# Ids per IN (...) query: well below SQLite's bound-parameter limit.
_CHUNK = 500


def insert_shadow(*, session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert shadow rows, skipping (prediction, version) pairs already stored.

    Each row has the columns of :class:`db.models.ShadowPrediction` except ``id``.
    Returns the number of rows inserted.
    """
    by_version: dict[int, list[str]] = {}
    for row in rows:
        by_version.setdefault(int(row["version_id"]), []).append(str(row["prediction_id"]))
    present: set[tuple[str, int]] = set()
    for version_id, ids in by_version.items():
        for start in range(0, len(ids), _CHUNK):
            found = session.scalars(
                select(ShadowPrediction.prediction_id).where(
                    ShadowPrediction.version_id == version_id,
                    ShadowPrediction.prediction_id.in_(ids[start:start + _CHUNK]),
                )
            )
            present.update((pid, version_id) for pid in found)
    fresh: list[dict[str, Any]] = []
    for row in rows:
        key = (str(row["prediction_id"]), int(row["version_id"]))
        if key not in present:
            present.add(key)  # a pair repeated within ``rows`` is inserted once
            fresh.append(dict(row))
    if fresh:
        session.connection().execute(insert(ShadowPrediction), fresh)
    return len(fresh)


def scored_count(
    *, session: Session, version_id: int, since: datetime | None, until: datetime | None
) -> int:
    """Shadow rows of a version for predictions made in ``[since, until)``."""
    stmt = select(func.count()).where(ShadowPrediction.version_id == version_id)
    if since is not None:
        stmt = stmt.where(ShadowPrediction.predicted_at >= since)
    if until is not None:
        stmt = stmt.where(ShadowPrediction.predicted_at < until)
    return int(session.scalar(stmt) or 0)


def unscored_predictions(
    *,
    session: Session,
    model_id: int,
    version_id: int,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    before: tuple[datetime, str] | None = None,
) -> list[tuple[str, datetime, dict[str, Any]]]:
    """``(id, ts, features)`` of a model's predictions that ``version_id`` may still score.

    Those made by another version in ``[since, until)`` without a shadow row of
    ``version_id``, newest first.

    Args:
        session: an open session.
        model_id: the model.
        version_id: the scoring version.
        since: only predictions made at or after this time.
        until: only predictions made before this time.
        limit: at most this many.
        before: ``(ts, id)`` of the last prediction of the previous page: only older ones.
    """
    done = exists().where(ShadowPrediction.prediction_id == Prediction.id,
                          ShadowPrediction.version_id == version_id)
    stmt = (
        select(Prediction.id, Prediction.ts, Prediction.features)
        .where(Prediction.model_id == model_id, Prediction.version_id != version_id, ~done)
        .order_by(Prediction.ts.desc(), Prediction.id.desc())
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(Prediction.ts >= since)
    if until is not None:
        stmt = stmt.where(Prediction.ts < until)
    if before is not None:
        at, pid = before
        stmt = stmt.where(or_(Prediction.ts < at, and_(Prediction.ts == at, Prediction.id < pid)))
    return [(str(pid), ts, dict(features)) for pid, ts, features in session.execute(stmt)]


def _window(column: Any, since: datetime | None,
            until: datetime | None) -> list[ColumnElement[bool]]:
    """Conditions keeping ``column`` in ``[since, until)`` (none for an open bound)."""
    return [*([column >= since] if since is not None else []),
            *([column < until] if until is not None else [])]


def _not_trained_on(version_id: int | None) -> list[ColumnElement[bool]]:
    """Conditions leaving out the labelled predictions ``version_id`` was trained on."""
    if version_id is None:
        return []
    return [~exists().where(VersionTrainingRow.version_id == version_id,
                            VersionTrainingRow.prediction_id == Feedback.prediction_id)]


def answer_counts(
    *,
    session: Session,
    model_id: int,
    a_id: int,
    b_id: int,
    since: datetime | None,
    until: datetime | None,
    exclude_trained_on: int | None = None,
) -> list[tuple[str, str, str, int]]:
    """``(label, answer of a, answer of b, count)`` over labelled predictions both answered.

    Every such prediction has a shadow row of ``b`` (it was not made by ``b``) or was made
    by ``b`` and has a shadow row of ``a``; the two cases are counted apart, each driven
    by a shadow index, and added up in SQL. With ``exclude_trained_on``, predictions that
    version was trained on (its ``version_training_rows``) are left out: a model judged on
    its own training data looks better than it is.

    Args:
        session: an open session.
        model_id: the model both versions belong to.
        a_id: the first version's row id.
        b_id: the second version's row id (not ``a_id``).
        since: only predictions made at or after this time.
        until: only predictions made before this time.
        exclude_trained_on: a version's row id whose training rows are not counted.
    """
    trained = _not_trained_on(exclude_trained_on)
    sa = aliased(ShadowPrediction)
    sb = aliased(ShadowPrediction)
    answer_a: ColumnElement[str] = case(
        (Feedback.version_id == a_id, Feedback.predicted_class), else_=sa.predicted_class)
    # Not made by b: b's answer is its shadow row; a's is the log or a's shadow row.
    shadow_b = (
        select(Feedback.label.label("label"), answer_a.label("a"),
               sb.predicted_class.label("b"))
        .select_from(sb)
        .join(Feedback, Feedback.prediction_id == sb.prediction_id)
        .outerjoin(sa, and_(sa.prediction_id == sb.prediction_id, sa.version_id == a_id))
        .where(sb.version_id == b_id, Feedback.model_id == model_id,
               Feedback.version_id != b_id, answer_a.is_not(None),
               *_window(sb.predicted_at, since, until), *trained)
    )
    # Made by b: b's answer is the log, a's its shadow row.
    made_by_b = (
        select(Feedback.label.label("label"), sa.predicted_class.label("a"),
               Feedback.predicted_class.label("b"))
        .select_from(sa)
        .join(Feedback, Feedback.prediction_id == sa.prediction_id)
        .where(sa.version_id == a_id, Feedback.version_id == b_id,
               Feedback.model_id == model_id, *_window(sa.predicted_at, since, until),
               *trained)
    )
    both = union_all(shadow_b, made_by_b).subquery()
    stmt = (
        select(both.c.label, both.c.a, both.c.b, func.count())
        .group_by(both.c.label, both.c.a, both.c.b)
        .order_by(both.c.label, both.c.a, both.c.b)
    )
    return [(str(label), str(a), str(b), int(n)) for label, a, b, n in session.execute(stmt)]


def disagreements(
    *,
    session: Session,
    model_id: int,
    candidate_version_id: int,
    limit: int,
    since: datetime | None = None,
) -> list[str]:
    """Ids of a model's unlabelled predictions where production and a candidate differ.

    The production version's answer (the logged class when it made the prediction, else
    its shadow row) differs from the candidate's shadow answer. Newest first (by
    prediction time), at most ``limit``; empty when the model has no production version
    or the candidate is the production version.

    Args:
        session: an open session.
        model_id: the model.
        candidate_version_id: the candidate's ``model_versions`` row id.
        limit: at most this many ids.
        since: only predictions made at or after this time.
    """
    production = session.scalar(
        select(ProductionPointer.version_id).where(ProductionPointer.model_id == model_id))
    if production is None or production == candidate_version_id or limit <= 0:
        return []
    cand = aliased(ShadowPrediction)
    prod = aliased(ShadowPrediction)
    production_answer = case(
        (Prediction.version_id == production, Prediction.predicted_class),
        else_=prod.predicted_class)
    labelled = exists().where(Feedback.prediction_id == cand.prediction_id)
    stmt = (
        select(cand.prediction_id)
        .join(Prediction, Prediction.id == cand.prediction_id)
        .outerjoin(prod, and_(prod.prediction_id == cand.prediction_id,
                              prod.version_id == production))
        .where(cand.version_id == candidate_version_id, Prediction.model_id == model_id,
               ~labelled, production_answer != cand.predicted_class)
        .order_by(cand.predicted_at.desc(), cand.prediction_id.desc())
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(cand.predicted_at >= since)
    return [str(pid) for pid in session.scalars(stmt)]
