"""Calibration check and the isotonic calibrator."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from services.kpis.calibration import (
    CalibrationError,
    check_calibration,
    fit_isotonic,
    reliability,
)

LABELS = ("no", "yes")


def test_ece_is_the_weighted_gap_between_confidence_and_accuracy_hand_worked() -> None:
    # Bin 0.9-1.0: two predictions at 0.95, one right -> gap 0.45, weight 2/4.
    # Bin 0.6-0.7: two predictions at 0.65, both right -> gap 0.35, weight 2/4.
    probs = [[0.95, 0.05], [0.95, 0.05], [0.35, 0.65], [0.35, 0.65]]
    summary = reliability(probs, ["no", "yes", "yes", "yes"], class_labels=LABELS)
    assert summary.ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.35)
    top = summary.bins[-1]
    assert top.count == 2
    assert top.mean_confidence == pytest.approx(0.95)
    assert top.accuracy == 0.5
    assert sum(b.count for b in summary.bins) == 4


def test_well_calibrated_probabilities_are_used_as_they_are() -> None:
    rng = np.random.default_rng(3)
    yes = rng.uniform(0.0, 1.0, size=5000)
    labels = np.where(rng.random(5000) < yes, "yes", "no").tolist()
    calibration = check_calibration(
        np.column_stack([1 - yes, yes]), labels, class_labels=LABELS, reference="the reference"
    )
    assert calibration.calibrator is None
    assert calibration.summary.ece is not None
    assert calibration.summary.ece < 0.05
    assert calibration.statement.startswith("model probabilities used as they are: ECE 0.0")
    assert calibration.statement.endswith("on 5,000 labelled predictions from the reference")


def test_too_few_labels_keep_the_model_probabilities_even_when_poor() -> None:
    probs = [[0.95, 0.05]] * 10
    calibration = check_calibration(probs, ["yes"] * 10, class_labels=LABELS, reference="x")
    assert calibration.summary.ece == pytest.approx(0.95)
    assert calibration.calibrator is None
    assert calibration.statement == (
        "model probabilities used as they are: ECE 0.95 on 10 labelled predictions from x, "
        "too few to calibrate"
    )


def test_the_calibrator_matches_sklearn_isotonic_and_rows_sum_to_one() -> None:
    rng = np.random.default_rng(11)
    yes = rng.uniform(0.0, 1.0, size=600)
    labels = np.where(rng.random(600) < yes**2, "yes", "no").tolist()
    probs = np.column_stack([1 - yes, yes])
    calibrator = fit_isotonic(probs, labels, class_labels=LABELS)
    fresh = np.column_stack([1 - np.linspace(-0.0, 1.0, 50), np.linspace(0.0, 1.0, 50)])
    reference = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    reference.fit(yes, [label == "yes" for label in labels])
    other = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    other.fit(1 - yes, [label == "no" for label in labels])
    expected = np.column_stack([other.predict(fresh[:, 0]), reference.predict(fresh[:, 1])])
    expected_rows = expected / expected.sum(axis=1, keepdims=True)
    applied = calibrator.apply(fresh)
    assert applied == pytest.approx(expected_rows)
    assert applied.sum(axis=1) == pytest.approx(np.ones(50))
    assert calibrator.n_fitted == 600


def test_bad_inputs_are_refused_with_a_plain_message() -> None:
    with pytest.raises(CalibrationError, match="not among the model's classes: maybe"):
        reliability([[0.5, 0.5]], ["maybe"], class_labels=LABELS)
    with pytest.raises(CalibrationError, match="sum to 1"):
        reliability([[0.5, 0.6]], ["no"], class_labels=LABELS)
    with pytest.raises(CalibrationError, match="one label per row"):
        reliability([[0.5, 0.5]], ["no", "yes"], class_labels=LABELS)
