"""The quality-store benchmark's generated history: one 3-class model whose version 2
replaced version 1 :data:`PROMOTED_DAYS_AGO` days before the end of :data:`DAYS` days of
predictions, made with numpy (nothing downloaded)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine

from benchmarks.floor import sqlite_time
from db.repositories import registry
from db.session import session_scope
from services.predictions.ids import prediction_ids_at

__all__ = ["CLASSES", "DAYS", "MODEL", "PROMOTED_DAYS_AGO", "feedback_tuples", "history",
           "prediction_rows", "register"]

MODEL = "triage"
CLASSES = ("low", "mid", "high")
DAYS = 60
PROMOTED_DAYS_AGO = 25


def register(engine: Engine, start: datetime, promoted: datetime) -> tuple[int, int, int]:
    with session_scope(engine, write=True) as session:
        model = registry.create_model(
            session=session, name=MODEL, task="multiclass", class_labels=list(CLASSES),
            feature_schema=[{"name": "length", "type": "number"},
                            {"name": "channel", "type": "category",
                             "categories": ["mail", "phone", "web"]}])
        ids = []
        for at in (start, promoted):
            version = registry.add_version(session=session, model_id=model.id,
                                           artifact_path="/nonexistent/benchmark.pkl",
                                           artifact_sha256="0" * 64, created_by="benchmark")
            registry.set_production(session=session, model_id=model.id,
                                    version_id=version.id, actor="benchmark", at=at)
            ids.append(version.id)
        return model.id, ids[0], ids[1]


def history(rng: np.random.Generator, predictions: int, start: datetime,
             promoted: datetime) -> dict[str, Any]:
    """The generated facts of every prediction, column by column."""
    offsets = np.sort(rng.uniform(0.0, DAYS * 86400.0, predictions))
    is_v2 = offsets >= (promoted - start).total_seconds()
    probs = rng.dirichlet((2.0, 1.5, 1.0), predictions)
    predicted = probs.argmax(axis=1)
    h = {"offsets": offsets, "is_v2": is_v2, "probs": probs, "predicted": predicted,
         "top": probs.max(axis=1), "length": rng.lognormal(5.0, 1.0, predictions),
         "channel": rng.integers(0, 3, predictions),
         "latency": rng.lognormal(np.log(12.0), 0.35, predictions)}
    h["ids"] = prediction_ids_at(
        int(start.timestamp() * 1000) + (offsets * 1000).astype(np.int64), rng)
    # Truth: the predicted class 82 % of the time for v1, 86 % for v2, else another class.
    right = rng.random(predictions) < np.where(is_v2, 0.86, 0.82)
    h["truth"] = np.where(right, predicted, (predicted + rng.integers(1, 3, predictions)) % 3)
    return h


def prediction_rows(h: dict[str, Any], lo: int, hi: int, start: datetime,
          ids: tuple[int, int, int]) -> list[dict[str, Any]]:
    """Rows ``lo`` to ``hi`` of the history as ``insert_predictions`` takes them."""
    model_id, v1, v2 = ids
    return [
        {"id": h["ids"][i], "model_id": model_id, "version_id": v2 if h["is_v2"][i] else v1,
         "ts": start + timedelta(seconds=float(h["offsets"][i])),
         "features": {"length": float(h["length"][i]),
                      "channel": ("mail", "phone", "web")[int(h["channel"][i])]},
         "predicted_class": CLASSES[int(h["predicted"][i])],
         "scores": dict(zip(CLASSES, h["probs"][i].tolist(), strict=True)),
         "top_score": float(h["top"][i]), "latency_ms": float(h["latency"][i])}
        for i in range(lo, hi)
    ]


def feedback_tuples(h: dict[str, Any], chosen: list[int],
                    labelled_at: datetime) -> list[tuple[Any, ...]]:
    """The ``feedback`` rows of labelling ``chosen`` as the floor writes them."""
    at = sqlite_time(labelled_at)
    start = h["start"]
    return [(h["ids"][i], h["model_id"], h["version_ids"][bool(h["is_v2"][i])],
             CLASSES[int(h["predicted"][i])],
             sqlite_time(start + timedelta(seconds=float(h["offsets"][i]))),
             float(h["top"][i]), CLASSES[int(h["truth"][i])], "bench", "csv", at, at)
            for i in chosen]

