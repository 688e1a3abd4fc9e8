"""The labeling queue's counts and order agree with counting and sorting the predictions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from db.base import utcnow
from db.models import Feedback, Prediction
from db.repositories.labeling import QueueScope, count_awaiting, queue_rows
from db.repositories.predictions import insert_feedback, insert_predictions
from db.session import session_scope
from tests.factories import log_predictions, make_model


@pytest.mark.parametrize("predicted_class", [None, "churns"])
@pytest.mark.parametrize("hours", [None, 30])
def test_awaiting_equals_the_unlabelled_predictions_of_the_scope(
    engine: Engine, predicted_class: str | None, hours: int | None
) -> None:
    model_id, version_id = make_model(engine)
    now = utcnow()
    rows = [(now - timedelta(hours=h), ("stays", "churns")[h % 2],
             None if h % 3 else ("stays", "churns")[h % 4 // 2]) for h in range(1, 61)]
    log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)  # type: ignore[arg-type]
    since = None if hours is None else now - timedelta(hours=hours)
    scope = QueueScope(model_id=model_id, predicted_class=predicted_class, since=since)
    with session_scope(engine) as session:
        labelled = set(session.scalars(select(Feedback.prediction_id)))
        expected = sum(
            1 for pid, cls, ts in session.execute(
                select(Prediction.id, Prediction.predicted_class, Prediction.ts))
            if pid not in labelled and (predicted_class is None or cls == predicted_class)
            and (since is None or ts >= since))
        assert count_awaiting(session=session, scope=scope) == expected
    assert 0 < expected < 60


@pytest.mark.parametrize("limit", [1, 7, 15, 40])
def test_least_confident_first_is_the_order_of_the_top_score(engine: Engine, limit: int) -> None:
    # Scores within one band, on band edges and far apart; equal scores order newest first.
    model_id, version_id = make_model(engine)
    now = utcnow()
    scores = [0.5, 0.5099, 0.5001, 0.51, 0.5, 0.98, 0.7, 0.5099, 0.69999, 0.55, 0.501, 1.0,
              0.5, 0.6, 0.64, 0.505, 0.52, 0.999, 0.75, 0.5]
    rows = [{"id": f"p{i:02d}", "model_id": model_id, "version_id": version_id,
             "ts": now - timedelta(minutes=i), "features": {}, "predicted_class": "churns",
             "scores": {"churns": score}, "top_score": score, "latency_ms": 1.0}
            for i, score in enumerate(scores)]
    labelled = {"p01", "p04", "p15"}
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=rows)
        insert_feedback(session=session, rows=[
            {"prediction_id": pid, "label": "stays", "labeler": "ann", "source": "ui",
             "created_at": now} for pid in sorted(labelled)])
    expected = [row["id"] for row in sorted(
        rows, key=lambda r: (r["top_score"], -r["ts"].timestamp()))]
    with session_scope(engine) as session:
        page = queue_rows(session=session, scope=QueueScope(model_id=model_id),
                          order="least_confident", limit=limit)
        everything = queue_rows(session=session, scope=QueueScope(model_id=model_id),
                                order="least_confident", limit=limit, include_labelled=True)
    assert [r.prediction_id for r in page] == [p for p in expected if p not in labelled][:limit]
    assert [r.prediction_id for r in everything] == expected[:limit]
