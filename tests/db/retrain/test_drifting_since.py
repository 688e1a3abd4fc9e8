"""drifting_since: the Drift page's "drifting since" computed from the store, the default
window's start."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from db.repositories import registry
from db.repositories.predictions import insert_predictions
from db.session import session_scope
from services.drift.episode import drifting_since, local_midnight
from tests.serving_models import register_model, train_pipeline

DAY0 = datetime(2026, 11, 10, tzinfo=UTC)


def _records(rng: np.random.Generator, n: int, shifted: bool) -> list[dict[str, Any]]:
    tenure = rng.uniform(40, 100, n) if shifted else rng.uniform(0, 60, n)
    spend = rng.normal(90 if shifted else 50, 15, n)
    plans = rng.choice(["basic", "plus", "pro"], n,
                       p=[0.8, 0.1, 0.1] if shifted else [1 / 3, 1 / 3, 1 / 3])
    return [{"tenure": float(t), "spend": float(s), "plan": str(p)}
            for t, s, p in zip(tenure, spend, plans, strict=True)]


def _log_days(engine: Engine, model_id: int, version_id: int, shifted_from: int | None,
              days: int) -> None:
    rng = np.random.default_rng(3)
    rows = []
    for day in range(days):
        shifted = shifted_from is not None and day >= shifted_from
        for i, features in enumerate(_records(rng, 300, shifted)):
            rows.append({"id": uuid.uuid4().hex, "model_id": model_id,
                         "version_id": version_id,
                         "ts": DAY0 + timedelta(days=day, seconds=60 * i),
                         "features": features, "predicted_class": "stays",
                         "scores": {"churns": 0.3, "stays": 0.7}, "top_score": 0.7,
                         "latency_ms": 2.0})
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=rows)


def _with_reference(engine: Engine, tmp_path: Path, model_id: int) -> int:
    """A production version that stored a training sample (the page's reference)."""
    from services.registry.artifacts import save_artifact

    path = tmp_path / "v2.pkl"
    sha = save_artifact(train_pipeline(seed=1), path)
    with session_scope(engine, write=True) as session:
        version = registry.add_version(
            session=session, model_id=model_id, artifact_path=str(path), artifact_sha256=sha,
            created_by="test",
            reference_sample=_records(np.random.default_rng(1), 2_000, False))
        registry.set_production(session=session, model_id=model_id, version_id=version.id,
                                actor="test")
        return version.id


def test_the_episode_starts_on_the_first_day_of_the_last_drifted_run(
        engine: Engine, tmp_path: Path) -> None:
    model_id, _ = register_model(engine, folder=tmp_path)
    version_id = _with_reference(engine, tmp_path, model_id)
    _log_days(engine, model_id, version_id, shifted_from=4, days=7)
    now = DAY0 + timedelta(days=6, hours=12)
    since = drifting_since(engine=engine, model="churn", now=now, tz="UTC", drift_share=0.5)
    assert since == DAY0 + timedelta(days=4)
    # In another time zone, the local midnight of that day.
    assert drifting_since(engine=engine, model="churn", now=now, tz="Europe/Berlin",
                          drift_share=0.5) == local_midnight(
        (DAY0 + timedelta(days=4)).date(), "Europe/Berlin")


def test_no_drift_no_reference_or_no_model_gives_none(engine: Engine, tmp_path: Path) -> None:
    model_id, version_id = register_model(engine, folder=tmp_path)
    now = DAY0 + timedelta(days=4, hours=12)
    # v1 stored no training sample: the page has no reference either.
    _log_days(engine, model_id, version_id, shifted_from=None, days=5)
    assert drifting_since(engine=engine, model="churn", now=now, tz="UTC",
                          drift_share=0.5) is None
    _with_reference(engine, tmp_path, model_id)
    assert drifting_since(engine=engine, model="churn", now=now, tz="UTC",
                          drift_share=0.5) is None
    assert drifting_since(engine=engine, model="nope", now=now, tz="UTC",
                          drift_share=0.5) is None

