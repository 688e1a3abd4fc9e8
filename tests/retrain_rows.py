"""Training rows for the retraining tests, drawn with the demo's churn generator.

This module holds no tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import ArrayLike

from devstack.demo.churn import CHURN
from devstack.demo.generator import to_records
from devstack.demo.training import build_pipeline
from services.registry.scoring import frame_of
from services.retrain.data import TrainingRows

START = datetime(2026, 11, 1, tzinfo=UTC)
SCHEMA = CHURN.schema()
CLASSES = list(CHURN.class_labels)


def churn_rows(n: int, *, seed: int = 0, drift: ArrayLike = 0.0,
               start: datetime = START) -> TrainingRows:
    """``n`` labelled churn rows one minute apart from ``start``, revision 1 each."""
    drawn = CHURN.draw(np.random.default_rng(seed), n, drift)
    ts = tuple(start + timedelta(minutes=i) for i in range(n))
    return TrainingRows(
        model="churn", start=start, end=start + timedelta(minutes=n),
        ids=tuple(f"p{seed}-{i:06d}" for i in range(n)), ts=ts, revisions=(1,) * n,
        labels=np.asarray(drawn.labels, dtype=str),
        features=frame_of(SCHEMA, to_records(drawn.features)))


def base_pipeline(seed: int = 0) -> object:
    """The demo's production pipeline, fitted on reference data (the ``same`` preset's
    starting point)."""
    rows = churn_rows(2_000, seed=seed + 1000)
    pipeline = build_pipeline(SCHEMA)
    pipeline.fit(rows.features, rows.labels)
    return pipeline
