"""A small store to retrain in: ``tests.serving_models``' churn model (a real pipeline in
production as version 1) and logged, labelled traffic whose labels follow a rule version 1
never learned, so a retrained candidate is measurably better.

This module holds no tests.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from db.base import utcnow
from db.repositories.predictions import insert_feedback, insert_predictions
from db.session import session_scope
from services.access import Principal
from services.access.roles import Role
from tests.serving_models import register_model

OPERATOR = Principal(username="olive", role=Role.OPERATOR)


def drifted_label(spend: float) -> str:
    """The world after the drift: who spends little churns (version 1 looks at tenure)."""
    return "churns" if spend < 50.0 else "stays"


def log_traffic(engine: Engine, *, model_id: int, version_id: int, n: int, start: datetime,
                seed: int = 0, labelled: bool = True) -> list[str]:
    """``n`` predictions of version 1, one a minute from ``start``, labelled by
    :func:`drifted_label` (every one, or none); returns their ids, oldest first."""
    rng = np.random.default_rng(seed)
    tenure, spend = rng.uniform(0, 60, n), rng.normal(50, 15, n)
    plans = rng.choice(["basic", "plus", "pro"], n)
    ids = [uuid.uuid4().hex for _ in range(n)]
    times = [start + timedelta(minutes=i) for i in range(n)]
    predictions = [
        {"id": pid, "model_id": model_id, "version_id": version_id, "ts": ts,
         "features": {"tenure": float(t), "spend": float(s), "plan": str(p)},
         "predicted_class": "stays" if t > 30 else "churns",
         "scores": {"churns": 0.4, "stays": 0.6}, "top_score": 0.6, "latency_ms": 2.0}
        for pid, ts, t, s, p in zip(ids, times, tenure, spend, plans, strict=True)]
    labels = [{"prediction_id": pid, "label": drifted_label(float(s)), "labeler": "tester",
               "source": "ui", "created_at": ts}
              for pid, ts, s in zip(ids, times, spend, strict=True)] if labelled else []
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=predictions)
        insert_feedback(session=session, rows=labels)
    return ids


def retrain_store(engine: Engine, *, folder: Path, n: int = 300,
                  unlabelled: int = 20) -> tuple[datetime, datetime, list[str]]:
    """Churn with version 1 in production, ``n`` labelled predictions over the last hours
    and ``unlabelled`` newer ones; returns the window holding the labelled ones and
    their ids."""
    model_id, version_id = register_model(engine, folder=folder)
    start = (utcnow() - timedelta(days=1)).replace(microsecond=0)
    ids = log_traffic(engine, model_id=model_id, version_id=version_id, n=n, start=start)
    log_traffic(engine, model_id=model_id, version_id=version_id, n=unlabelled,
                start=start + timedelta(minutes=n), seed=1, labelled=False)
    return start, start + timedelta(minutes=n), ids
