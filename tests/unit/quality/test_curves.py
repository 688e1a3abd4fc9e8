"""ROC and precision-recall curves from counts: worked cases, and scikit-learn's answers."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics

from db.repositories.quality import ScoreBin
from services.quality.curves import (
    BinaryCurves,
    curves_from_bins,
    curves_from_counts,
    threshold_metrics,
)
from services.quality.metrics import QualityError

LABELS = ("no", "yes")


def _counts(y: npt.NDArray[np.bool_], s: npt.NDArray[np.float64]) -> BinaryCurves:
    """The curves from raw rows, grouped by distinct score the way the store groups them."""
    scores, inverse = np.unique(s, return_inverse=True)
    return curves_from_counts(
        scores=scores, positives=np.bincount(inverse, weights=y, minlength=scores.size),
        negatives=np.bincount(inverse, weights=~y, minlength=scores.size), labels=LABELS)


def _bins(y: npt.NDArray[np.bool_], s: npt.NDArray[np.float64], grid: int
          ) -> list[ScoreBin]:
    """What ``score_bins`` returns for these rows (``y``: the label is "yes")."""
    out = []
    keys = np.floor(s * grid + 1e-7).astype(int)
    for key in np.unique(keys):
        for truth, label in ((True, "yes"), (False, "no")):
            inside = s[(keys == key) & (y == truth)]
            if inside.size:
                out.append(ScoreBin(bin=int(key), label=label, count=int(inside.size),
                                    low=float(inside.min()), high=float(inside.max())))
    return out


def test_worked_example_by_hand() -> None:
    # Positives score 0.9 and 0.6, negatives 0.7 and 0.2. From the top threshold down:
    #   0.9: tp 1 fp 0 | 0.7: tp 1 fp 1 | 0.6: tp 2 fp 1 | 0.2: tp 2 fp 2
    # ROC (0,0) (0,.5) (.5,.5) (.5,1) (1,1): area .25 + .5 = .75 (3 of 4 pairs ordered).
    # precision 1, 1/2, 2/3, 1/2; recall 1/2, 1/2, 1, 1: AP = .5 * 1 + .5 * 2/3 = 5/6.
    c = curves_from_counts(scores=[0.2, 0.6, 0.7, 0.9], positives=[0, 1, 0, 1],
                           negatives=[1, 0, 1, 0], labels=LABELS)
    assert c.thresholds.tolist() == [0.9, 0.7, 0.6, 0.2]
    assert c.fpr.tolist() == [0, 0, 0.5, 0.5, 1]
    assert c.tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    assert c.precision.tolist() == pytest.approx([1, 0.5, 2 / 3, 0.5], abs=1e-15)
    assert c.recall.tolist() == [0.5, 0.5, 1, 1]
    assert c.roc_auc == pytest.approx(0.75, abs=1e-15)
    assert c.average_precision == pytest.approx(5 / 6, abs=1e-15)
    assert (c.positive, c.negative, c.n_positive, c.n_negative) == ("yes", "no", 2, 2)
    at = threshold_metrics(c, threshold=0.65)
    assert (at.true_positives, at.false_positives, at.false_negatives, at.true_negatives) == (
        1, 1, 1, 1)
    assert at.matrix.tolist() == [[1, 1], [1, 1]]
    assert (at.accuracy, at.precision, at.recall, at.f1, at.fpr) == (0.5, 0.5, 0.5, 0.5, 0.5)


def test_a_tie_between_classes_is_half_a_pair() -> None:
    # Positives 0.8 and 0.5, a negative at 0.5: ROC (0,0) (0,.5) (1,1), area .75.
    c = curves_from_counts(scores=[0.8, 0.5], positives=[1, 1], negatives=[0, 1],
                           labels=LABELS)
    assert c.roc_auc == pytest.approx(0.75)
    assert c.roc_auc == pytest.approx(metrics.roc_auc_score([1, 1, 0], [0.8, 0.5, 0.5]))


def test_the_matrix_follows_the_models_class_order_for_either_positive_class() -> None:
    # 3 "yes" at 0.9 (positive yes) and 1 "no" at 0.9, 2 "no" at 0.2.
    yes = curves_from_counts(scores=[0.9, 0.2], positives=[3, 0], negatives=[1, 2],
                             labels=LABELS, positive="yes")
    at = threshold_metrics(yes, threshold=0.5)
    assert at.matrix.tolist() == [[2, 1], [0, 3]]  # rows no, yes; columns no, yes
    # The same rows with "no" positive: its score is 1 - the "yes" score.
    no = curves_from_counts(scores=[0.1, 0.8], positives=[1, 2], negatives=[3, 0],
                            labels=LABELS, positive="no")
    assert threshold_metrics(no, threshold=0.5).matrix.tolist() == at.matrix.tolist()
    assert (no.positive, no.negative) == ("no", "yes")


def test_one_class_only_has_no_curves_but_has_a_matrix() -> None:
    c = curves_from_counts(scores=[0.9, 0.3], positives=[2, 1], negatives=[0, 0],
                           labels=LABELS)
    assert not c.both_classes
    assert c.roc_auc is None
    assert c.average_precision is None
    at = threshold_metrics(c, threshold=0.5)
    assert at.matrix.tolist() == [[0, 0], [1, 2]]
    assert at.fpr is None
    assert at.recall == pytest.approx(2 / 3)


def test_no_labels_at_all() -> None:
    c = curves_from_counts(scores=[], positives=[], negatives=[], labels=LABELS)
    assert c.n_labelled == 0
    assert c.roc_auc is None
    at = threshold_metrics(c, threshold=0.5)
    assert at.matrix.tolist() == [[0, 0], [0, 0]]
    assert (at.accuracy, at.precision, at.recall, at.f1) == (None, None, None, None)


def test_nothing_predicted_positive_scores_zero_like_scikit_learn() -> None:
    c = curves_from_counts(scores=[0.4, 0.1], positives=[1, 0], negatives=[0, 1],
                           labels=LABELS)
    at = threshold_metrics(c, threshold=0.9)
    y, pred = [1, 0], [0, 0]
    assert at.precision == metrics.precision_score(y, pred, zero_division=0) == 0.0
    assert at.f1 == metrics.f1_score(y, pred, zero_division=0) == 0.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"labels": ("a", "b", "c")}, "need a binary model"),
    ({"labels": LABELS, "positive": "maybe"}, "not one of the model's classes"),
    ({"labels": LABELS, "scores": [0.5, 0.5]}, "distinct"),
    ({"labels": LABELS, "positives": [-1, 0]}, "negative"),
    ({"labels": LABELS, "negatives": [1]}, "one length"),
])
def test_bad_counts_are_refused(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"scores": [0.2, 0.6], "positives": [1, 0],
                               "negatives": [0, 1], **kwargs}
    with pytest.raises(QualityError, match=message):
        curves_from_counts(**args)  # type: ignore[arg-type]


def test_thresholds_outside_the_unit_interval_are_refused() -> None:
    c = curves_from_counts(scores=[0.5], positives=[1], negatives=[1], labels=LABELS)
    for bad in (-0.1, 1.1, math.nan):
        with pytest.raises(QualityError, match="between 0 and 1"):
            threshold_metrics(c, threshold=bad)


def test_labels_outside_the_classes_are_named() -> None:
    with pytest.raises(QualityError, match=r"outside the model's classes: \['maybe'\]"):
        curves_from_bins([ScoreBin(bin=5, label="maybe", count=1, low=0.5, high=0.5)],
                         labels=LABELS)


def test_a_bin_with_several_scores_stands_for_its_lower_edge() -> None:
    # Grid of 10: 0.31 and 0.38 share bin 3; 0.7 is alone in bin 7.
    c = curves_from_bins([ScoreBin(bin=3, label="yes", count=1, low=0.31, high=0.31),
                          ScoreBin(bin=3, label="no", count=2, low=0.38, high=0.38),
                          ScoreBin(bin=7, label="yes", count=1, low=0.7, high=0.7)],
                         labels=LABELS, grid=10)
    assert not c.exact
    assert c.thresholds.tolist() == [0.7, 0.3]
    assert c.positives.tolist() == [1, 1]
    assert c.negatives.tolist() == [0, 2]


# Scores on the grid of 0.001, as stored rounded; labels as booleans (True: positive).
rows = st.lists(st.tuples(st.booleans(), st.integers(0, 1000)), min_size=1, max_size=300)


def _arrays(data: list[tuple[bool, int]]) -> tuple[npt.NDArray[np.bool_],
                                                   npt.NDArray[np.float64]]:
    return (np.array([y for y, _ in data], dtype=bool),
            np.array([k / 1000 for _, k in data], dtype=np.float64))


@settings(max_examples=150, deadline=None)
@given(rows)
def test_curves_equal_scikit_learn_on_grid_scores(data: list[tuple[bool, int]]) -> None:
    y, s = _arrays(data)
    for c in (_counts(y, s), curves_from_bins(_bins(y, s, 1000), labels=LABELS)):
        assert c.n_labelled == len(data)
        if not (y.any() and (~y).any()):
            assert c.roc_auc is None
            continue
        assert c.exact
        fpr, tpr, thresholds = metrics.roc_curve(y, s, drop_intermediate=False)
        np.testing.assert_allclose(c.fpr, fpr, rtol=0, atol=1e-12)
        np.testing.assert_allclose(c.tpr, tpr, rtol=0, atol=1e-12)
        np.testing.assert_allclose(c.thresholds, thresholds[1:], rtol=0, atol=1e-12)
        assert c.roc_auc == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)
        precision, recall, pr_thresholds = metrics.precision_recall_curve(y, s)
        np.testing.assert_allclose(c.precision, precision[:-1][::-1], rtol=0, atol=1e-12)
        np.testing.assert_allclose(c.recall, recall[:-1][::-1], rtol=0, atol=1e-12)
        np.testing.assert_allclose(c.thresholds, pr_thresholds[::-1], rtol=0, atol=1e-12)
        assert c.average_precision == pytest.approx(
            metrics.average_precision_score(y, s), abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(rows, st.integers(0, 1000))
def test_threshold_metrics_equal_scikit_learn(data: list[tuple[bool, int]], k: int) -> None:
    y, s = _arrays(data)
    t = k / 1000
    at = threshold_metrics(curves_from_bins(_bins(y, s, 1000), labels=LABELS), threshold=t)
    pred = s >= t
    expected = metrics.confusion_matrix(y, pred, labels=[False, True])
    assert at.matrix.tolist() == expected.tolist()
    assert at.accuracy == pytest.approx(metrics.accuracy_score(y, pred), abs=1e-12)
    for ours, theirs in ((at.precision, metrics.precision_score),
                         (at.recall, metrics.recall_score), (at.f1, metrics.f1_score)):
        assert ours == pytest.approx(theirs(y, pred, zero_division=0), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(rows)
def test_the_first_class_as_positive_equals_scikit_learns_pos_label(
    data: list[tuple[bool, int]]
) -> None:
    # Rows labelled "yes" (True) or "no"; with "no" positive its score is 1 - the "yes" one.
    y, s = _arrays(data)
    flipped = np.round(1 - s, 3)
    c = curves_from_bins(_bins(y, flipped, 1000), labels=LABELS, positive="no")
    if not (y.any() and (~y).any()):
        return
    truth = np.where(y, "yes", "no")
    assert c.roc_auc == pytest.approx(metrics.roc_auc_score(truth == "no", flipped), abs=1e-12)
    assert c.average_precision == pytest.approx(
        metrics.average_precision_score(truth, flipped, pos_label="no"), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=1, max_size=200),
       st.integers(0, 20))
def test_off_grid_scores_are_exact_at_grid_thresholds(
    data: list[tuple[bool, float]], k: int
) -> None:
    # Scores anywhere in [0, 1], a coarse grid of 20: every threshold on the grid still
    # counts each row on the right side.
    y = np.array([a for a, _ in data], dtype=bool)
    s = np.array([b for _, b in data], dtype=np.float64)
    c = curves_from_bins(_bins(y, s, 20), labels=LABELS, grid=20)
    t = k / 20
    pred = np.floor(s * 20 + 1e-7) >= k  # what "score >= t" means on the grid
    assert threshold_metrics(c, threshold=t).matrix.tolist() == metrics.confusion_matrix(
        y, pred, labels=[False, True]).tolist()
