"""The Model quality page under AppTest: figures equal scikit-learn's on the same rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from db.base import utcnow
from db.repositories import registry
from db.repositories.predictions import insert_feedback, insert_predictions
from db.repositories.shadow import insert_shadow
from db.session import session_scope
from services.access import Role
from tests.factories import log_predictions, make_model

# (predicted, true) pairs, all within the last day.
PAIRS = [("stays", "stays")] * 30 + [("churns", "stays")] * 10 + [("churns", "churns")] * 15 + [
    ("stays", "churns")] * 5


@pytest.fixture
def labelled(engine: Engine) -> Engine:
    model_id, version_id = make_model(engine, name="churn")
    now = utcnow()
    rows = [(now - timedelta(hours=1 + i % 20), p, t) for i, (p, t) in enumerate(PAIRS)]
    log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)  # type: ignore[arg-type]
    return engine


def _quality(at: AppTest) -> AppTest:
    return at.switch_page("pages/quality.py").run()


def _charts(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _chart(at: AppTest, title_start: str) -> dict[str, Any]:
    """The one chart whose title starts with ``title_start``."""
    (spec,) = [s for s in _charts(at) if s["layout"]["title"]["text"].startswith(title_start)]
    return spec


def _heatmap(at: AppTest) -> dict[str, Any]:
    return _chart(at, "churn: confusion matrix")


def test_the_figures_equal_scikit_learn(app: Callable[..., AppTest], labelled: Engine) -> None:
    at = _quality(app(as_role=Role.LABELER))
    assert not at.exception
    true = [t for _, t in PAIRS]
    pred = [p for p, _ in PAIRS]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == f"{100 * accuracy_score(true, pred):.1f} %"
    assert metrics["Labelled predictions"] == str(len(PAIRS))
    macro = f1_score(true, pred, average="macro", labels=["stays", "churns"])
    assert metrics["Macro F1"] == f"{100 * macro:.1f} %"
    heatmap = _heatmap(at)["data"][0]
    # Rows are true classes and columns predicted ones, in the model's class order.
    assert heatmap["y"] == ["stays", "churns"]
    assert heatmap["z"] == [[30.0, 10.0], [5.0, 15.0]]


def test_normalised_rows_are_shares_of_each_true_class(
    app: Callable[..., AppTest], labelled: Engine
) -> None:
    at = _quality(app(as_role=Role.ANALYST))
    at.toggle(key="quality-normalise").set_value(True).run()
    assert _heatmap(at)["data"][0]["z"] == [[75.0, 25.0], [25.0, 75.0]]


def test_without_labels_the_page_says_why(app: Callable[..., AppTest], engine: Engine) -> None:
    make_model(engine, name="churn")
    at = _quality(app(as_role=Role.OPERATOR))
    assert not at.exception
    assert "No labelled predictions of churn" in at.info[0].value
    assert not at.get("plotly_chart")


def test_the_trend_marks_sparse_buckets_instead_of_drawing_them(
    app: Callable[..., AppTest], labelled: Engine
) -> None:
    # 60 labels over the last 20 hours: with the minimum at 5, hours with fewer than 5
    # labels are "not enough labels" markers, never accuracy points.
    at = app(as_role=Role.ANALYST, quality_min_labels="5")
    at = _quality(at)
    at.selectbox(key="quality-range").select("Last 7 days").run()
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    trend = next(c for c in charts if "accuracy per" in c["layout"]["title"]["text"])
    by_name = {trace.get("name"): trace for trace in trend["data"]}
    points = [y for y in by_name["accuracy"]["y"] if y is not None]
    assert sum(1 for _ in points) >= 1
    assert all(0 <= y <= 100 for y in points)
    assert "not enough labels (< 5)" in by_name
    assert trend["layout"]["xaxis"]["title"]["text"] == "day (UTC)"


# (predicted class, top score, true label) of a binary model; "churns" is the positive class.
SCORED = [("churns", 0.9, "churns")] * 8 + [("churns", 0.9, "stays")] * 2 + [
    ("churns", 0.6, "churns")] * 5 + [("churns", 0.6, "stays")] * 5 + [
    ("stays", 0.7, "churns")] * 3 + [("stays", 0.7, "stays")] * 12 + [
    ("stays", 0.95, "stays")] * 10


def _log_scored(engine: Engine, *, model_id: int, version_id: int,
                rows: list[tuple[str, float, str]], shadow: dict[int, str] | None = None
                ) -> list[str]:
    """Log labelled predictions with scores; ``shadow``: version row id -> its answer."""
    now = utcnow()
    ids = [uuid.uuid4().hex for _ in rows]
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=[
            {"id": pid, "model_id": model_id, "version_id": version_id,
             "ts": now - timedelta(hours=2), "features": {}, "predicted_class": pred,
             "scores": {pred: top}, "top_score": top, "latency_ms": 1.0}
            for pid, (pred, top, _) in zip(ids, rows, strict=True)])
        insert_feedback(session=session, rows=[
            {"prediction_id": pid, "label": label, "labeler": "ann", "source": "ui",
             "created_at": now}
            for pid, (_, _, label) in zip(ids, rows, strict=True)])
        for version, answer in (shadow or {}).items():
            insert_shadow(session=session, rows=[
                {"prediction_id": pid, "version_id": version,
                 "predicted_at": now - timedelta(hours=2), "predicted_class": answer,
                 "top_score": 0.9, "scores": {answer: 0.9}, "scored_at": now}
                for pid in ids])
    return ids


def _expected(threshold: float) -> list[list[int]]:
    """scikit-learn's matrix of "churns when its probability is >= threshold"."""
    truth = [label for _, _, label in SCORED]
    score = [top if pred == "churns" else 1 - top for pred, top, _ in SCORED]
    pred = ["churns" if s >= threshold - 1e-9 else "stays" for s in score]
    return confusion_matrix(truth, pred, labels=["stays", "churns"]).tolist()  # type: ignore[no-any-return]


