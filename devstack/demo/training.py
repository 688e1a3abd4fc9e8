"""The scikit-learn pipeline every demo model uses, and training it on generated data.

Artifact contract (the inference service relies on it): a fitted
:class:`~sklearn.pipeline.Pipeline` whose ``classes_`` are the model's class labels as
strings, that takes a :class:`pandas.DataFrame` with the schema's columns (numbers as
floats, categories as strings), and whose ``predict_proba`` columns follow ``classes_``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from devstack.demo.generator import Scenario, to_records

__all__ = ["TrainedModel", "build_pipeline", "train_scenario"]

#: Rows drawn for training and for the holdout estimate.
TRAIN_ROWS = 20_000
HOLDOUT_ROWS = 5_000
#: Training records kept on the version as the drift reference. More than 1,000 puts the
#: drift page on the distance tests (Wasserstein, Jensen–Shannon), which measure how far a
#: distribution moved; with 1,000 rows the p-value tests take the sample's own noise
#: (a share 2 points off in a 1,000-row sample) for drift once a day holds ~7,000 rows.
REFERENCE_ROWS = 5_000


@dataclass(frozen=True)
class TrainedModel:
    """A fitted pipeline with what the registry stores next to it.

    Attributes:
        pipeline: the fitted pipeline (the artifact).
        holdout_metrics: ``{"accuracy": .., "f1_macro": ..}`` on fresh reference data.
        reference_sample: training input records, the default drift reference.
    """

    pipeline: Pipeline
    holdout_metrics: dict[str, float]
    reference_sample: list[dict[str, Any]]


def build_pipeline(schema: Sequence[dict[str, Any]]) -> Pipeline:
    """An unfitted pipeline: one-hot categories, scaled numbers, logistic regression."""
    numbers = [s["name"] for s in schema if s["type"] == "number"]
    categories = [s["name"] for s in schema if s["type"] == "category"]
    columns = ColumnTransformer(
        [
            # Unseen categories are drift, not errors: they encode as all zeros.
            ("categories", OneHotEncoder(handle_unknown="ignore"), categories),
            ("numbers", StandardScaler(), numbers),
        ]
    )
    return Pipeline(
        [("columns", columns), ("classifier", LogisticRegression(max_iter=1000, C=1.0))]
    )


def train_scenario(
    scenario: Scenario,
    *,
    rng: np.random.Generator,
    drift: ArrayLike = 0.0,
    rows: int = TRAIN_ROWS,
) -> TrainedModel:
    """Train a scenario's model on generated data (reference data by default).

    Args:
        scenario: what to train.
        rng: source of the training and holdout rows.
        drift: drift intensity of the training rows, one number or one per row; the
            holdout rows are drawn at the same intensities (the first of them, repeated
            when there are fewer than the holdout's rows).
        rows: training rows.

    Raises:
        RuntimeError: the fitted classes are not the scenario's labels (a generator bug).
    """
    train = scenario.draw(rng, rows, drift)
    intensity = np.asarray(drift, dtype=np.float64)
    if intensity.ndim:
        intensity = np.resize(intensity, HOLDOUT_ROWS)
    holdout = scenario.draw(rng, HOLDOUT_ROWS, intensity)
    pipeline = build_pipeline(scenario.feature_schema)
    # These matrices are small: BLAS threads only fight each other (and other processes).
    with threadpool_limits(limits=1):
        pipeline.fit(train.features, train.labels.astype(str))
    fitted = [str(c) for c in pipeline.classes_]
    if fitted != list(scenario.class_labels):
        raise RuntimeError(f"{scenario.name}: trained classes {fitted} are not the labels")
    predicted = pipeline.predict(holdout.features)
    truth = holdout.labels.astype(str)
    metrics = {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "f1_macro": round(float(f1_score(truth, predicted, average="macro")), 4),
    }
    keep = rng.choice(rows, size=min(REFERENCE_ROWS, rows), replace=False)
    reference = to_records(train.features.iloc[np.sort(keep)])
    return TrainedModel(pipeline=pipeline, holdout_metrics=metrics, reference_sample=reference)
