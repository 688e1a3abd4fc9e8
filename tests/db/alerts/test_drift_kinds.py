"""Drift rules on a prepared store: a calm day and a drifted day against the production
version's training sample, the Drift page's tests; finished days cached until rows are
added to them; the backtest seeing what the live evaluation sees; unknown without what
the analysis needs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from db.models import ModelVersion
from db.repositories.predictions import insert_predictions
from db.session import session_scope
from services.alerts.backtest import backtest
from services.alerts.describe import summary
from services.alerts.observe import observe
from services.alerts.rules import DriftShareRule, PredictionDriftRule
from services.alerts.sources import Sources
from services.alerts.state import Status, is_breach
from services.settings import Settings
from tests.serving_models import register_model, train_pipeline

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
YESTERDAY = TODAY - timedelta(days=1)


def _records(rng: np.random.Generator, n: int, *, drifted: bool) -> list[dict[str, Any]]:
    tenure = rng.uniform(40, 100, n) if drifted else rng.uniform(0, 60, n)
    spend = rng.normal(80 if drifted else 50, 15, n)
    plans = rng.choice(["basic"] if drifted else ["basic", "plus", "pro"], n)
    return [{"tenure": float(t), "spend": float(s), "plan": str(p)}
            for t, s, p in zip(tenure, spend, plans, strict=True)]


def _log(engine: Engine, ids: tuple[int, int], day: datetime, hours: range, *, drifted: bool,
         seed: int) -> None:
    """40 predictions an hour over ``hours`` of ``day``, scored by the served model."""
    model_id, version_id = ids
    rng = np.random.default_rng(seed)
    pipeline = train_pipeline(seed=1)
    rows = []
    for hour in hours:
        records = _records(rng, 40, drifted=drifted)
        proba = pipeline.predict_proba(pd.DataFrame(records))
        for i, features in enumerate(records):
            best = int(proba[i].argmax())
            rows.append({"id": uuid.uuid4().hex, "model_id": model_id,
                         "version_id": version_id,
                         "ts": day + timedelta(hours=hour, minutes=i),
                         "features": features,
                         "predicted_class": str(pipeline.classes_[best]),
                         "scores": {str(c): float(p) for c, p in zip(pipeline.classes_,
                                                                     proba[i], strict=True)},
                         "top_score": float(proba[i][best]), "latency_ms": 2.0})
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=rows)


def _model(engine: Engine, folder: Path, *, sample: bool = True) -> tuple[int, int]:
    ids = register_model(engine, folder=folder, name="churn")
    if sample:
        with session_scope(engine, write=True) as session:
            version = session.get(ModelVersion, ids[1])
            assert version is not None
            version.reference_sample = _records(np.random.default_rng(7), 600, drifted=False)
    return ids


RULE = DriftShareRule(name="drift", model="churn", level=0.5, resolve_level=0.3)


def test_a_drifted_day_breaches_and_a_calm_one_does_not(engine: Engine, settings: Settings,
                                                       tmp_path: Path) -> None:
    ids = _model(engine, tmp_path / "artifacts")
    _log(engine, ids, YESTERDAY, range(24), drifted=False, seed=1)
    _log(engine, ids, TODAY, range(6), drifted=True, seed=2)
    sources = Sources.from_settings(settings)
    calm = observe(engine=engine, rule=RULE, at=TODAY - timedelta(minutes=1),
                   sources=sources)  # yesterday so far: all of it
    assert calm.unavailable is None
    assert calm.sample_size == 24 * 40
    assert calm.value is not None
    assert calm.value < RULE.resolve_level
    early = observe(engine=engine, rule=RULE, at=TODAY + timedelta(hours=2), sources=sources)
    assert (early.value, early.sample_size) == (None, 2 * 40)  # fewer than min_rows
    assert summary(RULE, early) == "churn drift share: too few predictions in the window to test"
    now = TODAY + timedelta(hours=6)
    drifted = observe(engine=engine, rule=RULE, at=now, sources=sources)
    assert drifted.sample_size == 6 * 40  # today so far
    assert drifted.value is not None
    assert drifted.value >= RULE.level
    assert is_breach(RULE, drifted)
    answers = observe(engine=engine, rule=PredictionDriftRule(name="p", model="churn"),
                      at=now, sources=sources)
    assert answers.value is not None  # the model's answers are compared too
    assert answers.value >= 1.0


def test_a_finished_day_is_cached_until_rows_are_added_to_it(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    ids = _model(engine, tmp_path / "artifacts")
    _log(engine, ids, YESTERDAY, range(12), drifted=False, seed=1)
    sources = Sources.from_settings(settings)
    two_days = DriftShareRule(name="d2", model="churn", level=0.5, resolve_level=0.3,
                              window_days=2)
    at = TODAY + timedelta(hours=1)
    first = observe(engine=engine, rule=two_days, at=at, sources=sources)
    misses = sources.drift.misses
    again = observe(engine=engine, rule=two_days, at=at, sources=sources)
    assert again == first
    assert sources.drift.misses == misses  # yesterday's rows and the reference: cached
    _log(engine, ids, YESTERDAY, range(12, 24), drifted=True, seed=3)  # logged late
    later = observe(engine=engine, rule=two_days, at=at, sources=sources)
    assert later.sample_size == 24 * 40
    assert later.value is not None
    assert first.value is not None
    assert later.value > first.value


def test_the_drift_backtest_sees_what_the_live_evaluation_sees(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    ids = _model(engine, tmp_path / "artifacts")
    start = TODAY - timedelta(days=2)
    _log(engine, ids, start, range(24), drifted=False, seed=1)
    _log(engine, ids, YESTERDAY, range(24), drifted=True, seed=2)
    sources = Sources.from_settings(settings)
    replay = backtest(engine=engine, rule=RULE, start=start, end=TODAY, sources=sources)
    assert replay.step_seconds == 6 * 3600
    assert replay.fired == 1
    assert replay.episodes[0].fired_at == YESTERDAY + timedelta(hours=6)
    assert all(s is Status.INACTIVE for at, _, s in replay.steps if at < YESTERDAY)
    fresh = Sources.from_settings(settings)
    for at, seen, _ in replay.steps:
        live = observe(engine=engine, rule=RULE, at=at, sources=fresh)
        assert (live.value, live.sample_size, live.unavailable) == (
            seen.value, seen.sample_size, seen.unavailable), at


def test_without_what_the_analysis_needs_a_drift_rule_is_unknown(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    ids = _model(engine, tmp_path / "artifacts", sample=False)
    _log(engine, ids, TODAY, range(2), drifted=False, seed=1)
    at = TODAY + timedelta(hours=2)
    no_sample = observe(engine=engine, rule=RULE, at=at, sources=Sources.from_settings(settings))
    assert no_sample.unavailable is not None
    assert "training sample" in no_sample.unavailable
    no_sources = observe(engine=engine, rule=RULE, at=at)
    assert no_sources.unavailable is not None
    bad = settings.model_copy(update={"drift_config_file": str(tmp_path / "missing.toml")})
    broken = observe(engine=engine, rule=RULE, at=at, sources=Sources.from_settings(bad))
    assert broken.unavailable is not None
    assert "drift configuration" in broken.unavailable