@pytest.fixture
def scored(engine: Engine) -> Engine:
    model_id, version_id = make_model(engine, name="churn")
    _log_scored(engine, model_id=model_id, version_id=version_id, rows=SCORED)
    return engine


def test_a_binary_model_shows_its_curves_and_the_threshold_moves_the_matrix(
    app: Callable[..., AppTest], scored: Engine
) -> None:
    at = _quality(app(as_role=Role.ANALYST))
    assert not at.exception
    truth = [label == "churns" for _, _, label in SCORED]
    score = [top if pred == "churns" else 1 - top for pred, top, _ in SCORED]
    auc = roc_auc_score(truth, score)
    roc = _chart(at, "churn: ROC curve, positive class 'churns'")
    assert f"(AUC {auc:.3f})" in roc["layout"]["title"]["text"]
    assert {t["name"] for t in roc["data"]} == {
        "chance (AUC 0.5)", f"ROC, AUC {auc:.3f}", "threshold 0.50"}
    pr = _chart(at, "churn: precision and recall of 'churns'")
    ap = average_precision_score(truth, score)
    assert f"average precision {ap:.3f}" in pr["layout"]["title"]["text"]
    matrix = _chart(at, "churn at threshold 0.50: confusion matrix")
    assert matrix["data"][0]["z"] == _expected(0.5)

    at.slider(key="quality-threshold-churn").set_value(0.85).run()
    assert not at.exception
    matrix = _chart(at, "churn at threshold 0.85: confusion matrix")
    assert matrix["data"][0]["z"] == _expected(0.85) != _expected(0.5)
    pred = [s >= 0.85 for s in score]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Recall of churns"] == f"{100 * recall_score(truth, pred):.1f} %"
    assert metrics["Precision of churns"] == f"{100 * precision_score(truth, pred):.1f} %"
    marker = next(t for t in _chart(at, "churn: ROC curve")["data"]
                  if t["name"] == "threshold 0.85")
    assert marker["y"] == [pytest.approx(100 * recall_score(truth, pred))]
    # The overall confusion matrix does not move with the threshold.
    assert _heatmap(at)["data"][0]["z"] == [[22.0, 7.0], [3.0, 13.0]]


def test_the_positive_class_can_be_switched(app: Callable[..., AppTest], scored: Engine
                                            ) -> None:
    at = _quality(app(as_role=Role.ANALYST))
    at.selectbox(key="quality-positive-churn").select("stays").run()
    assert not at.exception
    truth = [label == "stays" for _, _, label in SCORED]
    score = [top if pred == "stays" else 1 - top for pred, top, _ in SCORED]
    roc = _chart(at, "churn: ROC curve, positive class 'stays'")
    assert f"(AUC {roc_auc_score(truth, score):.3f})" in roc["layout"]["title"]["text"]


