"""The feedback store on a real PostgreSQL server: the schema, its guards, and the store's
bulk and query paths that have a code path of their own for a dialect other than SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.exc import DBAPIError

from db.base import Base
from db.models import AuditLog, FeedbackHistory, Prediction
from db.repositories import drift as drift_repo
from db.repositories.predictions import insert_predictions
from db.session import session_scope
from services.audit import record
from services.auth import CLI, Principal, Role
from services.drift_view import decode_rows, feature_kinds
from services.labeling_queue import QueueFilter, labeling_queue
from services.labels import LabelEdit, save_labels
from services.quality import accuracy_trend, quality_report
from tests.db import test_auth_sessions as session_tests
from tests.db import test_model_registry as registry_tests
from tests.db.test_auth_sessions import ann  # noqa: F401  (the session tests' fixture)
from tests.factories import log_predictions, make_model
from tests.label_race import assert_parallel_labelers_keep_one_label_each

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
ANN = Principal(username="ann", role=Role.LABELER)
BOB = Principal(username="bob", role=Role.LABELER)


def test_the_migrated_schema_is_the_models(engine: Engine) -> None:
    assert engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


@pytest.mark.parametrize("table", ["audit_log", "feedback_history"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET id = id", "DELETE FROM {t}",
                                       "TRUNCATE {t} CASCADE"])
def test_the_append_only_tables_refuse_every_change(
        engine: Engine, table: str, statement: str) -> None:
    model_id, version_id = make_model(engine)
    (p1,) = log_predictions(engine, model_id=model_id, version_id=version_id,
                            rows=[(T0, "stays", None)])
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None)])
    with session_scope(engine, write=True) as session:
        record(session=session, actor=CLI.username, action="promote")
    with pytest.raises(DBAPIError, match=f"{table} is append-only"), \
            session_scope(engine, write=True) as session:
        session.execute(text(statement.format(t=table)))
    with session_scope(engine) as session:
        assert session.scalars(select(FeedbackHistory.new_label)).all() == ["churns"]
        assert len(session.scalars(select(AuditLog.id)).all()) == 2


def test_a_prediction_with_label_history_cannot_be_deleted(engine: Engine) -> None:
    model_id, version_id = make_model(engine)
    (p1,) = log_predictions(engine, model_id=model_id, version_id=version_id,
                            rows=[(T0, "stays", None)])
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None)])
    with pytest.raises(DBAPIError, match="feedback_history is append-only"), \
            session_scope(engine, write=True) as session:
        session.execute(delete(Prediction))
    with pytest.raises(DBAPIError, match="feedback_history is append-only"), \
            session_scope(engine, write=True) as session:
        session.execute(update(FeedbackHistory).values(new_labeler="mallory"))


def test_bulk_logged_predictions_read_back_with_their_score_band(engine: Engine) -> None:
    model_id, version_id = make_model(engine)
    scores = [0.0, 0.005, 0.014, 0.5, 0.509, 0.9999, 1.0]
    rows = [{"id": f"p{i}", "model_id": model_id, "version_id": version_id,
             "ts": T0 + timedelta(seconds=i), "features": {"tenure_months": 3.0, "plan": "x"},
             "predicted_class": "stays", "scores": {"stays": s}, "top_score": s,
             "latency_ms": 1.5} for i, s in enumerate(scores)]
    with session_scope(engine, write=True) as session:
        assert insert_predictions(session=session, rows=rows) == len(rows)
    with session_scope(engine) as session:
        stored = session.execute(select(Prediction.id, Prediction.ts, Prediction.features,
                                        Prediction.scores, Prediction.top_score_band)
                                 .order_by(Prediction.id)).all()
    assert [r.ts for r in stored] == [row["ts"] for row in rows]
    assert stored[0].features == {"tenure_months": 3.0, "plan": "x"}
    assert [r.scores for r in stored] == [{"stays": s} for s in scores]
    # Whole percent: PostgreSQL's CAST rounds where SQLite's truncates, so a band may be one
    # higher here; the queue only needs bands that never decrease as the score grows.
    bands = [r.top_score_band for r in stored]
    assert bands == sorted(bands)
    assert all(abs(b - s * 100) <= 0.5 for b, s in zip(bands, scores, strict=True))


def test_the_labeling_queue_orders_by_confidence_and_by_time(engine: Engine) -> None:
    model_id, version_id = make_model(engine)
    rng = np.random.default_rng(3)
    scores = rng.uniform(0.5, 1.0, 300).round(4)
    rows = [{"id": f"p{i:03d}", "model_id": model_id, "version_id": version_id,
             "ts": T0 + timedelta(minutes=int(rng.integers(0, 10_000))),
             "features": {"tenure_months": 3.0, "plan": "x"}, "predicted_class": "stays",
             "scores": {"stays": float(s)}, "top_score": float(s), "latency_ms": 1.0}
            for i, s in enumerate(scores)]
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=rows)
    wanted = QueueFilter(model="churn")
    least = labeling_queue(engine=engine, actor=ANN, wanted=wanted, limit=40)
    expected = sorted(rows, key=lambda r: (r["top_score"], r["id"]))[:40]
    assert [r.top_score for r in least.rows] == [r["top_score"] for r in expected]
    newest = labeling_queue(engine=engine, actor=ANN, wanted=wanted, order="newest", limit=40)
    assert [r.ts for r in newest.rows] == sorted((r["ts"] for r in rows), reverse=True)[:40]


def test_labels_are_saved_replaced_and_kept_in_conflict(engine: Engine) -> None:
    model_id, version_id = make_model(engine)
    p1, p2 = log_predictions(engine, model_id=model_id, version_id=version_id,
                             rows=[(T0, "stays", None)] * 2)
    first = save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None),
                                                         LabelEdit(p2, "stays", None)])
    assert (first.saved, first.conflicts) == (2, [])
    late = save_labels(engine=engine, actor=BOB, edits=[LabelEdit(p1, "stays", None)])
    assert late.saved == 0
    assert [(c.prediction_id, c.stored_label, c.stored_by) for c in late.conflicts] == [
        (p1, "churns", "ann")]
    replaced = save_labels(engine=engine, actor=BOB, edits=[LabelEdit(p1, "stays", 1)])
    assert (replaced.saved, replaced.conflicts) == (1, [])
    with session_scope(engine) as session:
        history = session.execute(select(FeedbackHistory.prediction_id,
                                         FeedbackHistory.resolution)
                                  .order_by(FeedbackHistory.id)).all()
    assert [tuple(h) for h in history] == [(p1, "new"), (p2, "new"), (p1, "replaced")]


def test_the_quality_report_and_trend_equal_scikit_learn(engine: Engine) -> None:
    rng = np.random.default_rng(5)
    classes = ("stays", "churns")
    model_id, version_id = make_model(engine)
    n = 400
    predicted = rng.integers(0, 2, n)
    truth = np.where(rng.random(n) < 0.75, predicted, 1 - predicted)
    rows = [(T0 + timedelta(hours=int(i) % 72), classes[p], classes[t])
            for i, p, t in zip(range(n), predicted, truth, strict=True)]
    log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)
    report = quality_report(engine=engine, model="churn", bootstrap=0)
    y_true = [classes[t] for t in truth]
    y_pred = [classes[p] for p in predicted]
    assert report.n_labelled == n
    assert np.asarray(report.matrix).tolist() == confusion_matrix(
        y_true, y_pred, labels=list(report.labels)).tolist()
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(report.labels), zero_division=0)
    for i, figures in enumerate(report.per_class):
        assert (figures.precision, figures.recall, figures.f1, figures.support) == (
            pytest.approx(precision[i]), pytest.approx(recall[i]), pytest.approx(f1[i]),
            support[i])
    days = accuracy_trend(engine=engine, model="churn", version=None,
                          since=T0 - timedelta(days=1), bucket="day", min_labels=1)
    counted = [b for b in days if b.labelled]
    assert sum(b.labelled for b in counted) == n
    assert sum(b.correct for b in counted) == int((truth == predicted).sum())
    assert [b.start.date() for b in counted] == [T0.date() + timedelta(days=d) for d in range(4)]
    hours = accuracy_trend(engine=engine, model="churn", version=None,
                           since=T0 - timedelta(hours=1), bucket="hour", min_labels=1)
    assert sum(b.labelled for b in hours) == n
    assert [b.start for b in hours if b.labelled] == [
        T0.replace(minute=0) + timedelta(hours=h) for h in range(72)]


def test_parallel_labelers_keep_exactly_one_label_per_item(engine: Engine) -> None:
    # PostgreSQL runs the writers at once (no database-wide write lock as on SQLite), so
    # lost races go through the unique constraint and the revision checks.
    assert_parallel_labelers_keep_one_label_each(engine)


def test_the_drift_page_reads_logged_inputs_day_by_day(engine: Engine) -> None:
    model_id, version_id = make_model(engine)
    stamps = [T0 + timedelta(hours=h, microseconds=7) for h in (0, 5, 20, 30)]
    ids = log_predictions(engine, model_id=model_id, version_id=version_id,
                          rows=[(ts, "stays", None) for ts in stamps])
    day = datetime(2026, 11, 2, tzinfo=UTC)
    bounds = [day, day + timedelta(days=1), day + timedelta(days=2)]
    with session_scope(engine) as session:
        subject = drift_repo.drift_subject(session, "churn")
        assert subject is not None
        assert (subject.first_at, subject.last_at) == (stamps[0], stamps[-1])
        assert drift_repo.count_between(session, model_id, bounds) == [2, 2]
        raw = drift_repo.raw_rows(session, model_id, bounds[0], bounds[1])
    frame = decode_rows(raw, feature_kinds(subject.feature_schema))
    assert frame.seconds.tolist() == [ts.timestamp() for ts in stamps[:2]]
    assert frame.columns["tenure_months"].tolist() == [3.0, 3.0]
    assert frame.columns["plan"].tolist() == ["basic"] * 2
    assert frame.predicted.tolist() == ["stays"] * 2
    assert len(ids) == 4


# The same command-line and session tests as on SQLite, here on PostgreSQL (the fixtures of
# this folder give them a PostgreSQL store).
test_bring_your_own_logs_on_postgresql = registry_tests.test_bring_your_own_logs_from_an_empty_store
test_a_sign_out_ends_every_copy_on_postgresql = (
    session_tests.test_signing_out_ends_the_session_for_every_copy_and_only_that_one)
test_a_password_reset_ends_sessions_on_postgresql = (
    session_tests.test_a_password_reset_ends_every_earlier_session)
