"""What only PostgreSQL has to show: its schema equals the models, its own triggers refuse
``TRUNCATE`` too, its rounding of the score bands keeps the queue's order, and the paths
with SQL of their own for a dialect other than SQLite (bulk logging, the trend's time
buckets, the Drift page's reads). Every test of ``tests/db`` also runs on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from db.base import Base
from db.models import AuditLog, FeedbackHistory, Prediction
from db.repositories import drift as drift_repo
from db.repositories.predictions import insert_predictions
from db.session import session_scope
from services.access import CLI, Principal, Role
from services.audit import record
from services.drift.frame import decode_rows, feature_kinds
from services.labels.queue import QueueFilter, labeling_queue
from services.labels.save import LabelEdit, save_labels
from services.quality.report import quality_report
from services.quality.trend import accuracy_trend
from tests.factories import log_predictions, make_model

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
ANN = Principal(username="ann", role=Role.LABELER)
BOB = Principal(username="bob", role=Role.LABELER)


def test_the_migrated_schema_is_the_models(engine: Engine) -> None:
    assert engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


@pytest.mark.parametrize("table", ["audit_log", "feedback_history"])
def test_the_append_only_tables_refuse_truncate(engine: Engine, table: str) -> None:
    # UPDATE and DELETE: tests/db/test_audit_log.py and test_labels.py, on both databases.
    model_id, version_id = make_model(engine)
    (p1,) = log_predictions(engine, model_id=model_id, version_id=version_id,
                            rows=[(T0, "stays", None)])
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None)])
    with session_scope(engine, write=True) as session:
        record(session=session, actor=CLI.username, action="promote")
    with pytest.raises(DBAPIError, match=f"{table} is append-only"), \
            session_scope(engine, write=True) as session:
        session.execute(text(f"TRUNCATE {table} CASCADE"))
    with session_scope(engine) as session:
        assert session.scalars(select(FeedbackHistory.new_label)).all() == ["churns"]
        assert len(session.scalars(select(AuditLog.id)).all()) == 2


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


def test_migration_0013_goes_down_and_up_keeping_versions_and_jobs(engine: Engine) -> None:
    from alembic import command

    from db.schema import alembic_config

    model_id, version_id = make_model(engine)
    with engine.begin() as conn:
        job_id = conn.execute(text(
            "INSERT INTO retrain_jobs (model_id, status, params, requested_by, created_at, "
            "error, log) VALUES (:m, 'succeeded', '{}', 'ann', now(), '', '') RETURNING id"),
            {"m": model_id}).scalar_one()
        conn.execute(text("UPDATE model_versions SET job_id = :j"), {"j": job_id})
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0012")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, job_id FROM model_versions")).one() == (
            version_id, None)
        assert conn.execute(text("SELECT id, status FROM retrain_jobs")).one() == (
            job_id, "succeeded")
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
