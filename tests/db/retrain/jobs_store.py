"""A store for the retrain job tests: models with an intact artifact in production and
labelled predictions of both classes in a window. This module holds no tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from db.repositories import registry
from db.session import session_scope
from services.access import Principal, Role
from tests.factories import log_predictions
from tests.serving_models import register_model

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
#: The window the tests retrain on: ``[T0, T1)``.
T1 = T0 + timedelta(days=2)
ANN = Principal(username="ann", role=Role.OPERATOR)
BOB = Principal(username="bob", role=Role.ADMIN)
#: Labelled rows per class per model in the window.
PER_CLASS = 8


def seed_models(engine: Engine, folder: Path, names: tuple[str, ...] = ("churn",), *,
                start: datetime = T0) -> None:
    """Register each model with an intact artifact in production and ``PER_CLASS``
    labelled predictions of each class in ``[start, start + 2 hours)``."""
    for name in names:
        (folder / name).mkdir(mode=0o700, parents=True, exist_ok=True)
        model_id, version_id = register_model(engine, folder=folder / name, name=name)
        rows = [(start + timedelta(minutes=5 * i), "stays", ("churns", "stays")[i % 2])
                for i in range(2 * PER_CLASS)]
        log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)


def candidate(engine: Engine, model: str) -> int:
    """Register a candidate version of ``model`` (as a retrain would); its row id."""
    with session_scope(engine, write=True) as session:
        model_id = registry.get_model(session=session, name=model).id
        return registry.add_version(session=session, model_id=model_id,
                                    artifact_path="/nonexistent/retrained.pkl",
                                    artifact_sha256="1" * 64, created_by="worker").id
