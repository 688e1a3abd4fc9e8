"""accuracy_trend: every bucket present, sparse ones without accuracy, Wilson bands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from db.base import utcnow
from services.quality.metrics import wilson_interval
from services.quality.trend import accuracy_trend
from tests.factories import log_predictions, make_model


def test_daily_buckets_count_labels_and_mark_sparse_days(engine: Engine) -> None:
    model_id, version_id = make_model(engine, name="churn")
    now = utcnow()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = [(today + timedelta(minutes=i), "stays", "stays" if i % 4 else "churns")
            for i in range(min(40, int((now - today).total_seconds() // 60)))]
    rows += [(today - timedelta(days=2) + timedelta(minutes=i), "stays", "stays")
             for i in range(3)]
    log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)  # type: ignore[arg-type]
    buckets = accuracy_trend(engine=engine, model="churn", version=None,
                             since=today - timedelta(days=3), min_labels=5)
    assert [b.start.date() for b in buckets] == [
        (today - timedelta(days=d)).date() for d in (3, 2, 1, 0)]
    sparse = buckets[1]
    assert (sparse.labelled, sparse.accuracy, sparse.interval) == (3, None, None)
    assert buckets[0].labelled == buckets[2].labelled == 0
    last = buckets[3]
    if last.labelled >= 5:  # a few minutes after midnight there are fewer rows today
        assert last.accuracy == pytest.approx(last.correct / last.labelled)
        assert last.interval == wilson_interval(last.correct, last.labelled)


def test_the_version_filter_and_a_bad_bucket(engine: Engine) -> None:
    model_id, v1 = make_model(engine, name="churn")
    log_predictions(engine, model_id=model_id, version_id=v1,
                    rows=[(utcnow() - timedelta(minutes=5), "stays", "stays")])
    with pytest.raises(ValueError, match="bucket"):
        accuracy_trend(engine=engine, model="churn", version=None,
                       since=datetime.now(UTC) - timedelta(days=1), bucket="week")
    hours = accuracy_trend(engine=engine, model="churn", version=1, bucket="hour",
                           since=datetime.now(UTC) - timedelta(hours=3), min_labels=1)
    assert sum(b.labelled for b in hours) == 1
    assert hours[-1].accuracy in (1.0, None)
