"""Migrations: the schema they build is the one the models declare, and upgrades keep data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from db.base import Base
from db.schema import alembic_config, upgrade
from db.session import make_engine
from tests.factories import log_predictions, make_model


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    """Upgrade (or downgrade) the store to ``revision`` with Alembic's own commands."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _store_at(tmp_path: Path, revision: str) -> Engine:
    """A new store file migrated up to ``revision`` only."""
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    _migrate(engine, revision)
    return engine


def test_upgrade_to_0004_copies_prediction_facts_into_existing_labels(tmp_path: Path) -> None:
    engine = _store_at(tmp_path, "0003")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO models (id, name, task, description, class_labels, feature_schema, "
            "created_at) VALUES (1, 'churn', 'binary', '', '[\"stays\", \"churns\"]', '[]', "
            "'2026-11-01 00:00:00')"))
        conn.execute(text(
            "INSERT INTO model_versions (id, model_id, version, status, artifact_path, "
            "artifact_sha256, holdout_metrics, reference_sample, created_by, created_at, notes) "
            "VALUES (7, 1, 1, 'production', 'a', 'b', '{}', '[]', 'system', "
            "'2026-11-01 00:00:00', '')"))
        conn.execute(text(
            "INSERT INTO predictions (id, model_id, version_id, ts, features, predicted_class, "
            "scores, top_score, latency_ms) VALUES ('p1', 1, 7, '2026-11-02 03:04:05', '{}', "
            "'churns', '{}', 0.61, 4.0)"))
        conn.execute(text(
            "INSERT INTO feedback (prediction_id, label, labeler, source, created_at, "
            "updated_at, revision) VALUES ('p1', 'stays', 'ann', 'ui', '2026-11-03 00:00:00', "
            "'2026-11-03 00:00:00', 1)"))
    upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT model_id, version_id, predicted_class, predicted_at, top_score, label "
            "FROM feedback WHERE prediction_id = 'p1'")).one()
    assert tuple(row) == (1, 7, "churns", "2026-11-02 03:04:05", 0.61, "stays")


def test_bulk_labels_carry_their_prediction_facts(engine: Engine) -> None:
    model_id, version_id = make_model(engine)
    at = datetime(2026, 11, 5, 12, tzinfo=UTC)
    [pid] = log_predictions(engine, model_id=model_id, version_id=version_id,
                            rows=[(at, "churns", "stays")])
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT model_id, version_id, predicted_class, top_score FROM feedback "
            "WHERE prediction_id = :pid"), {"pid": pid}).one()
    assert tuple(row) == (model_id, version_id, "churns", 0.8)


def _prediction_indexes(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'predictions' "
            "AND name LIKE 'ix_%'")).scalars())


def test_0009_bands_existing_predictions_and_downgrades(tmp_path: Path) -> None:
    engine = _store_at(tmp_path, "0008")
    # Not in production: today's ledger row has columns a store at 0008 lacks.
    model_id, version_id = make_model(engine, production=False)
    at = datetime(2026, 11, 5, 12, tzinfo=UTC)
    with engine.begin() as conn:
        for pid, score in (("p1", 0.5), ("p2", 0.987), ("p3", 1.0)):
            conn.execute(text(
                "INSERT INTO predictions (id, model_id, version_id, ts, features, "
                "predicted_class, scores, top_score, latency_ms) VALUES (:id, :m, :v, :ts, "
                "'{}', 'churns', '{}', :s, 4.0)"),
                {"id": pid, "m": model_id, "v": version_id, "ts": at.replace(tzinfo=None),
                 "s": score})
    upgrade(engine)
    with engine.connect() as conn:
        bands = conn.execute(text(
            "SELECT id, top_score_band FROM predictions ORDER BY id")).all()
    assert [tuple(row) for row in bands] == [("p1", 50), ("p2", 98), ("p3", 100)]
    assert "ix_predictions_model_top_score_band" in _prediction_indexes(engine)
    assert "ix_predictions_model_top_score" not in _prediction_indexes(engine)
    _migrate(engine, "0008", down=True)
    assert _prediction_indexes(engine) == {"ix_predictions_model_ts",
                                           "ix_predictions_version_ts",
                                           "ix_predictions_model_top_score"}
    with engine.connect() as conn:
        columns = [row[1] for row in conn.execute(text("PRAGMA table_info(predictions)"))]
    assert columns == ["id", "model_id", "version_id", "ts", "features", "predicted_class",
                       "scores", "top_score", "latency_ms"]


def test_0012_keeps_the_ledger_and_adds_evidence_verdict_and_trigger(tmp_path: Path) -> None:
    engine = _store_at(tmp_path, "0011")
    make_model(engine, production=False)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO production_pointers (model_id, version_id, updated_at, updated_by) "
            "VALUES (1, 1, '2026-11-01 00:00:00', 'ann')"))
        conn.execute(text(
            "INSERT INTO promotions (model_id, from_version_id, to_version_id, kind, actor, "
            "reason, created_at) VALUES (1, NULL, 1, 'promote', 'ann', 'first', "
            "'2026-11-01 00:00:00')"))
    upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT to_version_id, actor, reason, evidence, verdict, \"trigger\" "
            "FROM promotions")).one()
    assert tuple(row) == (1, "ann", "first", None, None, None)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("UPDATE promotions SET verdict = 'maybe'"))
    _migrate(engine, "0011", down=True)
    with engine.connect() as conn:
        columns = [r[1] for r in conn.execute(text("PRAGMA table_info(promotions)"))]
        indexes = set(conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'promotions' "
            "AND name LIKE 'ix_%'")).scalars())
    assert columns == ["id", "model_id", "from_version_id", "to_version_id", "kind", "actor",
                       "reason", "created_at"]
    assert indexes == {"ix_promotions_model_id", "ix_promotions_created_at"}
    with pytest.raises(IntegrityError), engine.begin() as conn:  # the kind check stays
        conn.execute(text("UPDATE promotions SET kind = 'sideways'"))
