"""The label-free performance estimate: confidence-based, as NannyML's CBPE does.

If a model's probabilities are calibrated, a prediction of class ``j`` whose probability
of true class ``i`` is ``p_i`` contributes ``p_i`` to cell ``(i, j)`` of the confusion
matrix *on average*. Summing over predictions gives the expected confusion matrix
``E[C_ij] = sum over predictions predicted j of p_i``, from which expected accuracy,
per-class precision and recall follow, and (times a value table, expected counts x money)
the expected business value. Nothing here reads the store.

Intervals: given the predictions served, each true label is an independent draw from its
(calibrated) probabilities, so the realised number of correct predictions is a
Poisson-binomial sum with variance ``sum p(1 - p)``; the accuracy interval is the normal
interval of that sum. Precision and recall use the delta method on the same independent
draws (precision's denominator is fixed, so it is Poisson-binomial too; recall is a ratio
of two independent Poisson-binomial sums). The intervals therefore cover the figure that
the labels of *these* predictions will give, not a population figure.

What no label-free estimate can see: a model that stays confident while it is wrong (the
relation between inputs and outcome changed). Where labels exist, :func:`estimate_gap`
turns the measured figure falling below the estimate's interval into that signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from services.kpis.calibration import Calibration, validate_probabilities

__all__ = [
    "ClassEstimate",
    "EstimateError",
    "EstimateGap",
    "PerformanceEstimate",
    "estimate_gap",
    "estimate_performance",
    "expected_confusion_matrix",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Interval = tuple[float, float]

#: How precision and recall intervals are computed (said on the page and in the report).
INTERVAL_METHOD = (
    "accuracy: normal interval of a Poisson-binomial sum; "
    "precision and recall: delta method on the same independent draws"
)


class EstimateError(ValueError):
    """The inputs of an estimate are inconsistent (shapes, masks, predicted classes)."""


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise EstimateError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _normal_interval(centre: float, variance: float, z: float) -> Interval:
    half = z * float(np.sqrt(max(variance, 0.0)))
    return (max(0.0, centre - half), min(1.0, centre + half))


def expected_confusion_matrix(probabilities: Any, *, predicted: Any) -> FloatArray:
    """Expected confusion matrix: rows true classes, columns predicted ones (``k x k``).

    ``probabilities`` is ``(n, k)`` (rows the probability of each true class),
    ``predicted`` the column index each prediction was served as. With one-hot
    probabilities of the true labels it is exactly the measured confusion matrix.
    """
    array = np.asarray(probabilities, dtype=np.float64)
    served = np.asarray(predicted, dtype=np.int64)
    if array.ndim != 2 or served.shape != (array.shape[0],):
        raise EstimateError("there must be one predicted class per row of probabilities")
    k = array.shape[1]
    if served.size and (served.min() < 0 or served.max() >= k):
        raise EstimateError(f"predicted classes must be column indices 0..{k - 1}")
    one_hot = np.zeros((served.size, k))
    one_hot[np.arange(served.size), served] = 1.0
    return array.T @ one_hot


@dataclass(frozen=True, slots=True)
class ClassEstimate:
    """Expected precision and recall of one class, with intervals (``None`` if undefined).

    Precision is undefined when the class was never predicted, recall when its expected
    support (expected number of true instances) is 0.
    """

    label: object
    predicted: int
    expected_support: float
    precision: float | None
    precision_interval: Interval | None
    recall: float | None
    recall_interval: Interval | None


@dataclass(frozen=True, slots=True)
class PerformanceEstimate:
    """The label-free estimate over ``n`` scored predictions.

    ``expected_matrix`` holds expected counts (rows true, columns predicted, in the order
    of ``class_labels``): multiply it cell by cell with a value table for the expected
    value. ``n_without_scores`` predictions were left out (no probabilities to use).
    """

    class_labels: tuple[object, ...]
    n: int
    n_without_scores: int
    expected_matrix: FloatArray
    accuracy: float | None
    accuracy_interval: Interval | None
    classes: tuple[ClassEstimate, ...]
    confidence: float
    calibration: str
    interval_method: str = INTERVAL_METHOD


def _precision(
    column: FloatArray, variances: FloatArray, j: int, z: float
) -> tuple[float | None, Interval | None]:
    """Precision of class ``j``: TP over a fixed count of predictions of ``j``."""
    served = float(column.sum())
    if served == 0.0:
        return None, None
    value = float(column[j] / served)
    return value, _normal_interval(value, float(variances[j]) / served**2, z)


def _recall(
    tp: float, fn: float, var_tp: float, var_fn: float, z: float
) -> tuple[float | None, Interval | None]:
    """Recall TP / (TP + FN) of two independent sums, its variance by the delta method."""
    support = tp + fn
    if support <= 0.0:
        return None, None
    value = tp / support
    variance = (fn**2 * var_tp + tp**2 * var_fn) / support**4
    return value, _normal_interval(value, variance, z)


def _class_estimates(
    probs: FloatArray, served: IntArray, labels: Sequence[object], z: float
) -> tuple[tuple[ClassEstimate, ...], FloatArray]:
    """Per-class figures and the expected matrix, all from per-cell means and variances."""
    matrix = expected_confusion_matrix(probs, predicted=served)
    variances = expected_confusion_matrix(probs * (1.0 - probs), predicted=served)
    estimates = []
    for j, label in enumerate(labels):
        precision, p_interval = _precision(matrix[:, j], variances[:, j], j, z)
        tp = float(matrix[j, j])
        recall, r_interval = _recall(
            tp,
            float(matrix[j].sum()) - tp,
            float(variances[j, j]),
            float(variances[j].sum() - variances[j, j]),
            z,
        )
        estimates.append(
            ClassEstimate(
                label=label,
                predicted=int(np.count_nonzero(served == j)),
                expected_support=float(matrix[j].sum()),
                precision=precision,
                precision_interval=p_interval,
                recall=recall,
                recall_interval=r_interval,
            )
        )
    return tuple(estimates), matrix


def _scored_rows(has_scores: Any, n: int) -> npt.NDArray[np.bool_]:
    if has_scores is None:
        return np.ones(n, dtype=bool)
    mask = np.asarray(has_scores, dtype=bool)
    if mask.shape != (n,):
        raise EstimateError("has_scores must hold one flag per prediction")
    return mask


def _served(predicted: Any, mask: npt.NDArray[np.bool_], raw: FloatArray) -> IntArray:
    """The class index each scored prediction was served as (default: the top column)."""
    if predicted is None:
        top: IntArray = np.asarray(raw.argmax(axis=1), dtype=np.int64)
        return top
    served = np.asarray(predicted, dtype=np.int64)
    if served.shape != mask.shape:
        raise EstimateError("predicted must hold one class index per prediction")
    return served[mask]


def estimate_performance(
    probabilities: Any,
    *,
    class_labels: Sequence[object],
    has_scores: Any = None,
    predicted: Any = None,
    calibration: Calibration | None = None,
    confidence: float = 0.95,
) -> PerformanceEstimate:
    """Estimate accuracy, per-class precision and recall, and the expected matrix.

    ``predicted`` is the class index each prediction was served as (default: the top
    column of the model's own probabilities); ``calibration`` (from
    :func:`services.kpis.calibration.check_calibration`) turns the model's probabilities
    into the ones believed, and its statement is carried into the result. Rows whose
    ``has_scores`` flag is false are left out and counted.
    """
    z = _z(confidence)
    raw = np.asarray(probabilities, dtype=np.float64)
    if raw.ndim != 2:
        raise EstimateError(f"probabilities must be an (n, k) array, got shape {raw.shape}")
    mask = _scored_rows(has_scores, raw.shape[0])
    raw = validate_probabilities(raw[mask], class_labels=class_labels)
    served = _served(predicted, mask, raw)
    if calibration is not None and calibration.class_labels != tuple(class_labels):
        raise EstimateError("the calibration was made for other class labels (or another order)")
    believed = raw if calibration is None else calibration.apply(raw)
    classes, matrix = _class_estimates(believed, served, class_labels, z)
    n = int(raw.shape[0])
    accuracy = float(np.trace(matrix) / n) if n else None
    correct = believed[np.arange(n), served] if n else np.zeros(0)
    variance = float(np.sum(correct * (1.0 - correct))) / n**2 if n else 0.0
    return PerformanceEstimate(
        class_labels=tuple(class_labels),
        n=n,
        n_without_scores=int(mask.size - np.count_nonzero(mask)),
        expected_matrix=matrix,
        accuracy=accuracy,
        accuracy_interval=None if accuracy is None else _normal_interval(accuracy, variance, z),
        classes=classes,
        confidence=confidence,
        calibration=(
            "model probabilities used as they are: calibration not checked"
            if calibration is None
            else calibration.statement
        ),
    )


@dataclass(frozen=True, slots=True)
class EstimateGap:
    """Estimate against measurement where labels exist.

    ``confidently_wrong`` is true when the measured figure lies below the estimate's
    interval: the model is as confident as before but wrong more often, which no
    label-free estimate can see.
    """

    estimated: float
    measured: float
    interval: Interval
    confidently_wrong: bool

    @property
    def gap(self) -> float:
        """Estimated minus measured (positive: the model does worse than it believes)."""
        return self.estimated - self.measured

    @property
    def message(self) -> str:
        """One sentence for the page."""
        if self.confidently_wrong:
            return (
                f"the model is confidently wrong: measured {self.measured:.0%} against an "
                f"estimated {self.estimated:.0%}; the relation between inputs and outcome "
                "has changed"
            )
        return f"measured {self.measured:.0%} agrees with the estimated {self.estimated:.0%}"


def estimate_gap(*, estimated: float, measured: float, interval: Interval) -> EstimateGap:
    """Compare a measured figure with the estimate and its interval (see :class:`EstimateGap`)."""
    low, high = interval
    if not low <= estimated <= high:
        raise EstimateError("the estimate must lie within its interval")
    return EstimateGap(
        estimated=estimated,
        measured=measured,
        interval=(low, high),
        confidently_wrong=measured < low,
    )
