"""Helpers shared by the inference service tests: a tiny trained pipeline in the registry.

This module holds no tests; the ``test_`` prefix only keeps it beside the tests it serves.
"""

from __future__ import annotations

import functools
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sqlalchemy import Engine

from db.repositories import registry
from db.session import session_scope
from services.registry.artifacts import save_artifact

SCHEMA: list[dict[str, Any]] = [
    {"name": "tenure", "type": "number"},
    {"name": "spend", "type": "number"},
    {"name": "plan", "type": "category", "categories": ["basic", "plus", "pro"]},
]
CLASSES = ("churns", "stays")
GOOD = {"tenure": 12.0, "spend": 40.5, "plan": "pro"}


@functools.cache
def train_pipeline(*, seed: int = 0, rows: int = 300) -> Pipeline:
    """A fitted scaler + one-hot + logistic regression pipeline on random data (cached)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure": rng.uniform(0, 60, rows),
            "spend": rng.normal(50, 15, rows),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
        }
    )
    signal = frame["tenure"] / 6 + (frame["plan"] == "pro") * 3 + rng.normal(0, 2, rows)
    labels = np.where(signal > 5, "stays", "churns")
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["tenure", "spend"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    )
    pipeline.fit(frame, labels)
    return pipeline


def register_model(engine: Engine, *, folder: Path, name: str = "churn") -> tuple[int, int]:
    """Register ``name`` with a trained version 1 in production; returns (model_id, version_id)."""
    with session_scope(engine, write=True) as session:
        model = registry.create_model(
            session=session,
            name=name,
            task="binary",
            class_labels=list(CLASSES),
            feature_schema=SCHEMA,
        )
        model_id = model.id
    version_id = add_version(engine, folder=folder, model_id=model_id, seed=1)
    return model_id, version_id


def add_version(
    engine: Engine,
    *,
    folder: Path,
    model_id: int,
    seed: int,
    promote: bool = True,
    sha256: str | None = None,
) -> int:
    """Save a freshly trained artifact and register it (promoted unless told otherwise).

    Args:
        engine: the store.
        folder: where the artifact file goes.
        model_id: the model to add a version to.
        seed: training seed (a different seed gives a different model).
        promote: move the production pointer to the new version.
        sha256: the hash to register instead of the file's real one (a tampered artifact).
    """
    path = folder / f"model-{model_id}-seed-{seed}.pkl"
    real = save_artifact(train_pipeline(seed=seed), path)
    with session_scope(engine, write=True) as session:
        version = registry.add_version(
            session=session,
            model_id=model_id,
            artifact_path=str(path),
            artifact_sha256=sha256 or real,
            created_by="test",
        )
        if promote:
            registry.set_production(
                session=session, model_id=model_id, version_id=version.id, actor="test"
            )
        return version.id


def logged_row(model_id: int, version_id: int) -> dict[str, Any]:
    """One answered prediction of :data:`GOOD`, as the prediction log stores it."""
    from db.base import utcnow

    return {
        "id": uuid.uuid4().hex,
        "model_id": model_id,
        "version_id": version_id,
        "ts": utcnow(),
        "features": GOOD,
        "predicted_class": "stays",
        "scores": {"churns": 0.25, "stays": 0.75},
        "top_score": 0.75,
        "latency_ms": 1.5,
    }
