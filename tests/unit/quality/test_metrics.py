"""Model-quality figures from counts: hand-worked cases, and agreement with scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics

from services.quality.metrics import (
    QualityError,
    confusion_matrix,
    matrix_from_counts,
    report_from_matrix,
    wilson_interval,
)

LABELS = ("a", "b", "c")
# Worked example (rows true, columns predicted):
#            pred a  pred b  pred c | support
#   true a      5       1       0   |   6
#   true b      2       3       1   |   6
#   true c      0       0       4   |   4
#   predicted   7       4       5   |  n = 16, correct = 5 + 3 + 4 = 12, accuracy 0.75
# precision  a 5/7, b 3/4, c 4/5     recall  a 5/6, b 3/6, c 4/4
# F1 = 2tp / (support + predicted):  a 10/13, b 6/10, c 8/9
# macro F1 = (10/13 + 0.6 + 8/9) / 3; weighted F1 = (6 * 10/13 + 6 * 0.6 + 4 * 8/9) / 16
WORKED = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])


def test_confusion_matrix_of_the_worked_example() -> None:
    true = ["a"] * 6 + ["b"] * 6 + ["c"] * 4
    pred = ["a"] * 5 + ["b"] + ["a", "a", "b", "b", "b", "c"] + ["c"] * 4
    assert confusion_matrix(true, pred, LABELS).tolist() == WORKED.tolist()
    assert confusion_matrix(np.array(true), np.array(pred), LABELS).tolist() == WORKED.tolist()


def test_worked_example_by_hand() -> None:
    report = report_from_matrix(WORKED, LABELS)
    assert report.n_labelled == 16
    assert report.correct == 12
    assert report.accuracy == pytest.approx(0.75, abs=1e-15)
    by = {c.label: c for c in report.per_class}
    assert [by[x].precision for x in LABELS] == pytest.approx([5 / 7, 3 / 4, 4 / 5], abs=1e-15)
    assert [by[x].recall for x in LABELS] == pytest.approx([5 / 6, 1 / 2, 1.0], abs=1e-15)
    assert [by[x].f1 for x in LABELS] == pytest.approx([10 / 13, 0.6, 8 / 9], abs=1e-15)
    assert [by[x].support for x in LABELS] == [6, 6, 4]
    assert report.macro_f1 == pytest.approx((10 / 13 + 0.6 + 8 / 9) / 3, abs=1e-15)
    assert report.weighted_f1 == pytest.approx(
        (6 * 10 / 13 + 6 * 0.6 + 4 * 8 / 9) / 16, abs=1e-15)
    # Precision of "a" is 5 of 7 predictions: its interval uses 7, recall's uses 6.
    assert by["a"].precision_interval == wilson_interval(5, 7)
    assert by["a"].recall_interval == wilson_interval(5, 6)
    assert report.accuracy_interval == wilson_interval(12, 16)


def test_wilson_interval_known_values() -> None:
    # 8 of 10 at 95 %: the textbook Wilson interval is 0.4902 .. 0.9433.
    low, high = wilson_interval(8, 10) or (0.0, 0.0)
    assert low == pytest.approx(0.49016, abs=1e-5)
    assert high == pytest.approx(0.94332, abs=1e-5)
    # 0 of 10: lower bound 0, upper z²/n / (1 + z²/n) with z = 1.959964.
    z2n = 1.959964**2 / 10
    assert wilson_interval(0, 10) == pytest.approx((0.0, z2n / (1 + z2n)), abs=1e-6)
    assert wilson_interval(0, 0) is None
    narrow, wide = wilson_interval(8, 10, 0.80), wilson_interval(8, 10, 0.99)
    assert narrow is not None
    assert wide is not None
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


@pytest.mark.parametrize(("successes", "n"), [(-1, 3), (4, 3), (1, -1)])
def test_wilson_interval_rejects_impossible_counts(successes: int, n: int) -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(successes, n)


def test_unknown_labels_are_named() -> None:
    with pytest.raises(ValueError, match=r"true has labels outside the given labels: \['z'\]"):
        confusion_matrix(["a", "z"], ["a", "b"], LABELS)
    with pytest.raises(ValueError, match=r"pred .*\['q', 'y'\]"):
        confusion_matrix(["a", "b"], ["y", "q"], LABELS)
    assert issubclass(QualityError, ValueError)
    with pytest.raises(QualityError, match=r"\['x'\]"):
        matrix_from_counts([("a", "x", 3)], LABELS)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="length"):
        confusion_matrix(["a"], ["a", "b"], LABELS)
    with pytest.raises(ValueError, match="shape"):
        report_from_matrix(np.zeros((2, 2)), LABELS)
    with pytest.raises(ValueError, match="non-negative"):
        report_from_matrix(-WORKED, LABELS)
    with pytest.raises(ValueError, match="repeat"):
        confusion_matrix(["a"], ["a"], ["a", "a"])


def test_no_labels_gives_nulls_never_nan() -> None:
    report = report_from_matrix(np.zeros((3, 3), dtype=int), LABELS)
    data = report.to_json()
    json.dumps(data, allow_nan=False)
    assert data["n_labelled"] == 0
    assert data["accuracy"] is None
    assert data["macro_f1"] is None
    assert data["weighted_f1"] is None
    assert data["per_class"]["a"] == {
        "precision": None, "precision_interval": None, "recall": None, "recall_interval": None,
        "f1": None, "f1_interval": None, "support": 0, "predicted": 0,
    }


def test_zero_division_counts_as_zero_like_scikit_learn() -> None:
    # "c" never true and never predicted; "b" predicted but never right.
    report = report_from_matrix(np.array([[2, 1, 0], [0, 0, 0], [0, 0, 0]]), LABELS)
    by = {c.label: c for c in report.per_class}
    assert (by["b"].precision, by["b"].recall, by["b"].f1) == (0.0, 0.0, 0.0)
    assert by["b"].recall_interval is None  # no true "b" to estimate recall from
    assert (by["c"].precision, by["c"].recall, by["c"].f1) == (0.0, 0.0, 0.0)
    assert by["c"].precision_interval is None
    assert report.macro_f1 == pytest.approx((0.8 + 0 + 0) / 3, abs=1e-15)
    json.dumps(report.to_json(), allow_nan=False)


def test_to_json_has_the_documented_keys() -> None:
    data = report_from_matrix(WORKED, LABELS, bootstrap=50).to_json()
    assert {"labels", "confusion_matrix", "accuracy", "per_class", "macro_f1", "weighted_f1",
            "n_labelled", "accuracy_interval", "macro_f1_interval"} <= set(data)
    assert data["labels"] == list(LABELS)
    assert data["confusion_matrix"] == WORKED.tolist()
    assert set(data["per_class"]["a"]) >= {"precision", "recall", "f1", "support"}
    json.dumps(data, allow_nan=False)


def test_bootstrap_is_reproducible_for_a_seed() -> None:
    first = report_from_matrix(WORKED, LABELS, seed=7)
    again = report_from_matrix(WORKED, LABELS, seed=7)
    other = report_from_matrix(WORKED, LABELS, seed=8)
    assert first.to_json() == again.to_json()
    assert first.macro_f1_interval != other.macro_f1_interval
    none = report_from_matrix(WORKED, LABELS, bootstrap=0)
    assert none.macro_f1_interval is None
    assert all(c.f1_interval is None for c in none.per_class)


def test_a_perfect_tiny_sample_keeps_its_point_inside_the_interval() -> None:
    # Six classes seen once each, all right: most resamples miss a class, so the
    # percentile interval of macro F1 lies below 1; it is stretched to include 1.
    labels = [f"k{i}" for i in range(6)]
    report = report_from_matrix(np.eye(6, dtype=int), labels, seed=1)
    assert report.macro_f1 == 1.0
    assert report.macro_f1_interval is not None
    assert report.macro_f1_interval[1] == 1.0


label_sets = st.integers(min_value=1, max_value=5).flatmap(
    lambda k: st.tuples(
        st.just(k),
        st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)),
                 min_size=1, max_size=60),
    )
)


# scikit-learn warns when one label is seen even though ``labels=`` names them all.
@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")
@settings(max_examples=150, deadline=None)
@given(label_sets)
def test_agrees_with_scikit_learn(case: tuple[int, list[tuple[int, int]]]) -> None:
    k, pairs = case
    labels = [f"class-{i}" for i in range(k)]
    true = [labels[t] for t, _ in pairs]
    pred = [labels[p] for _, p in pairs]
    matrix = confusion_matrix(true, pred, labels)
    assert matrix.tolist() == metrics.confusion_matrix(true, pred, labels=labels).tolist()

    report = report_from_matrix(matrix, labels, bootstrap=200, seed=3)
    assert report.accuracy == pytest.approx(metrics.accuracy_score(true, pred), abs=1e-12)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        true, pred, labels=labels, zero_division=0)
    assert [c.precision for c in report.per_class] == pytest.approx(list(precision), abs=1e-12)
    assert [c.recall for c in report.per_class] == pytest.approx(list(recall), abs=1e-12)
    assert [c.f1 for c in report.per_class] == pytest.approx(list(f1), abs=1e-12)
    assert [c.support for c in report.per_class] == list(support)
    for average, ours in [("macro", (report.macro_precision, report.macro_recall,
                                     report.macro_f1)),
                          ("weighted", (report.weighted_precision, report.weighted_recall,
                                        report.weighted_f1))]:
        theirs = metrics.precision_recall_fscore_support(
            true, pred, labels=labels, average=average, zero_division=0)[:3]
        assert list(ours) == pytest.approx(list(theirs), abs=1e-12)

    # Every interval contains its point estimate and lies in [0, 1].
    checks = [(report.accuracy, report.accuracy_interval),
              (report.macro_f1, report.macro_f1_interval)]
    for c in report.per_class:
        checks += [(c.f1, c.f1_interval)]
        if c.predicted:
            checks += [(c.precision, c.precision_interval)]
        if c.support:
            checks += [(c.recall, c.recall_interval)]
    for point, interval in checks:
        assert point is not None
        assert interval is not None
        assert 0.0 <= interval[0] <= point + 1e-12
        assert point - 1e-12 <= interval[1] <= 1.0
    json.dumps(report.to_json(), allow_nan=False)
