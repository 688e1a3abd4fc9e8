"""Is a model's probability to be believed? Reliability on labelled data, and a calibrator.

The label-free estimate (:mod:`services.kpis.estimate`) is only as good as the model's
probabilities: a model that says 0.9 must be right nine times in ten. This module checks
that on labelled predictions (the reference or the labelled days) with the expected
calibration error (ECE) of the top-class probability, and when it is poor fits a small
frozen calibrator: one isotonic regression per class (one-vs-rest), whose outputs are
renormalised to sum to 1. Nothing here reads the store.

Conventions: probabilities are an ``(n, k)`` array whose columns follow ``class_labels``
(the model's order); labels are the true class values, each one of ``class_labels``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.isotonic import IsotonicRegression

__all__ = [
    "Calibration",
    "CalibrationError",
    "IsotonicCalibrator",
    "ReliabilityBin",
    "ReliabilitySummary",
    "check_calibration",
    "fit_isotonic",
    "label_indices",
    "reliability",
    "validate_probabilities",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Rows may sum to 1 within this tolerance (float32 scores written by other stacks).
ROW_SUM_TOLERANCE = 1e-3


class CalibrationError(ValueError):
    """The inputs of a calibration check are inconsistent (shapes, unknown labels)."""


def validate_probabilities(probabilities: Any, *, class_labels: Sequence[object]) -> FloatArray:
    """Return ``probabilities`` as an ``(n, k)`` float array, or say plainly what is wrong.

    Checked because a wrong column count or rows that do not sum to 1 would give an
    estimate that looks plausible and is not.
    """
    array = np.asarray(probabilities, dtype=np.float64)
    k = len(class_labels)
    if k < 2:
        raise CalibrationError("a classifier needs at least two class labels")
    if array.ndim != 2 or array.shape[1] != k:
        raise CalibrationError(
            f"probabilities must have one column per class ({k}), got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)) or np.any(array < 0.0) or np.any(array > 1.0):
        raise CalibrationError("probabilities must be finite numbers between 0 and 1")
    if array.shape[0] and np.max(np.abs(array.sum(axis=1) - 1.0)) > ROW_SUM_TOLERANCE:
        raise CalibrationError("each row of probabilities must sum to 1")
    return array


def label_indices(labels: Sequence[object], *, class_labels: Sequence[object]) -> IntArray:
    """Column index of each true label in ``class_labels``; unknown labels are an error."""
    position = {label: index for index, label in enumerate(class_labels)}
    unknown = sorted({str(label) for label in labels if label not in position})
    if unknown:
        raise CalibrationError(f"labels not among the model's classes: {', '.join(unknown[:5])}")
    return np.fromiter((position[label] for label in labels), dtype=np.int64, count=len(labels))


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """One bin of the top-class probability: how confident the model was, how often right."""

    lower: float
    upper: float
    count: int
    mean_confidence: float | None
    accuracy: float | None


@dataclass(frozen=True, slots=True)
class ReliabilitySummary:
    """The reliability of the top-class probability on ``n`` labelled predictions.

    ``ece`` is the expected calibration error: the count-weighted mean gap between
    confidence and accuracy over equal-width bins (``None`` with no prediction).
    """

    n: int
    ece: float | None
    bins: tuple[ReliabilityBin, ...]


def reliability(
    probabilities: Any,
    labels: Sequence[object],
    *,
    class_labels: Sequence[object],
    bins: int = 10,
) -> ReliabilitySummary:
    """Reliability summary (ECE with ``bins`` equal-width bins) of labelled predictions."""
    array = validate_probabilities(probabilities, class_labels=class_labels)
    truth = label_indices(labels, class_labels=class_labels)
    if len(truth) != array.shape[0]:
        raise CalibrationError("there must be one label per row of probabilities")
    if bins < 1:
        raise CalibrationError(f"bins must be at least 1, got {bins}")
    confidence = array.max(axis=1)
    correct = (array.argmax(axis=1) == truth).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=confidence, minlength=bins)
    right_sum = np.bincount(which, weights=correct, minlength=bins)
    summary_bins = tuple(
        ReliabilityBin(
            lower=float(edges[b]),
            upper=float(edges[b + 1]),
            count=int(counts[b]),
            mean_confidence=float(conf_sum[b] / counts[b]) if counts[b] else None,
            accuracy=float(right_sum[b] / counts[b]) if counts[b] else None,
        )
        for b in range(bins)
    )
    n = int(array.shape[0])
    ece = float(np.abs(conf_sum - right_sum).sum() / n) if n else None
    return ReliabilitySummary(n=n, ece=ece, bins=summary_bins)


@dataclass(frozen=True, slots=True)
class IsotonicCalibrator:
    """Per-class isotonic maps (one-vs-rest), frozen: apply it to new probabilities.

    ``thresholds[i]`` holds the ``(x, y)`` knots of class ``i``'s increasing map; between
    knots it is linear and beyond them constant, exactly as scikit-learn's
    ``IsotonicRegression(out_of_bounds="clip")`` predicts.
    """

    class_labels: tuple[object, ...]
    thresholds: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]
    n_fitted: int

    def apply(self, probabilities: Any) -> FloatArray:
        """Calibrated probabilities, each row renormalised to sum to 1.

        A row every map sends to 0 keeps its original probabilities (there is nothing
        better to say about it).
        """
        array = validate_probabilities(probabilities, class_labels=self.class_labels)
        mapped = (
            np.column_stack(
                [np.interp(array[:, i], x, y) for i, (x, y) in enumerate(self.thresholds)]
            )
            if array.shape[0]
            else array.copy()
        )
        sums = mapped.sum(axis=1, keepdims=True)
        safe = np.where(sums > 0.0, sums, 1.0)
        return np.where(sums > 0.0, mapped / safe, array)


def fit_isotonic(
    probabilities: Any, labels: Sequence[object], *, class_labels: Sequence[object]
) -> IsotonicCalibrator:
    """Fit one isotonic regression per class on labelled predictions (one-vs-rest)."""
    array = validate_probabilities(probabilities, class_labels=class_labels)
    truth = label_indices(labels, class_labels=class_labels)
    if len(truth) != array.shape[0] or len(truth) == 0:
        raise CalibrationError("fitting a calibrator needs one label per row, and some rows")
    knots = []
    for i in range(len(class_labels)):
        model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        model.fit(array[:, i], (truth == i).astype(np.float64))
        knots.append(
            (
                tuple(float(v) for v in model.X_thresholds_),
                tuple(float(v) for v in model.y_thresholds_),
            )
        )
    return IsotonicCalibrator(
        class_labels=tuple(class_labels), thresholds=tuple(knots), n_fitted=len(truth)
    )


@dataclass(frozen=True, slots=True)
class Calibration:
    """What the estimate will use: the model's probabilities as they are, or a calibrator.

    ``summary`` is the reliability of the model's own probabilities on the labelled data;
    ``statement`` says in one sentence which was used and why, for the page and report.
    """

    summary: ReliabilitySummary
    calibrator: IsotonicCalibrator | None
    reference: str
    max_ece: float
    class_labels: tuple[object, ...]

    @property
    def statement(self) -> str:
        """One sentence: calibrated on what, or used as they are with which ECE."""
        n = self.summary.n
        if self.calibrator is not None:
            return f"calibrated on {n:,} labelled predictions from {self.reference}"
        if self.summary.ece is None:
            return "model probabilities used as they are: no labelled prediction to check them"
        too_few = ", too few to calibrate" if self.summary.ece > self.max_ece else ""
        return (
            f"model probabilities used as they are: ECE {self.summary.ece:.2f} "
            f"on {n:,} labelled predictions from {self.reference}{too_few}"
        )

    def apply(self, probabilities: Any) -> FloatArray:
        """The probabilities the estimate should use (calibrated when a calibrator was fitted)."""
        if self.calibrator is None:
            return validate_probabilities(probabilities, class_labels=self.class_labels)
        return self.calibrator.apply(probabilities)


def check_calibration(
    probabilities: Any,
    labels: Sequence[object],
    *,
    class_labels: Sequence[object],
    reference: str,
    max_ece: float = 0.05,
    min_labelled: int = 200,
    bins: int = 10,
) -> Calibration:
    """Check calibration on labelled data and fit a calibrator when it is poor.

    The model's probabilities are kept when their ECE is at most ``max_ece``, or when
    fewer than ``min_labelled`` labelled predictions exist (an isotonic map fitted on a
    handful of rows would be noisier than the model it corrects). ``reference`` names the
    labelled data in the statement ("the reference", "labelled days 1-7 Dec").
    """
    summary = reliability(probabilities, labels, class_labels=class_labels, bins=bins)
    poor = summary.ece is not None and summary.ece > max_ece and summary.n >= min_labelled
    calibrator = fit_isotonic(probabilities, labels, class_labels=class_labels) if poor else None
    return Calibration(
        summary=summary,
        calibrator=calibrator,
        reference=reference,
        max_ece=max_ece,
        class_labels=tuple(class_labels),
    )
