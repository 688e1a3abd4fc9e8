"""Curves of a binary model from the store's score bins equal scikit-learn's on the rows."""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import pytest
from sklearn import metrics
from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import registry
from db.repositories.predictions import insert_feedback, insert_predictions
from db.repositories.registry import RegistryError
from db.session import session_scope
from services.quality.curves import binary_curves, threshold_metrics
from services.quality.metrics import QualityError
from tests.factories import make_model

NOW = utcnow()


def _log(engine: Engine, *, model_id: int, version_id: int,
         rows: list[tuple[str, float, str | None]], hours: float = 1) -> None:
    """Predictions ``(predicted class, top score, label or None)`` made ``hours`` ago."""
    ts = NOW - timedelta(hours=hours)
    ids = [uuid.uuid4().hex for _ in rows]
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=[
            {"id": pid, "model_id": model_id, "version_id": version_id, "ts": ts,
             "features": {}, "predicted_class": pred, "scores": {pred: top},
             "top_score": top, "latency_ms": 1.0}
            for pid, (pred, top, _) in zip(ids, rows, strict=True)])
        insert_feedback(session=session, rows=[
            {"prediction_id": pid, "label": label, "labeler": "ann", "source": "ui",
             "created_at": ts}
            for pid, (_, _, label) in zip(ids, rows, strict=True) if label is not None])


@pytest.fixture
def churn(engine: Engine) -> tuple[int, int, list[tuple[str, float, str | None]]]:
    """churn (stays, churns) with 400 labelled predictions on the grid of 0.001."""
    model_id, version_id = make_model(engine, name="churn")
    rng = np.random.default_rng(3)
    rows: list[tuple[str, float, str | None]] = []
    for _ in range(400):
        churns = bool(rng.random() < 0.35)
        p_churn = float(np.clip(rng.normal(0.65 if churns else 0.35, 0.2), 0, 1))
        p_churn = round(p_churn, 3)
        predicted = "churns" if p_churn >= 0.5 else "stays"
        top = p_churn if predicted == "churns" else round(1 - p_churn, 3)
        rows.append((predicted, top, "churns" if churns else "stays"))
    rows.append(("stays", 0.9, None))  # unlabelled: not counted
    _log(engine, model_id=model_id, version_id=version_id, rows=rows)
    return model_id, version_id, rows


def _truth_and_score(rows: list[tuple[str, float, str | None]], positive: str
                     ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    labelled = [r for r in rows if r[2] is not None]
    y = np.array([label == positive for _, _, label in labelled])
    s = np.array([top if pred == positive else 1 - top for pred, top, _ in labelled])
    return y, s


@pytest.mark.parametrize("positive", ["churns", "stays"])
def test_curves_from_the_store_equal_scikit_learn(
    engine: Engine, churn: tuple[int, int, list[tuple[str, float, str | None]]], positive: str
) -> None:
    _, _, rows = churn
    c = binary_curves(engine=engine, model="churn", positive=positive)
    y, s = _truth_and_score(rows, positive)
    assert (c.positive, c.n_labelled, c.exact) == (positive, 400, True)
    assert c.roc_auc == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)
    assert c.average_precision == pytest.approx(metrics.average_precision_score(y, s),
                                                abs=1e-12)
    fpr, tpr, _ = metrics.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(c.fpr, fpr, atol=1e-12)
    np.testing.assert_allclose(c.tpr, tpr, atol=1e-12)
    for t in (0.3, 0.5, 0.62):
        at = threshold_metrics(c, threshold=t)
        truth = np.where(y, positive, "other")
        pred = np.where(s >= t - 1e-9, positive, "other")
        expected = metrics.confusion_matrix(truth, pred, labels=[positive, "other"])
        assert (at.true_positives, at.false_negatives) == tuple(expected[0])
        assert (at.false_positives, at.true_negatives) == tuple(expected[1])


def test_the_default_positive_class_is_the_second_label(
    engine: Engine, churn: tuple[int, int, list[tuple[str, float, str | None]]]
) -> None:
    c = binary_curves(engine=engine, model="churn")
    assert (c.labels, c.positive) == (("stays", "churns"), "churns")


def test_version_and_window_select_the_rows(
    engine: Engine, churn: tuple[int, int, list[tuple[str, float, str | None]]]
) -> None:
    model_id, _, _ = churn
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(session=session, model_id=model_id, artifact_path="x",
                                  artifact_sha256="0" * 64, created_by="test").id
    _log(engine, model_id=model_id, version_id=v2,
         rows=[("churns", 0.8, "churns"), ("stays", 0.7, "churns")], hours=30)
    assert binary_curves(engine=engine, model="churn").n_labelled == 402
    only_v2 = binary_curves(engine=engine, model="churn", version=2)
    assert only_v2.thresholds.tolist() == [0.8, pytest.approx(0.3)]
    assert not only_v2.both_classes
    recent = binary_curves(engine=engine, model="churn", since=NOW - timedelta(hours=2))
    assert recent.n_labelled == 400
    old = binary_curves(engine=engine, model="churn", until=NOW - timedelta(hours=2))
    assert old.n_labelled == 2


def test_only_binary_models_and_their_classes(engine: Engine) -> None:
    make_model(engine, name="tickets", classes=("billing", "bug", "other"))
    make_model(engine, name="churn")
    with pytest.raises(QualityError, match="need a binary model"):
        binary_curves(engine=engine, model="tickets")
    with pytest.raises(QualityError, match="not one of the model's classes"):
        binary_curves(engine=engine, model="churn", positive="maybe")
    with pytest.raises(RegistryError, match="has no version 3"):
        binary_curves(engine=engine, model="churn", version=3)
    empty = binary_curves(engine=engine, model="churn")
    assert (empty.n_labelled, empty.roc_auc) == (0, None)
