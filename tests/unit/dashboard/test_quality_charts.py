"""The curve and comparison charts: titles, units, chance lines, the threshold, empty states."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.quality_charts import (
    precision_recall_figure,
    roc_figure,
    version_comparison_figure,
)
from services.quality.compare import VersionComparison
from services.quality.curves import BinaryCurves, curves_from_counts, threshold_metrics
from services.quality.metrics import report_from_matrix

LABELS = ("stays", "churns")


def _curves() -> BinaryCurves:
    # The worked example of test_quality_curves: AUC 0.75, AP 5/6.
    return curves_from_counts(scores=[0.2, 0.6, 0.7, 0.9], positives=[0, 1, 0, 1],
                              negatives=[1, 0, 1, 0], labels=LABELS)


def _by_name(fig: object) -> dict[str, object]:
    return {trace.name: trace for trace in fig.data}  # type: ignore[attr-defined]


def test_roc_has_axes_in_percent_the_chance_line_auc_and_the_threshold() -> None:
    curves = _curves()
    fig = roc_figure(model="churn", curves=curves,
                     at=threshold_metrics(curves, threshold=0.65))
    assert fig.layout.title.text == "churn: ROC curve, positive class 'churns' (AUC 0.750)"
    assert fig.layout.xaxis.title.text == "false positive rate (% of true 'stays')"
    assert fig.layout.yaxis.title.text == "true positive rate (% of true 'churns')"
    traces = _by_name(fig)
    chance = traces["chance (AUC 0.5)"]
    assert (list(chance.x), list(chance.y)) == ([0, 100], [0, 100])  # type: ignore[attr-defined]
    roc = traces["ROC, AUC 0.750"]
    assert list(roc.x) == [0, 0, 50, 50, 100]  # type: ignore[attr-defined]
    assert list(roc.y) == [0, 50, 50, 100, 100]  # type: ignore[attr-defined]
    marker = traces["threshold 0.65"]
    assert (list(marker.x), list(marker.y)) == ([50.0], [50.0])  # type: ignore[attr-defined]


def test_precision_recall_steps_from_the_top_with_the_share_of_positives_as_chance() -> None:
    curves = _curves()
    fig = precision_recall_figure(model="churn", curves=curves,
                                  at=threshold_metrics(curves, threshold=0.9))
    assert "average precision 0.833" in fig.layout.title.text
    assert fig.layout.xaxis.title.text.startswith("recall (%")
    assert fig.layout.yaxis.title.text.startswith("precision (%")
    traces = _by_name(fig)
    chance = traces["chance (share of 'churns': 50.0 %)"]
    assert list(chance.y) == [50.0, 50.0]  # type: ignore[attr-defined]
    curve = traces["precision-recall, AP 0.833"]
    assert list(curve.x) == [0, 50, 50, 100, 100]  # type: ignore[attr-defined]
    assert list(curve.y) == pytest.approx([100, 100, 50, 200 / 3, 50])  # type: ignore[attr-defined]
    assert curve.line.shape == "vh"  # type: ignore[attr-defined]
    assert list(traces["threshold 0.90"].x) == [50.0]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("positives", "negatives", "reason"), [
    ([], [], "no labelled predictions in this window"),
    ([2], [0], "only one class among the labels (churns): a ROC curve needs both"),
    ([0], [2], "only one class among the labels (stays): a ROC curve needs both"),
])
def test_roc_without_both_classes_says_why(positives: list[int], negatives: list[int],
                                           reason: str) -> None:
    curves = curves_from_counts(scores=[0.7][:len(positives)], positives=positives,
                                negatives=negatives, labels=LABELS)
    fig = roc_figure(model="churn", curves=curves, at=threshold_metrics(curves, threshold=0.5))
    assert not fig.data
    assert reason in fig.layout.annotations[0].text
    assert fig.layout.title.text == "churn: ROC curve, positive class 'churns'"
    pr = precision_recall_figure(model="churn", curves=curves)
    assert not pr.data
    assert reason.replace("ROC", "precision-recall") in pr.layout.annotations[0].text


def test_names_are_escaped() -> None:
    curves = curves_from_counts(scores=[0.9, 0.1], positives=[1, 0], negatives=[0, 1],
                                labels=("<b>a</b>", "b&c"))
    fig = roc_figure(model="<i>m</i>", curves=curves)
    assert "&lt;i&gt;m&lt;/i&gt;" in fig.layout.title.text
    assert "b&amp;c" in fig.layout.title.text
    assert "<b>" not in fig.layout.xaxis.title.text


def _comparison(shared: bool) -> VersionComparison:
    a = np.array([[3, 0], [2, 0]]) if shared else np.zeros((2, 2), dtype=int)
    b = np.array([[2, 1], [0, 2]]) if shared else np.zeros((2, 2), dtype=int)
    return VersionComparison(model="churn", a=1, b=2, shared=5 if shared else 0,
                             disagreements=3 if shared else 0, only_a_right=1,
                             only_b_right=2, report_a=report_from_matrix(a, LABELS),
                             report_b=report_from_matrix(b, LABELS))


def test_the_comparison_groups_both_versions_with_intervals() -> None:
    fig = version_comparison_figure(model="churn", comparison=_comparison(True),
                                    names=("v1 (production)", "v2"))
    assert fig.layout.title.text == (
        "churn: v1 (production) and v2 on the same 5 labelled predictions")
    assert fig.layout.yaxis.title.text == "score (%), 95 % interval"
    first, second = fig.data
    assert list(first.x) == ["accuracy", "macro F1", "F1 stays", "F1 churns"]
    assert first.y[0] == pytest.approx(60.0)
    assert second.y[0] == pytest.approx(80.0)
    assert first.error_y.array[0] > 0


def test_the_comparison_without_shared_predictions_says_why() -> None:
    fig = version_comparison_figure(model="churn", comparison=_comparison(False))
    assert not fig.data
    assert "answered by both versions" in fig.layout.annotations[0].text
