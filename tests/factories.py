"""Builders of store content for tests: small, explicit, no randomness unless asked."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from db.models import AuditLog, Feedback, FeedbackHistory
from db.repositories import registry
from db.repositories.predictions import insert_feedback, insert_predictions
from db.session import session_scope

SCHEMA = [
    {"name": "tenure_months", "type": "number"},
    {"name": "plan", "type": "category", "categories": ["basic", "pro"]},
]


def make_model(
    engine: Engine,
    *,
    name: str = "churn",
    classes: Sequence[str] = ("stays", "churns"),
    production: bool = True,
    at: datetime | None = None,
) -> tuple[int, int]:
    """Register a model with version 1, optionally in production.

    Returns:
        ``(model_id, version_id)``.
    """
    with session_scope(engine, write=True) as session:
        model = registry.create_model(
            session=session,
            name=name,
            task="binary" if len(classes) == 2 else "multiclass",
            class_labels=list(classes),
            feature_schema=SCHEMA,
        )
        version = registry.add_version(
            session=session,
            model_id=model.id,
            artifact_path=f"/nonexistent/{name}-v1.pkl",
            artifact_sha256="0" * 64,
            created_by="test",
            holdout_metrics={"accuracy": 0.9},
        )
        if production:
            registry.set_production(
                session=session, model_id=model.id, version_id=version.id, actor="test", at=at
            )
        return model.id, version.id


def log_predictions(
    engine: Engine,
    *,
    model_id: int,
    version_id: int,
    rows: Sequence[tuple[datetime, str, str | None]],
) -> list[str]:
    """Log predictions given as ``(ts, predicted_class, true_label or None)``; returns ids."""
    ids = [uuid.uuid4().hex for _ in rows]
    predictions = [
        {
            "id": pid,
            "model_id": model_id,
            "version_id": version_id,
            "ts": ts,
            "features": {"tenure_months": 3.0, "plan": "basic"},
            "predicted_class": predicted,
            "scores": {predicted: 0.8},
            "top_score": 0.8,
            "latency_ms": 5.0,
        }
        for pid, (ts, predicted, _) in zip(ids, rows, strict=True)
    ]
    labels = [
        {
            "prediction_id": pid,
            "label": label,
            "labeler": "tester",
            "source": "ui",
            "created_at": ts,
        }
        for pid, (ts, _, label) in zip(ids, rows, strict=True)
        if label is not None
    ]
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=predictions)
        insert_feedback(session=session, rows=labels)
    return ids


def label_state(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """Every current label, the label history and the number of audit entries: what a
    refused save must leave as it was."""
    with session_scope(engine) as session:
        feedback = [tuple(row) for row in session.execute(
            select(Feedback.prediction_id, Feedback.label, Feedback.labeler, Feedback.revision)
            .order_by(Feedback.prediction_id))]
        history = [tuple(row) for row in session.execute(
            select(FeedbackHistory.prediction_id, FeedbackHistory.old_label,
                   FeedbackHistory.new_label, FeedbackHistory.old_labeler,
                   FeedbackHistory.new_labeler, FeedbackHistory.revision,
                   FeedbackHistory.resolution).order_by(FeedbackHistory.id))]
        audits = session.scalar(select(func.count()).select_from(AuditLog)) or 0
    return feedback, history, audits


def file_mode(path: Path) -> int:
    """A file's permission bits (``0o600``)."""
    return stat.S_IMODE(path.stat().st_mode)
