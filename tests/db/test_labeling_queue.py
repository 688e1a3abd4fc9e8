"""The labeling queue's counts agree with counting the predictions one by one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from db.base import utcnow
from db.models import Feedback, Prediction
from db.repositories.labeling import QueueScope, count_awaiting
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
