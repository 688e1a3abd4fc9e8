"""The label-free estimate against simulated data of known calibration and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_score, recall_score

from services.kpis.calibration import check_calibration
from services.kpis.estimate import (
    EstimateError,
    estimate_gap,
    estimate_performance,
    expected_confusion_matrix,
)

LABELS = ("a", "b", "c")


def _calibrated_sample(rng: np.random.Generator, n: int, k: int = 3) -> np.ndarray:
    """Probabilities with some confidence, from which true labels can be drawn."""
    return rng.dirichlet(np.full(k, 0.6), size=n)


def _draw_labels(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """True class index of each row, drawn from its stated probabilities (vectorised)."""
    cumulative = probs.cumsum(axis=1)
    draws = rng.random((probs.shape[0], 1))
    drawn: np.ndarray = np.minimum((draws > cumulative).sum(axis=1), probs.shape[1] - 1)
    return drawn


def test_one_hot_probabilities_give_sklearn_confusion_matrix_precision_and_recall() -> None:
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 3, size=400)
    predicted = np.where(rng.random(400) < 0.7, truth, rng.integers(0, 3, size=400))
    one_hot = np.eye(3)[truth]

    matrix = expected_confusion_matrix(one_hot, predicted=predicted)
    assert np.array_equal(matrix, confusion_matrix(truth, predicted, labels=[0, 1, 2]))

    estimate = estimate_performance(one_hot, class_labels=LABELS, predicted=predicted)
    assert estimate.accuracy == pytest.approx(float(np.mean(truth == predicted)))
    assert estimate.accuracy_interval == pytest.approx((estimate.accuracy, estimate.accuracy))
    precision = precision_score(truth, predicted, labels=[0, 1, 2], average=None, zero_division=0)
    recall = recall_score(truth, predicted, labels=[0, 1, 2], average=None, zero_division=0)
    assert [c.precision for c in estimate.classes] == pytest.approx(list(precision))
    assert [c.recall for c in estimate.classes] == pytest.approx(list(recall))


def test_accuracy_interval_covers_the_realised_accuracy_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(19)
    covered = 0
    for _ in range(200):
        probs = _calibrated_sample(rng, 300)
        truth = _draw_labels(rng, probs)
        estimate = estimate_performance(probs, class_labels=LABELS)
        realised = float(np.mean(probs.argmax(axis=1) == truth))
        assert estimate.accuracy_interval is not None
        low, high = estimate.accuracy_interval
        covered += low <= realised <= high
    coverage = covered / 200
    print(f"coverage of the 95 % accuracy interval: {coverage:.3f}")
    assert 0.90 <= coverage <= 0.99


def test_precision_and_recall_intervals_cover_their_realised_values_mostly() -> None:
    rng = np.random.default_rng(23)
    hits = np.zeros(2)
    for _ in range(200):
        probs = _calibrated_sample(rng, 300, k=2)
        truth = _draw_labels(rng, probs)
        served = probs.argmax(axis=1)
        estimate = estimate_performance(probs, class_labels=("no", "yes"))
        yes = estimate.classes[1]
        assert yes.precision_interval is not None
        assert yes.recall_interval is not None
        realised_precision = float(np.mean(truth[served == 1] == 1))
        realised_recall = float(np.mean(served[truth == 1] == 1))
        hits += [
            yes.precision_interval[0] <= realised_precision <= yes.precision_interval[1],
            yes.recall_interval[0] <= realised_recall <= yes.recall_interval[1],
        ]
    assert np.all(hits / 200 >= 0.88)


def _overconfident(probs: np.ndarray, temperature: float) -> np.ndarray:
    """What an overconfident model says: the true probabilities sharpened by a temperature."""
    sharpened: np.ndarray = probs**temperature
    said: np.ndarray = sharpened / sharpened.sum(axis=1, keepdims=True)
    return said


def test_isotonic_calibration_removes_the_bias_of_an_overconfident_model() -> None:
    rng = np.random.default_rng(5)
    reference_true = _calibrated_sample(rng, 4000)
    reference_labels = [LABELS[i] for i in _draw_labels(rng, reference_true)]
    calibration = check_calibration(
        _overconfident(reference_true, 2.5),
        reference_labels,
        class_labels=LABELS,
        reference="the reference",
    )
    assert calibration.calibrator is not None
    assert calibration.statement == "calibrated on 4,000 labelled predictions from the reference"

    window_true = _calibrated_sample(rng, 4000)
    window_said = _overconfident(window_true, 2.5)
    truth = _draw_labels(rng, window_true)
    realised = float(np.mean(window_said.argmax(axis=1) == truth))
    raw = estimate_performance(window_said, class_labels=LABELS)
    fixed = estimate_performance(window_said, class_labels=LABELS, calibration=calibration)
    assert raw.accuracy is not None
    assert fixed.accuracy is not None
    raw_bias, fixed_bias = raw.accuracy - realised, fixed.accuracy - realised
    assert raw_bias > 0.05
    assert abs(fixed_bias) < raw_bias / 3
    assert fixed.calibration == calibration.statement


def test_a_confidently_wrong_model_is_estimated_at_its_confidence_and_the_gap_says_so() -> None:
    # No label-free estimate can see this: the probabilities say 0.95 and every label
    # says otherwise. Only the measurement, where labels exist, reveals it.
    probs = np.tile([0.95, 0.05], (500, 1))
    estimate = estimate_performance(probs, class_labels=("stay", "churn"))
    assert estimate.accuracy == pytest.approx(0.95)
    assert estimate.accuracy_interval is not None

    gap = estimate_gap(estimated=0.95, measured=0.0, interval=estimate.accuracy_interval)
    assert gap.confidently_wrong
    assert "confidently wrong" in gap.message
    fine = estimate_gap(estimated=0.95, measured=0.94, interval=estimate.accuracy_interval)
    assert not fine.confidently_wrong


def test_predictions_without_scores_are_left_out_and_counted() -> None:
    probs = np.array([[0.8, 0.2], [1.0, 0.0], [0.3, 0.7], [1.0, 0.0]])
    estimate = estimate_performance(
        probs, class_labels=("no", "yes"), has_scores=[True, False, True, False]
    )
    assert (estimate.n, estimate.n_without_scores) == (2, 2)
    assert estimate.accuracy == pytest.approx(0.75)
    assert estimate.expected_matrix.sum() == pytest.approx(2.0)


def test_a_class_never_predicted_has_no_precision_and_an_empty_window_no_accuracy() -> None:
    probs = np.array([[0.9, 0.1], [0.7, 0.3]])
    estimate = estimate_performance(probs, class_labels=("no", "yes"))
    assert estimate.classes[1].precision is None
    assert estimate.classes[1].recall == pytest.approx(0.0)

    empty = estimate_performance(np.zeros((0, 2)), class_labels=("no", "yes"))
    assert (empty.n, empty.accuracy, empty.accuracy_interval) == (0, None, None)


def test_inconsistent_inputs_are_refused_with_a_plain_message() -> None:
    with pytest.raises(ValueError, match="one column per class"):
        estimate_performance(np.full((3, 3), 1 / 3), class_labels=("no", "yes"))
    with pytest.raises(EstimateError, match="one flag per prediction"):
        estimate_performance(np.full((3, 2), 0.5), class_labels=("no", "yes"), has_scores=[True])
    with pytest.raises(EstimateError, match="within its interval"):
        estimate_gap(estimated=0.9, measured=0.5, interval=(0.1, 0.2))


def test_served_classes_and_the_scores_mask_are_applied_together() -> None:
    # Row 2 was served as "yes" despite its 0.6 on "no" (a threshold below 0.5).
    probs = np.array([[0.9, 0.1], [1.0, 0.0], [0.6, 0.4], [0.2, 0.8]])
    estimate = estimate_performance(
        probs,
        class_labels=("no", "yes"),
        has_scores=[True, False, True, True],
        predicted=[0, 0, 1, 1],
    )
    # Expected matrix, rows true, columns predicted: no->no 0.9, yes->no 0.1,
    # no->yes 0.6 + 0.2, yes->yes 0.4 + 0.8.
    assert estimate.expected_matrix == pytest.approx(np.array([[0.9, 0.8], [0.1, 1.2]]))
    assert estimate.accuracy == pytest.approx((0.9 + 1.2) / 3)
    assert estimate.classes[1].precision == pytest.approx(1.2 / 2)
    assert estimate.classes[1].recall == pytest.approx(1.2 / 1.3)
    assert estimate.calibration == "model probabilities used as they are: calibration not checked"


def test_a_calibration_made_for_other_classes_is_refused() -> None:
    rng = np.random.default_rng(2)
    probs = _calibrated_sample(rng, 50, k=2)
    calibration = check_calibration(
        probs, ["no"] * 50, class_labels=("no", "yes"), reference="the reference"
    )
    with pytest.raises(EstimateError, match="other class labels"):
        estimate_performance(probs, class_labels=("yes", "no"), calibration=calibration)
    with pytest.raises(EstimateError, match="one class index per prediction"):
        estimate_performance(probs, class_labels=("no", "yes"), predicted=[0, 1])
