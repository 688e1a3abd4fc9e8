"""Model quality from ground-truth labels: confusion matrix, per-class metrics, intervals.

Everything is computed from counts, so a report over millions of labelled predictions
costs no more than one over ten: the store groups ``(label, predicted_class)`` pairs in
SQL (:mod:`services.quality.report`) and this module works on the resulting ``k x k``
matrix. Nothing here reads the store.

Conventions (they match ``sklearn.metrics`` with ``labels=`` given and ``zero_division=0``):

* rows of the confusion matrix are true labels, columns predicted classes, both in the
  order of ``labels`` (the model's ``class_labels``);
* precision of a class never predicted, recall of a class with no true instance, and F1
  of a class with neither, are ``0.0`` (not undefined); their Wilson intervals are
  ``None`` because there is nothing to estimate from;
* macro averages are plain means over *all* labels, including classes absent from the
  sample (which then count as 0); weighted averages weight by support;
* with no labelled prediction at all every metric is ``None`` (never NaN).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "ClassMetrics",
    "QualityError",
    "QualityReport",
    "confusion_matrix",
    "matrix_from_counts",
    "report_from_matrix",
    "wilson_interval",
]

Interval = tuple[float, float]
IntMatrix = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class QualityError(ValueError):
    """The inputs of a quality report are inconsistent (unknown labels, bad shapes)."""


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise QualityError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval | None:
    """Wilson score interval of a proportion ``successes / n``; ``None`` when ``n == 0``.

    Unlike the normal ("Wald") interval it stays inside [0, 1] and is sensible at 0 % and
    100 %, which small label counts reach often.
    """
    if n < 0 or not 0 <= successes <= n:
        raise QualityError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return None
    z = _z(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _codes(values: Sequence[str] | npt.NDArray[Any], index: dict[str, int], what: str
           ) -> npt.NDArray[np.int64]:
    arr = np.asarray(values, dtype=str)
    if arr.ndim != 1:
        raise QualityError(f"{what} must be one-dimensional")
    uniques, inverse = np.unique(arr, return_inverse=True)
    unknown = [str(u) for u in uniques if str(u) not in index]
    if unknown:
        raise QualityError(f"{what} has labels outside the given labels: {unknown}")
    lookup = np.array([index[str(u)] for u in uniques], dtype=np.int64)
    return lookup[inverse.reshape(-1)]


def _index(labels: Sequence[str]) -> dict[str, int]:
    index = {str(label): i for i, label in enumerate(labels)}
    if len(index) != len(labels):
        raise QualityError(f"labels repeat: {list(labels)}")
    if not index:
        raise QualityError("labels must not be empty")
    return index


def confusion_matrix(
    true: Sequence[str] | npt.NDArray[Any],
    pred: Sequence[str] | npt.NDArray[Any],
    labels: Sequence[str],
) -> IntMatrix:
    """Counts of (true, predicted) pairs: rows true, columns predicted, in ``labels`` order.

    Raises:
        QualityError: (a ``ValueError``) the arrays differ in length, or hold labels not in
            ``labels`` (named in the message).
    """
    index = _index(labels)
    t = _codes(true, index, "true")
    p = _codes(pred, index, "pred")
    if t.shape != p.shape:
        raise QualityError(f"true and pred differ in length: {t.size} and {p.size}")
    k = len(index)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.int64)


def matrix_from_counts(counts: Iterable[tuple[str, str, int]], labels: Sequence[str]) -> IntMatrix:
    """The confusion matrix from ``(true label, predicted class, count)`` triples.

    Raises:
        QualityError: a triple names a label outside ``labels`` (all such labels named).
    """
    index = _index(labels)
    matrix = np.zeros((len(index), len(index)), dtype=np.int64)
    unknown: set[str] = set()
    for true, pred, count in counts:
        if true not in index or pred not in index:
            unknown.update(x for x in (true, pred) if x not in index)
            continue
        matrix[index[true], index[pred]] += count
    if unknown:
        raise QualityError(f"labels outside the model's classes: {sorted(unknown)}")
    return matrix


@dataclass(frozen=True)
class ClassMetrics:
    """Figures of one class; see the module notes on zero denominators."""

    label: str
    support: int  # true instances (row total)
    predicted: int  # predictions of this class (column total)
    true_positives: int
    precision: float | None
    precision_interval: Interval | None  # Wilson over ``predicted``
    recall: float | None
    recall_interval: Interval | None  # Wilson over ``support``
    f1: float | None
    f1_interval: Interval | None  # bootstrap

    def to_json(self) -> dict[str, Any]:
        """JSON-ready figures (intervals as ``[low, high]`` or ``null``)."""
        return {
            "precision": self.precision,
            "precision_interval": _pair(self.precision_interval),
            "recall": self.recall,
            "recall_interval": _pair(self.recall_interval),
            "f1": self.f1,
            "f1_interval": _pair(self.f1_interval),
            "support": self.support,
            "predicted": self.predicted,
        }


@dataclass(frozen=True)
class QualityReport:
    """Quality of a model on its labelled predictions."""

    labels: tuple[str, ...]
    matrix: IntMatrix
    n_labelled: int
    correct: int
    accuracy: float | None
    accuracy_interval: Interval | None  # Wilson over ``n_labelled``
    per_class: tuple[ClassMetrics, ...]
    macro_precision: float | None
    macro_recall: float | None
    macro_f1: float | None
    macro_f1_interval: Interval | None  # bootstrap
    weighted_precision: float | None
    weighted_recall: float | None
    weighted_f1: float | None
    confidence: float
    bootstrap: int
    seed: int

    def to_json(self) -> dict[str, Any]:
        """JSON-ready report: plain ints, floats and ``None``, never NaN."""
        return {
            "labels": list(self.labels),
            "confusion_matrix": self.matrix.tolist(),
            "n_labelled": self.n_labelled,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "accuracy_interval": _pair(self.accuracy_interval),
            "per_class": {c.label: c.to_json() for c in self.per_class},
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
            "macro_f1": self.macro_f1,
            "macro_f1_interval": _pair(self.macro_f1_interval),
            "weighted_precision": self.weighted_precision,
            "weighted_recall": self.weighted_recall,
            "weighted_f1": self.weighted_f1,
            "confidence": self.confidence,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
        }


def _pair(interval: Interval | None) -> list[float] | None:
    return None if interval is None else [interval[0], interval[1]]


def _ratio(num: npt.NDArray[Any], den: npt.NDArray[Any]) -> FloatArray:
    """``num / den`` elementwise, 0 where ``den == 0`` (scikit-learn's ``zero_division=0``)."""
    num_f = num.astype(np.float64)
    den_f = den.astype(np.float64)
    out = np.zeros(np.broadcast(num_f, den_f).shape, dtype=np.float64)
    np.divide(num_f, den_f, out=out, where=den_f != 0)
    return out


def _f1(matrices: IntMatrix) -> FloatArray:
    """Per-class F1 of a ``(k, k)`` or ``(b, k, k)`` matrix: ``2tp / (support + predicted)``."""
    tp = np.diagonal(matrices, axis1=-2, axis2=-1)
    return _ratio(2 * tp, matrices.sum(axis=-1) + matrices.sum(axis=-2))


def _percentile_interval(samples: FloatArray, point: float, confidence: float) -> Interval:
    """Percentile interval of bootstrap ``samples``, widened to include ``point``.

    On tiny samples the resampled statistic is discrete and can sit entirely on one side
    of the observed value (e.g. a perfect diagonal where most resamples miss a class), so
    the percentile interval alone may exclude it; an interval that excludes the figure it
    qualifies would only confuse, so it is stretched to reach it.
    """
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return min(float(low), point), max(float(high), point)


def report_from_matrix(
    matrix: npt.ArrayLike,
    labels: Sequence[str],
    *,
    confidence: float = 0.95,
    bootstrap: int = 1000,
    seed: int = 0,
) -> QualityReport:
    """Accuracy, per-class and averaged metrics with intervals, from a confusion matrix.

    Args:
        matrix: ``k x k`` non-negative counts, rows true labels, columns predictions.
        labels: the ``k`` labels, in matrix order.
        confidence: level of every interval.
        bootstrap: resampled matrices for the F1 intervals; each is a multinomial draw of
            ``n`` labelled predictions over the observed cell shares (``0``: no F1 intervals).
        seed: seed of the resampling, so a report is reproducible.

    Raises:
        QualityError: the matrix is not square, does not match ``labels``, or has
            negative or non-integer counts.
    """
    index = _index(labels)
    counts = _checked_counts(matrix, len(index), bootstrap=bootstrap, confidence=confidence)
    n = int(counts.sum())
    if n == 0:
        return _empty_report(tuple(index), counts, confidence=confidence,
                             bootstrap=bootstrap, seed=seed)
    correct = int(np.trace(counts))
    support = counts.sum(axis=1)
    precision = _ratio(np.diagonal(counts), counts.sum(axis=0))
    recall = _ratio(np.diagonal(counts), support)
    f1 = _f1(counts)
    f1_intervals, macro_interval = _f1_intervals(counts, f1, bootstrap=bootstrap, seed=seed,
                                                 confidence=confidence)
    weights = support / n
    return QualityReport(
        labels=tuple(index),
        matrix=counts,
        n_labelled=n,
        correct=correct,
        accuracy=correct / n,
        accuracy_interval=wilson_interval(correct, n, confidence),
        per_class=_per_class(tuple(index), counts, f1, f1_intervals, confidence),
        macro_precision=float(precision.mean()),
        macro_recall=float(recall.mean()),
        macro_f1=float(f1.mean()),
        macro_f1_interval=macro_interval,
        weighted_precision=float(np.dot(weights, precision)),
        weighted_recall=float(np.dot(weights, recall)),
        weighted_f1=float(np.dot(weights, f1)),
        confidence=confidence,
        bootstrap=bootstrap,
        seed=seed,
    )


def _checked_counts(matrix: npt.ArrayLike, k: int, *, bootstrap: int, confidence: float
                    ) -> IntMatrix:
    """The matrix as integer counts, once every argument of the report is known valid."""
    raw = np.asarray(matrix)
    if raw.shape != (k, k):
        raise QualityError(f"matrix shape {raw.shape} does not match {k} labels")
    if raw.size and (np.any(raw < 0) or np.any(raw != np.round(raw))):
        raise QualityError("matrix counts must be non-negative integers")
    if bootstrap < 0:
        raise QualityError(f"bootstrap must be >= 0, got {bootstrap}")
    _z(confidence)  # validate once, before any work
    counts: IntMatrix = raw.astype(np.int64)
    return counts


def _empty_report(labels: tuple[str, ...], counts: IntMatrix, *, confidence: float,
                  bootstrap: int, seed: int) -> QualityReport:
    """The report of no labelled prediction: every figure ``None``."""
    empty = tuple(
        ClassMetrics(label=label, support=0, predicted=0, true_positives=0,
                     precision=None, precision_interval=None, recall=None,
                     recall_interval=None, f1=None, f1_interval=None)
        for label in labels
    )
    return QualityReport(
        labels=labels, matrix=counts, n_labelled=0, correct=0, accuracy=None,
        accuracy_interval=None, per_class=empty, macro_precision=None, macro_recall=None,
        macro_f1=None, macro_f1_interval=None, weighted_precision=None,
        weighted_recall=None, weighted_f1=None, confidence=confidence,
        bootstrap=bootstrap, seed=seed,
    )


def _f1_intervals(counts: IntMatrix, f1: FloatArray, *, bootstrap: int, seed: int,
                  confidence: float) -> tuple[list[Interval | None], Interval | None]:
    """Bootstrap intervals of each class's F1 and of macro F1 (``None`` without resampling)."""
    k = counts.shape[0]
    if not bootstrap:
        return [None] * k, None
    n = int(counts.sum())
    rng = np.random.default_rng(seed)
    shares = (counts / n).ravel()
    draws = rng.multinomial(n, shares, size=bootstrap).reshape(bootstrap, k, k)
    f1_samples = _f1(draws)  # (bootstrap, k)
    per_class: list[Interval | None] = [
        _percentile_interval(f1_samples[:, i], float(f1[i]), confidence) for i in range(k)
    ]
    macro = _percentile_interval(f1_samples.mean(axis=1), float(f1.mean()), confidence)
    return per_class, macro


def _per_class(labels: tuple[str, ...], counts: IntMatrix, f1: FloatArray,
               f1_intervals: Sequence[Interval | None], confidence: float
               ) -> tuple[ClassMetrics, ...]:
    """The figures of each class, with Wilson intervals of precision and recall."""
    support = counts.sum(axis=1)
    predicted = counts.sum(axis=0)
    tp = np.diagonal(counts)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    return tuple(
        ClassMetrics(
            label=label,
            support=int(support[i]),
            predicted=int(predicted[i]),
            true_positives=int(tp[i]),
            precision=float(precision[i]),
            precision_interval=wilson_interval(int(tp[i]), int(predicted[i]), confidence),
            recall=float(recall[i]),
            recall_interval=wilson_interval(int(tp[i]), int(support[i]), confidence),
            f1=float(f1[i]),
            f1_interval=f1_intervals[i],
        )
        for i, label in enumerate(labels)
    )
