"""Shadow scoring: a version answers the logged predictions of another, once, audited."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from db.base import utcnow
from db.models import AuditLog, Prediction, ShadowPrediction
from db.repositories.predictions import insert_predictions
from db.repositories.registry import RegistryError
from db.session import session_scope
from services.access import CLI, PermissionDenied, Principal, Role
from services.cli.shadow import NAME
from services.registry.shadow import ShadowError, shadow_score
from services.settings import Settings
from tests.serving_models import add_version, register_model, train_pipeline

PLANS = ("basic", "plus", "pro")


@pytest.fixture
def folder(settings: Settings) -> Path:
    path = Path(settings.var_dir) / "artifacts"
    path.mkdir()
    return path


@pytest.fixture
def store(engine: Engine, folder: Path) -> dict[str, int]:
    """churn v1 in production with 30 logged predictions, v2 a candidate (seed 7)."""
    model_id, v1 = register_model(engine, folder=folder)
    v2 = add_version(engine, folder=folder, model_id=model_id, seed=7, promote=False)
    _log(engine, model_id=model_id, version_id=v1, count=30)
    return {"model": model_id, "v1": v1, "v2": v2}


def _log(engine: Engine, *, model_id: int, version_id: int, count: int,
         start: datetime | None = None) -> list[tuple[str, datetime, dict[str, object]]]:
    """``count`` predictions one hour apart, ending an hour ago; returns (id, ts, features)."""
    end = start or utcnow() - timedelta(hours=1)
    rows, made = [], []
    for i in range(count):
        features = {"tenure": float(3 * i), "spend": 20.0 + i, "plan": PLANS[i % 3]}
        pid, ts = uuid.uuid4().hex, end - timedelta(hours=i)
        rows.append({"id": pid, "model_id": model_id, "version_id": version_id, "ts": ts,
                     "features": features, "predicted_class": "stays",
                     "scores": {"stays": 0.6, "churns": 0.4}, "top_score": 0.6,
                     "latency_ms": 3.0})
        made.append((pid, ts, features))
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=rows)
    return made


def _shadow_rows(engine: Engine, version_id: int) -> dict[str, ShadowPrediction]:
    with session_scope(engine) as session:
        rows = session.scalars(
            select(ShadowPrediction).where(ShadowPrediction.version_id == version_id)).all()
        return {r.prediction_id: r for r in rows}


def _audit(engine: Engine) -> list[AuditLog]:
    with session_scope(engine) as session:
        return list(session.scalars(
            select(AuditLog).where(AuditLog.action == "shadow_score").order_by(AuditLog.id)))


def test_a_candidate_answers_every_prediction_like_its_pipeline(
    engine: Engine, store: dict[str, int]
) -> None:
    result = shadow_score(engine=engine, actor=CLI, model="churn", version=2, chunk=7)
    assert (result.scored, result.already_scored, result.more) == (30, 0, False)
    rows = _shadow_rows(engine, store["v2"])
    assert len(rows) == 30
    with session_scope(engine) as session:
        by_id = {p.id: p for p in session.scalars(select(Prediction))}
    pipeline = train_pipeline(seed=7)
    frame = pd.DataFrame([by_id[pid].features for pid in rows])
    proba = pipeline.predict_proba(frame)
    classes = [str(c) for c in pipeline.classes_]
    for (pid, row), p in zip(rows.items(), proba, strict=True):
        assert row.scores == pytest.approx(dict(zip(classes, p, strict=True)))
        assert row.predicted_class == classes[int(p.argmax())]
        assert row.top_score == pytest.approx(float(p.max()))
        assert row.predicted_at == by_id[pid].ts
    # Five chunks of at most 7, each audited in its own transaction.
    entries = _audit(engine)
    assert [e.details["scored"] for e in entries] == [7, 7, 7, 7, 2]
    assert {(e.actor, e.object_type, e.object_id) for e in entries} == {
        ("cli", "model_version", "churn:v2")}


def test_a_second_run_skips_what_was_scored(engine: Engine, store: dict[str, int]) -> None:
    first = shadow_score(engine=engine, actor=CLI, model="churn", version=2, limit=12)
    assert (first.scored, first.more) == (12, True)
    before = _shadow_rows(engine, store["v2"])
    second = shadow_score(engine=engine, actor=CLI, model="churn", version=2)
    assert (second.scored, second.already_scored, second.more) == (18, 12, False)
    third = shadow_score(engine=engine, actor=CLI, model="churn", version=2)
    assert (third.scored, third.already_scored) == (0, 30)
    after = _shadow_rows(engine, store["v2"])
    assert len(after) == 30
    # The first run took the newest predictions; nothing it wrote was rewritten.
    assert {pid: r.scored_at for pid, r in before.items()} == {
        pid: after[pid].scored_at for pid in before}
    assert min(r.predicted_at for r in before.values()) > max(
        r.predicted_at for pid, r in after.items() if pid not in before)
    assert sum(e.details["scored"] for e in _audit(engine)) == 30


def test_only_other_versions_predictions_in_the_window_are_scored(
    engine: Engine, store: dict[str, int]
) -> None:
    own = _log(engine, model_id=store["model"], version_id=store["v2"], count=5)
    now = utcnow()
    result = shadow_score(engine=engine, actor=CLI, model="churn", version=2,
                          since=now - timedelta(hours=10, minutes=30),
                          until=now - timedelta(hours=2, minutes=30))
    rows = _shadow_rows(engine, store["v2"])
    assert result.scored == len(rows) == 8  # hours 3..10 before now
    assert not {pid for pid, _, _ in own} & set(rows)
    # The production version scores nothing of its own.
    assert shadow_score(engine=engine, actor=CLI, model="churn", version=1).scored == 5


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LABELER])
def test_roles_without_retrain_are_refused_before_anything_happens(
    engine: Engine, store: dict[str, int], role: Role
) -> None:
    with pytest.raises(PermissionDenied, match="may not retrain"):
        shadow_score(engine=engine, actor=Principal("ann", role), model="churn", version=2)
    with pytest.raises(PermissionDenied, match="sign in first"):
        shadow_score(engine=engine, actor=None, model="churn", version=2)
    assert not _shadow_rows(engine, store["v2"])
    assert not _audit(engine)


def test_operators_may_shadow_score(engine: Engine, store: dict[str, int]) -> None:
    result = shadow_score(engine=engine, actor=Principal("olga", Role.OPERATOR),
                          model="churn", version=2, limit=3)
    assert result.scored == 3
    assert {e.actor for e in _audit(engine)} == {"olga"}


def test_a_tampered_artifact_is_refused_with_the_reason(
    engine: Engine, store: dict[str, int], folder: Path
) -> None:
    bad = add_version(engine, folder=folder, model_id=store["model"], seed=8, promote=False,
                      sha256="0" * 64)
    with pytest.raises(ShadowError, match=r"cannot shadow-score churn v3: model artifact .* "
                                          r"has sha256 .* but the registry expects 000000"):
        shadow_score(engine=engine, actor=CLI, model="churn", version=3)
    assert not _shadow_rows(engine, bad)
    assert not _audit(engine)


def test_a_missing_artifact_or_version_is_named(
    engine: Engine, store: dict[str, int], folder: Path
) -> None:
    for path in folder.glob("*seed-7.pkl"):
        path.unlink()
    with pytest.raises(ShadowError, match=r"cannot shadow-score churn v2: .* does not exist"):
        shadow_score(engine=engine, actor=CLI, model="churn", version=2)
    with pytest.raises(RegistryError, match="has no version 9"):
        shadow_score(engine=engine, actor=CLI, model="churn", version=9)
    with pytest.raises(RegistryError, match="no model named 'nope'"):
        shadow_score(engine=engine, actor=CLI, model="nope", version=1)


def test_a_prediction_logged_without_a_feature_is_named(
    engine: Engine, store: dict[str, int]
) -> None:
    pid = uuid.uuid4().hex
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=[{
            "id": pid, "model_id": store["model"], "version_id": store["v1"], "ts": utcnow(),
            "features": {"tenure": 1.0, "plan": "pro"}, "predicted_class": "stays",
            "scores": {"stays": 0.6, "churns": 0.4}, "top_score": 0.6, "latency_ms": 3.0}])
    with pytest.raises(ShadowError, match=f"prediction {pid} was logged without spend"):
        shadow_score(engine=engine, actor=CLI, model="churn", version=2)


def test_bad_arguments_are_refused(engine: Engine, store: dict[str, int]) -> None:
    now = utcnow()
    with pytest.raises(ValueError, match="timezone-aware"):
        shadow_score(engine=engine, actor=CLI, model="churn", version=2,
                     since=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="earlier"):
        shadow_score(engine=engine, actor=CLI, model="churn", version=2, since=now, until=now)
    with pytest.raises(ValueError, match="at least 1"):
        shadow_score(engine=engine, actor=CLI, model="churn", version=2, limit=0)


def test_the_command_line_scores_and_says_so(
    engine: Engine, store: dict[str, int], settings: Settings,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from services.cli import main as cli
    monkeypatch.setenv("OPSDASH_VAR_DIR", settings.var_dir)
    monkeypatch.setenv("OPSDASH_DATABASE_URL", settings.database_url)
    assert cli.main([NAME, "--model", "churn", "--version", "2", "--limit", "10"]) == 0
    assert "churn v2: scored 10 predictions" in capsys.readouterr().out
    assert cli.main([NAME, "--model", "churn", "--version", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["scored"], result["already_scored"], result["more"]) == (20, 10, False)
    assert cli.main([NAME, "--model", "churn", "--version", "5"]) == 2
    assert capsys.readouterr().err.strip() == "error: model 'churn' has no version 5"
    assert cli.main([NAME, "--model", "churn", "--version", "2", "--since", "soon"]) == 2
    assert "is not an ISO 8601 time" in capsys.readouterr().err
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ShadowPrediction)) == 30


def test_the_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from services.cli import main as cli
    with pytest.raises(SystemExit) as done:
        cli.main([NAME, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--version VERSION" in out
    assert "--json" in out
    assert "already answered are skipped" in out