def test_one_class_among_the_labels_says_a_curve_needs_both(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    model_id, version_id = make_model(engine, name="churn")
    _log_scored(engine, model_id=model_id, version_id=version_id,
                rows=[("stays", 0.8, "stays")] * 5)
    at = _quality(app(as_role=Role.ANALYST))
    roc = _chart(at, "churn: ROC curve")
    assert roc["layout"]["annotations"][0]["text"] == (
        "only one class among the labels (stays): a ROC curve needs both")


def test_a_multiclass_model_has_no_curves_but_says_why(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    model_id, version_id = make_model(engine, name="tickets",
                                      classes=("billing", "bug", "other"))
    _log_scored(engine, model_id=model_id, version_id=version_id,
                rows=[("bug", 0.7, "bug"), ("other", 0.5, "bug")] * 5)
    at = _quality(app(as_role=Role.ANALYST))
    assert not at.exception
    titles = [c["layout"]["title"]["text"] for c in _charts(at)]
    assert not [t for t in titles if "ROC" in t or "precision" in t or "threshold" in t]
    assert not at.slider
    assert any("are for binary models; tickets has 3 classes" in c.value for c in at.caption)


def _two_versions(engine: Engine) -> tuple[int, int, int]:
    model_id, v1 = make_model(engine, name="churn")
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(session=session, model_id=model_id, artifact_path="x",
                                  artifact_sha256="0" * 64, created_by="test").id
    return model_id, v1, v2


def test_comparing_without_shared_predictions_says_how_to_get_them(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    model_id, v1, _ = _two_versions(engine)
    _log_scored(engine, model_id=model_id, version_id=v1, rows=SCORED)
    at = _quality(app(as_role=Role.OPERATOR))
    assert not at.exception
    assert at.selectbox(key="quality-compare-churn-1").label == "Compare v1 (production) with"
    (info,) = [i.value for i in at.info]
    assert "has an answer from both v1 (production) and v2" in info
    assert "score them in the shadow" in info
    assert at.code[0].value == "python -m services.cli shadow-score --model churn --version 2"
    assert not [c for c in _charts(at) if "on the same" in c["layout"]["title"]["text"]]


def test_two_versions_side_by_side_on_the_shared_predictions(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    model_id, v1, v2 = _two_versions(engine)
    # v2 answers "churns" to every prediction v1 served.
    _log_scored(engine, model_id=model_id, version_id=v1, rows=SCORED, shadow={v2: "churns"})
    at = _quality(app(as_role=Role.ANALYST))
    assert not at.exception
    truth = [label for _, _, label in SCORED]
    by_v1 = [pred for pred, _, _ in SCORED]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Shared labelled predictions"] == str(len(SCORED))
    assert metrics["They disagree on"] == str(sum(p != "churns" for p in by_v1))
    assert metrics["Accuracy of v1 (production)"] == (
        f"{100 * accuracy_score(truth, by_v1):.1f} %")
    assert metrics["Accuracy of v2"] == (
        f"{100 * accuracy_score(truth, ['churns'] * len(SCORED)):.1f} %")
    chart = _chart(at, "churn: v1 (production) and v2 on the same 45 labelled predictions")
    assert [t["name"] for t in chart["data"]] == ["v1 (production)", "v2"]
    v2_matrix = _chart(at, "churn v2: confusion matrix")["data"][0]["z"]
    assert v2_matrix == confusion_matrix(truth, ["churns"] * len(SCORED),
                                         labels=["stays", "churns"]).astype(float).tolist()


def test_a_candidate_without_own_predictions_is_still_compared(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    model_id, v1, v2 = _two_versions(engine)
    _log_scored(engine, model_id=model_id, version_id=v1, rows=SCORED, shadow={v2: "churns"})
    at = _quality(app(as_role=Role.ANALYST))
    at.selectbox(key="quality-version-churn").select("2").run()
    assert not at.exception
    assert "No labelled predictions of churn v2" in at.info[0].value
    assert at.selectbox(key="quality-compare-churn-2").value == "1"
    assert {m.label: m.value for m in at.metric}["Shared labelled predictions"] == "45"
