"""Binary models: ROC and precision-recall curves, and the figures at a chosen threshold.

Like :mod:`services.quality.metrics`, everything works on counts: the store groups a binary
model's labelled predictions into (true label, score bin) counts on a fine grid, and the
curves come from cumulative sums over the bins, so a million labels cost what a thousand
do and no labelled row is loaded.

Conventions (they match ``sklearn.metrics`` on scores that lie on the grid):

* the *positive-class score* of a prediction is its ``top_score`` when it predicted the
  positive class and ``1 - top_score`` otherwise; a prediction counts as positive at
  threshold ``t`` when that score is ``>= t``;
* the curves have one point per distinct threshold, highest first: the bin's exact score
  when all its scores are equal, else the bin's lower edge. At a threshold on the grid
  the counts are exact either way; between grid points a curve is only as fine as the
  grid (:attr:`BinaryCurves.exact` says whether any bin merged different scores);
* ``roc_curve`` with ``drop_intermediate=False``: ``fpr`` and ``tpr`` start at ``0``;
  the area is the trapezoid rule (``roc_auc_score``);
* precision and recall are given at each threshold (``precision_recall_curve`` without
  its final ``(recall 0, precision 1)`` point); average precision is
  ``sum((R_i - R_{i-1}) * P_i)`` with ``R_{-1} = 0`` (``average_precision_score``);
* at a threshold, precision with nothing predicted positive and recall with no positive
  label are ``0.0`` (``zero_division=0``); curves and areas need both classes among the
  labels and are ``None`` otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine

from db.repositories.quality import ScoreBin
from services.quality.metrics import QualityError

__all__ = [
    "DEFAULT_BINS",
    "BinaryCurves",
    "ThresholdMetrics",
    "binary_curves",
    "curves_from_bins",
    "curves_from_counts",
    "threshold_metrics",
]

#: Bins of the unit interval the store groups scores into (a grid of 0.001).
DEFAULT_BINS = 1000
# Tolerance of ``score >= threshold``: a threshold typed or slid to 0.3 may arrive as
# 0.30000000000000004, a score on the grid as 0.29999999999999999.
_TOLERANCE = 1e-9

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BinaryCurves:
    """ROC and precision-recall curves of a binary model for one positive class.

    Attributes:
        labels: the model's two classes, in its own order (the matrix order).
        positive: the positive class.
        thresholds: distinct score thresholds, highest first.
        positives: labelled positives whose score sits at each threshold.
        negatives: labelled negatives whose score sits at each threshold.
        exact: every threshold is a score that occurs (no bin merged different scores).
        fpr: false positive rate at each threshold, after a leading ``0``.
        tpr: true positive rate (recall) at each threshold, after a leading ``0``.
        precision: precision at each threshold.
        recall: recall at each threshold.
        roc_auc: area under the ROC curve; ``None`` without both classes among the labels.
        average_precision: ``None`` without both classes among the labels.
    """

    labels: tuple[str, str]
    positive: str
    thresholds: FloatArray
    positives: IntArray
    negatives: IntArray
    exact: bool
    fpr: FloatArray
    tpr: FloatArray
    precision: FloatArray
    recall: FloatArray
    roc_auc: float | None
    average_precision: float | None

    @property
    def negative(self) -> str:
        """The other class."""
        return self.labels[0] if self.positive == self.labels[1] else self.labels[1]

    @property
    def n_positive(self) -> int:
        """Labelled predictions whose true label is the positive class."""
        return int(self.positives.sum())

    @property
    def n_negative(self) -> int:
        """Labelled predictions whose true label is the other class."""
        return int(self.negatives.sum())

    @property
    def n_labelled(self) -> int:
        """Every labelled prediction counted."""
        return self.n_positive + self.n_negative

    @property
    def both_classes(self) -> bool:
        """Both classes occur among the labels (else there are no curves to draw)."""
        return self.n_positive > 0 and self.n_negative > 0


@dataclass(frozen=True)
class ThresholdMetrics:
    """The confusion matrix and the positive class's figures at one threshold.

    Attributes:
        threshold: predictions whose positive-class score is ``>=`` this are positive.
        labels: the model's two classes, in its own order.
        positive: the positive class.
        matrix: ``2 x 2`` counts, rows true labels, columns predictions, in ``labels`` order.
        true_positives, false_positives, false_negatives, true_negatives: the four cells.
        accuracy, precision, recall, f1: of the positive class; ``None`` without labels.
        fpr: false positive rate; ``None`` without negative labels.
    """

    threshold: float
    labels: tuple[str, str]
    positive: str
    matrix: IntArray
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    fpr: float | None

    @property
    def n_labelled(self) -> int:
        """Labelled predictions counted."""
        return int(self.matrix.sum())


def _pair(labels: Sequence[str], positive: str | None) -> tuple[tuple[str, str], str]:
    if len(labels) != 2 or labels[0] == labels[1]:
        raise QualityError(f"ROC and precision-recall curves need a binary model; these "
                           f"classes are {list(labels)}")
    pair = (str(labels[0]), str(labels[1]))
    chosen = pair[1] if positive is None else positive
    if chosen not in pair:
        raise QualityError(f"positive class {chosen!r} is not one of the model's classes "
                           f"{list(pair)}")
    return pair, chosen


def curves_from_counts(
    *,
    scores: Sequence[float] | FloatArray,
    positives: Sequence[int] | IntArray,
    negatives: Sequence[int] | IntArray,
    labels: Sequence[str],
    positive: str | None = None,
    exact: bool = True,
) -> BinaryCurves:
    """The curves from the counts of positives and negatives at each distinct score.

    Args:
        scores: distinct positive-class scores (any order).
        positives: labelled positives at each score.
        negatives: labelled negatives at each score.
        labels: the model's two classes in its order.
        positive: the positive class (default ``labels[1]``).
        exact: whether the scores are the real scores (not bin edges standing for several).

    Raises:
        QualityError: not two labels, an unknown positive class, arrays of different
            lengths, repeated scores, or negative counts.
    """
    pair, chosen = _pair(labels, positive)
    s = np.asarray(scores, dtype=np.float64)
    pos = np.asarray(positives, dtype=np.int64)
    neg = np.asarray(negatives, dtype=np.int64)
    if not s.ndim == pos.ndim == neg.ndim == 1 or not s.shape == pos.shape == neg.shape:
        raise QualityError("scores, positives and negatives must be 1-d and of one length")
    if np.any(pos < 0) or np.any(neg < 0):
        raise QualityError("counts must not be negative")
    order = np.argsort(-s, kind="stable")
    s, pos, neg = s[order], pos[order], neg[order]
    if s.size > 1 and np.any(np.diff(s) >= 0):
        raise QualityError("scores must be distinct")
    keep = (pos + neg) > 0  # a threshold nobody sits at is not a point of any curve
    s, pos, neg = s[keep], pos[keep], neg[keep]
    tps = np.cumsum(pos)
    fps = np.cumsum(neg)
    n_pos = int(tps[-1]) if tps.size else 0
    n_neg = int(fps[-1]) if fps.size else 0
    zero = np.zeros(1)
    tpr = np.concatenate([zero, tps / n_pos]) if n_pos else np.concatenate([zero, tps * 0.0])
    fpr = np.concatenate([zero, fps / n_neg]) if n_neg else np.concatenate([zero, fps * 0.0])
    precision = tps / np.maximum(tps + fps, 1)
    recall = tps / n_pos if n_pos else tps * 0.0
    both = n_pos > 0 and n_neg > 0
    auc = float(np.trapezoid(tpr, fpr)) if both else None
    ap = float(np.sum(np.diff(recall, prepend=0.0) * precision)) if both else None
    return BinaryCurves(
        labels=pair, positive=chosen, thresholds=s, positives=pos, negatives=neg,
        exact=exact, fpr=fpr, tpr=tpr, precision=precision.astype(np.float64),
        recall=recall.astype(np.float64), roc_auc=auc, average_precision=ap,
    )


def curves_from_bins(
    bins: Sequence[ScoreBin],
    *,
    labels: Sequence[str],
    positive: str | None = None,
    grid: int = DEFAULT_BINS,
) -> BinaryCurves:
    """The curves from the store's (score bin, true label) counts.

    A bin whose scores are all equal stands for that score; any other for its lower edge
    ``bin / grid`` (at that threshold its whole count is above it, so the counts at grid
    thresholds stay exact).

    Raises:
        QualityError: not two labels, an unknown positive class, or a label outside them.
    """
    pair, chosen = _pair(labels, positive)
    unknown = sorted({b.label for b in bins} - set(pair))
    if unknown:
        raise QualityError(f"labels outside the model's classes: {unknown}")
    merged: dict[int, list[float]] = {}  # bin -> [positives, negatives, low, high]
    for b in bins:
        at = min(max(b.bin, 0), grid)
        cell = merged.setdefault(at, [0, 0, b.low, b.high])
        cell[0 if b.label == chosen else 1] += b.count
        cell[2], cell[3] = min(cell[2], b.low), max(cell[3], b.high)
    keys = sorted(merged)
    same = [merged[k][2] == merged[k][3] for k in keys]
    return curves_from_counts(
        scores=[merged[k][2] if one else k / grid for k, one in zip(keys, same, strict=True)],
        positives=[int(merged[k][0]) for k in keys],
        negatives=[int(merged[k][1]) for k in keys],
        labels=pair, positive=chosen, exact=all(same),
    )


def threshold_metrics(curves: BinaryCurves, *, threshold: float) -> ThresholdMetrics:
    """The confusion matrix, accuracy, precision, recall and F1 at ``threshold``.

    A prediction is positive when its positive-class score is ``>= threshold``.

    Raises:
        QualityError: the threshold is not a number between 0 and 1.
    """
    if not 0.0 <= threshold <= 1.0:
        raise QualityError(f"threshold must be between 0 and 1, got {threshold}")
    above = curves.thresholds >= threshold - _TOLERANCE
    tp = int(curves.positives[above].sum())
    fp = int(curves.negatives[above].sum())
    fn = curves.n_positive - tp
    tn = curves.n_negative - fp
    n = tp + fp + fn + tn
    if curves.positive == curves.labels[1]:
        matrix = np.array([[tn, fp], [fn, tp]], dtype=np.int64)
    else:
        matrix = np.array([[tp, fn], [fp, tn]], dtype=np.int64)
    return ThresholdMetrics(
        threshold=threshold, labels=curves.labels, positive=curves.positive, matrix=matrix,
        true_positives=tp, false_positives=fp, false_negatives=fn, true_negatives=tn,
        accuracy=(tp + tn) / n if n else None,
        precision=(tp / (tp + fp) if tp + fp else 0.0) if n else None,
        recall=(tp / (tp + fn) if tp + fn else 0.0) if n else None,
        f1=(2 * tp / (2 * tp + fp + fn) if tp else 0.0) if n else None,
        fpr=fp / (fp + tn) if fp + tn else None,
    )


def binary_curves(
    *,
    engine: Engine,
    model: str,
    version: int | None = None,
    positive: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    grid: int = DEFAULT_BINS,
) -> BinaryCurves:
    """The curves of a binary ``model`` (one version, or all) on predictions in ``[since, until)``.

    Args:
        engine: the store.
        model: the model's name.
        version: one version number (``None``: every version).
        positive: the positive class (default: the model's second class label).
        since: only predictions made at or after this time.
        until: only predictions made before this time.
        grid: bins of the unit interval the scores are grouped into.

    Raises:
        RegistryError: no such model, or no such version of it.
        QualityError: the model is not binary, or ``positive`` is not one of its classes.
    """
    from db.repositories import quality as store
    from db.repositories import registry
    from db.session import session_scope

    if grid < 1:
        raise QualityError(f"grid must be at least 1, got {grid}")
    with session_scope(engine) as session:
        found = registry.get_model(session=session, name=model)
        labels = [str(c) for c in found.class_labels]
        _, chosen = _pair(labels, positive)
        version_id = registry.version_row_id(session=session, model=found, version=version)
        bins = store.score_bins(session=session, model_id=found.id, version_id=version_id,
                                positive=chosen, bins=grid, since=since, until=until)
    return curves_from_bins(bins, labels=labels, positive=chosen, grid=grid)
