"""Seeding the demo into a fresh store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select, text

from db.models import Feedback, Model, ModelVersion, Prediction, Promotion, ShadowPrediction
from db.repositories.registry import get_model, production_version
from db.schema import upgrade
from db.session import make_engine, session_scope
from devstack import launcher
from devstack.demo.candidate import candidate_plan
from devstack.demo.generator import to_frame
from devstack.demo.scenarios import SCENARIOS, get_scenario
from devstack.demo.seed import SeedReport, seed_demo
from devstack.demo.training import REFERENCE_ROWS
from services.quality.compare import compare_versions
from services.registry.artifacts import load_artifact
from services.settings import Settings

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DAYS = 2


def _fresh(tmp: Path, *, demo_days: int, demo_seed: int = 42) -> tuple[Settings, Engine]:
    var = tmp / "var"
    var.mkdir(parents=True)
    settings = Settings(
        var_dir=str(var), database_url="", demo_days=demo_days, demo_seed=demo_seed
    )
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    return settings, engine


@pytest.fixture(scope="module")
def seeded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Settings, Engine, SeedReport]]:
    """A store seeded once with two days of history."""
    settings, engine = _fresh(tmp_path_factory.mktemp("seeded"), demo_days=DAYS)
    report = seed_demo(engine=engine, settings=settings, now=NOW)
    yield settings, engine, report
    engine.dispose()


def _table(engine: Engine, query: str, **params: object) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(text(query), conn, params=params)


def test_seed_report_counts_scale_with_the_days(
    seeded: tuple[Settings, Engine, SeedReport],
) -> None:
    _, engine, report = seeded
    assert not report.skipped
    assert report.models == ("churn", "ticket-routing")
    expected = sum(s.daily_volume for s in SCENARIOS) * DAYS
    assert report.predictions == expected
    # The default fourteen days give at least the 150,000 predictions the demo promises.
    assert sum(s.daily_volume for s in SCENARIOS) * Settings().demo_days >= 150_000
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == expected
        assert session.scalar(select(func.count()).select_from(Feedback)) == report.labels
    assert 0.3 * expected < report.labels < 0.6 * expected
    assert report.start == NOW - timedelta(days=DAYS)
    assert report.end == NOW


def test_both_models_serve_version_1_from_the_start_of_history(
    seeded: tuple[Settings, Engine, SeedReport],
) -> None:
    settings, engine, report = seeded
    with session_scope(engine) as session:
        for scenario in SCENARIOS:
            model = get_model(session=session, name=scenario.name)
            version = production_version(session=session, model_id=model.id)
            assert version is not None
            assert version.version == 1
            assert version.status == "production"
            assert version.created_by == "demo-seed"
            assert 0.8 < version.holdout_metrics["accuracy"] < 0.95
            assert len(version.reference_sample) == REFERENCE_ROWS
            assert version.train_window_end == report.start
            assert model.task == scenario.task
            assert model.feature_schema == scenario.schema()
            pipeline = load_artifact(Path(version.artifact_path), version.artifact_sha256)
            assert model.class_labels == list(pipeline.classes_)
            assert Path(version.artifact_path).parent == settings.resolved_artifacts_dir
            assert Path(version.artifact_path).name == f"{scenario.name}-v1.pkl"
            promotion = session.scalar(select(Promotion).where(Promotion.model_id == model.id))
            assert promotion is not None
            assert promotion.actor == "demo-seed"
            assert promotion.created_at == report.start


def test_logged_predictions_agree_with_the_stored_model(
    seeded: tuple[Settings, Engine, SeedReport],
) -> None:
    _, engine, _ = seeded
    with session_scope(engine) as session:
        for name in ("churn", "ticket-routing"):
            model = get_model(session=session, name=name)
            version = production_version(session=session, model_id=model.id)
            assert version is not None
            rows = session.scalars(
                select(Prediction).where(Prediction.model_id == model.id).limit(200)
            ).all()
            pipeline = load_artifact(Path(version.artifact_path), version.artifact_sha256)
            frame = to_frame([r.features for r in rows], model.feature_schema)
            predicted = pipeline.predict(frame)
            agree = sum(p == r.predicted_class for p, r in zip(predicted, rows, strict=True))
            assert agree >= 198  # scores are stored rounded: a near-tie may flip
            for row in rows:
                assert row.version_id == version.id
                assert len(row.id) == 32
                assert list(row.scores) == model.class_labels
                assert row.top_score == max(row.scores.values())
                assert row.scores[row.predicted_class] == row.top_score
                assert 1.0 < row.latency_ms < 500.0
                assert NOW - timedelta(days=DAYS) <= row.ts <= NOW
                assert set(row.features) == set(get_scenario(name).feature_names)


def test_ground_truth_arrives_late_and_never_in_the_future(
    seeded: tuple[Settings, Engine, SeedReport],
) -> None:
    _, engine, _ = seeded
    joined = _table(
        engine,
        "SELECT p.ts, f.created_at, f.labeler, f.source FROM feedback f "
        "JOIN predictions p ON p.id = f.prediction_id",
    )
    ts = pd.to_datetime(joined["ts"])
    created = pd.to_datetime(joined["created_at"])
    assert (created > ts).all()
    assert (created <= NOW.replace(tzinfo=None)).all()
    assert set(joined["labeler"]) == {"demo-ground-truth"}
    assert set(joined["source"]) == {"simulator"}
    delay_hours = (created - ts).dt.total_seconds() / 3600
    assert 0.5 < delay_hours.median() < 48


def test_recent_predictions_have_fewer_labels(
    seeded: tuple[Settings, Engine, SeedReport],
) -> None:
    _, engine, _ = seeded
    shares = _table(
        engine,
        "SELECT p.ts >= :recent AS recent, AVG(f.id IS NOT NULL) AS share FROM predictions p "
        "LEFT JOIN feedback f ON f.prediction_id = p.id GROUP BY 1",
        recent=(NOW - timedelta(hours=6)).replace(tzinfo=None).isoformat(sep=" "),
    ).set_index("recent")["share"]
    assert shares[1] < shares[0] - 0.2


def test_second_seed_is_skipped(seeded: tuple[Settings, Engine, SeedReport]) -> None:
    settings, engine, report = seeded
    again = seed_demo(engine=engine, settings=settings, now=NOW + timedelta(days=1))
    assert again.skipped
    assert again.predictions == 0
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Model)) == 2
        assert session.scalar(select(func.count()).select_from(ModelVersion)) == 4
        assert session.scalar(select(func.count()).select_from(ShadowPrediction)) == report.shadow
        assert session.scalar(select(func.count()).select_from(Prediction)) == report.predictions


def test_the_seed_demo_command_says_the_demo_is_there_already(
    seeded: tuple[Settings, Engine, SeedReport], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, _, _ = seeded
    monkeypatch.setenv("OPSDASH_VAR_DIR", settings.var_dir)
    monkeypatch.setenv("OPSDASH_DATABASE_URL", settings.database_url)

    assert launcher.main(["seed-demo", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["skipped"] is True
    assert result["predictions"] == 0
    assert launcher.main(["seed-demo"]) == 0
    assert capsys.readouterr().out.startswith("demo data already present")


def test_the_seed_demo_command_refuses_a_store_without_schema_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPSDASH_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("OPSDASH_DATABASE_URL", "")

    assert launcher.main(["seed-demo"]) == 2
    assert "python -m services.cli init-db" in capsys.readouterr().err


def test_a_candidate_version_2_trained_on_the_drift_episode_waits_beside_production(
    seeded: tuple[Settings, Engine, SeedReport],
) -> None:
    _, engine, report = seeded
    assert report.start is not None
    plan = candidate_plan(start=report.start, end=NOW)
    with session_scope(engine) as session:
        for scenario in SCENARIOS:
            model = get_model(session=session, name=scenario.name)
            production = production_version(session=session, model_id=model.id)
            assert production is not None
            assert production.version == 1
            candidate = session.scalar(select(ModelVersion).where(
                ModelVersion.model_id == model.id, ModelVersion.version == 2))
            assert candidate is not None
            assert candidate.status == "candidate"
            assert candidate.created_by == "demo-seed"
            assert (candidate.train_window_start, candidate.train_window_end) == (
                plan.train_start, plan.train_end)
            assert candidate.created_at == plan.train_end
            assert 0.6 < candidate.holdout_metrics["accuracy"] < 0.95
            assert Path(candidate.artifact_path).name == f"{scenario.name}-v2.pkl"
            pipeline = load_artifact(Path(candidate.artifact_path), candidate.artifact_sha256)
            assert [str(c) for c in pipeline.classes_] == model.class_labels


def test_the_candidate_answers_every_request_of_the_last_days_in_the_shadow(
    seeded: tuple[Settings, Engine, SeedReport],
) -> None:
    _, engine, report = seeded
    assert report.start is not None
    since = candidate_plan(start=report.start, end=NOW).train_end
    total = 0
    with session_scope(engine) as session:
        for scenario in SCENARIOS:
            model = get_model(session=session, name=scenario.name)
            candidate = session.scalar(select(ModelVersion).where(
                ModelVersion.model_id == model.id, ModelVersion.version == 2))
            assert candidate is not None
            recent = session.scalar(select(func.count()).where(
                Prediction.model_id == model.id, Prediction.ts >= since))
            rows = session.scalars(select(ShadowPrediction).where(
                ShadowPrediction.version_id == candidate.id)).all()
            assert recent
            assert len(rows) == recent
            assert min(r.predicted_at for r in rows) >= since
            pipeline = load_artifact(Path(candidate.artifact_path), candidate.artifact_sha256)
            sample = rows[:200]
            logged = {p.id: p for p in session.scalars(select(Prediction).where(
                Prediction.id.in_([r.prediction_id for r in sample])))}
            frame = to_frame([logged[r.prediction_id].features for r in sample],
                             model.feature_schema)
            predicted = pipeline.predict(frame)
            agree = sum(p == r.predicted_class for p, r in zip(predicted, sample, strict=True))
            assert agree >= 198  # scores are stored rounded: a near-tie may flip
            for row in sample:
                assert row.predicted_at == logged[row.prediction_id].ts
                assert row.top_score == max(row.scores.values())
                assert list(row.scores) == model.class_labels
            total += len(rows)
    assert report.shadow == total


def test_the_comparison_has_shared_labelled_predictions(
    seeded: tuple[Settings, Engine, SeedReport],
) -> None:
    _, engine, _ = seeded
    for scenario in SCENARIOS:
        comparison = compare_versions(engine=engine, model=scenario.name, a=1, b=2)
        assert comparison.shared > 0
        assert comparison.disagreements > 0


def _dump(engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    predictions = _table(
        engine,
        "SELECT p.id, m.name, p.ts, p.features, p.predicted_class, p.scores, p.latency_ms "
        "FROM predictions p JOIN models m ON m.id = p.model_id ORDER BY p.id",
    )
    feedback = _table(
        engine, "SELECT prediction_id, label, created_at FROM feedback ORDER BY prediction_id"
    )
    shadow = _table(
        engine,
        "SELECT s.prediction_id, v.version, s.predicted_class, s.scores, s.scored_at "
        "FROM shadow_predictions s JOIN model_versions v ON v.id = s.version_id "
        "ORDER BY s.prediction_id",
    )
    return predictions, feedback, shadow


def test_same_seed_and_now_give_the_same_store_and_another_seed_does_not(
    tmp_path: Path,
) -> None:
    dumps = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        settings, engine = _fresh(tmp_path / name, demo_days=1, demo_seed=seed)
        seed_demo(engine=engine, settings=settings, now=NOW)
        dumps.append(_dump(engine))
        engine.dispose()
    (pa, fa, sa), (pb, fb, sb), (pc, _, _) = dumps
    pd.testing.assert_frame_equal(pa, pb)
    pd.testing.assert_frame_equal(fa, fb)
    pd.testing.assert_frame_equal(sa, sb)
    assert len(sa) > 0
    assert not set(pa["id"]) & set(pc["id"])


def test_naive_now_is_refused(settings: Settings, engine: Engine) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        seed_demo(engine=engine, settings=settings, now=datetime(2026, 5, 1))
