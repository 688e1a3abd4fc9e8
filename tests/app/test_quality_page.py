"""The Model quality page under AppTest: figures equal scikit-learn's on the same rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sklearn.metrics import accuracy_score, f1_score
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from db.base import utcnow
from services.auth import Role
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


def _heatmap(at: AppTest) -> dict[str, Any]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (spec,) = [s for s in specs if "confusion matrix" in s["layout"]["title"]["text"]]
    return spec  # type: ignore[no-any-return]


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
