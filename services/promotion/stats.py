"""Paired statistics of two versions on the same labelled predictions.

The input is the store's grouped cells ``(label, answer of the baseline, answer of the
candidate, count)``: every shared labelled prediction falls in one cell. Because both
versions answered the same rows, their difference is estimated *paired*: each bootstrap
resample draws the shared rows again (a multinomial over the cells with the observed
shares) and computes both versions' figures on that same resample, so the interval of the
difference reflects how the two move together, not two independent samples' noise.
McNemar's exact test looks only at the rows where exactly one version is right.

Nothing here reads the store; numbers in, numbers out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["PairedDifference", "mcnemar_exact", "paired_difference"]

Cell = tuple[str, str, str, int]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PairedDifference:
    """Candidate minus baseline on the shared rows, each with a percentile interval.

    ``None`` throughout when there is no shared row; the intervals are ``None`` when no
    resampling was asked for (``bootstrap == 0``).
    """

    accuracy: float | None
    accuracy_low: float | None
    accuracy_high: float | None
    macro_f1: float | None
    macro_f1_low: float | None
    macro_f1_high: float | None


def mcnemar_exact(only_baseline_right: int, only_candidate_right: int) -> float | None:
    """Two-sided p-value of McNemar's exact test on the discordant pairs ``b`` and ``c``.

    Under "both versions are equally good" each disagreement where exactly one is right is
    a fair coin, so ``min(b, c)`` follows Binomial(b + c, 1/2); the p-value is the two-sided
    binomial test's (capped at 1). ``None`` without any such disagreement: there is nothing
    to test.

    Raises:
        ValueError: a negative count.
    """
    b, c = only_baseline_right, only_candidate_right
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got {b} and {c}")
    if b + c == 0:
        return None
    from scipy.stats import binomtest

    return float(min(1.0, binomtest(min(b, c), b + c, 0.5).pvalue))


def paired_difference(
    cells: Sequence[Cell],
    labels: Sequence[str],
    *,
    bootstrap: int,
    seed: int,
    confidence: float,
) -> PairedDifference:
    """Accuracy and macro F1 of the candidate minus the baseline's, with paired intervals.

    Args:
        cells: ``(label, baseline answer, candidate answer, count)``; every string one of
            ``labels``.
        labels: the model's classes (macro F1 averages over all of them, as the quality
            report does).
        bootstrap: resamples (0: no intervals).
        seed: seed of the resampling: the same inputs give the same interval.
        confidence: level of the intervals, between 0 and 1.

    Raises:
        ValueError: a cell names a class outside ``labels``, a negative count, or a bad
            ``bootstrap`` or ``confidence``.
    """
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    k = len(labels)
    truth, base, cand, counts = _encode(cells, labels)
    n = int(counts.sum())
    if n == 0:
        return PairedDifference(None, None, None, None, None, None)
    observed = counts[np.newaxis, :].astype(np.int64)
    acc_point, f1_point = _differences(observed, truth, base, cand, k)
    if not bootstrap:
        return PairedDifference(float(acc_point[0]), None, None, float(f1_point[0]), None, None)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, counts / n, size=bootstrap).astype(np.int64)
    acc, f1 = _differences(draws, truth, base, cand, k)
    acc_low, acc_high = _interval(acc, float(acc_point[0]), confidence)
    f1_low, f1_high = _interval(f1, float(f1_point[0]), confidence)
    return PairedDifference(float(acc_point[0]), acc_low, acc_high,
                            float(f1_point[0]), f1_low, f1_high)


def _encode(cells: Sequence[Cell], labels: Sequence[str]
            ) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Class indices of each cell's label and two answers, and the cells' counts."""
    index = {str(label): i for i, label in enumerate(labels)}
    unknown = sorted({x for label, a, b, _ in cells for x in (label, a, b) if x not in index})
    if unknown:
        raise ValueError(f"labels outside the model's classes: {unknown}")
    if any(n < 0 for *_, n in cells):
        raise ValueError("cell counts must be >= 0")
    truth = np.array([index[label] for label, _, _, _ in cells], dtype=np.int64)
    base = np.array([index[a] for _, a, _, _ in cells], dtype=np.int64)
    cand = np.array([index[b] for _, _, b, _ in cells], dtype=np.int64)
    counts = np.array([int(n) for *_, n in cells], dtype=np.int64)
    return truth, base, cand, counts


def _differences(draws: IntArray, truth: IntArray, base: IntArray, cand: IntArray, k: int
                 ) -> tuple[FloatArray, FloatArray]:
    """Per resample (row of ``draws``, counts per cell): accuracy and macro F1 differences."""
    n = draws.sum(axis=1).astype(np.float64)
    acc_base = draws @ (truth == base).astype(np.int64)
    acc_cand = draws @ (truth == cand).astype(np.int64)
    accuracy = _divide(acc_cand - acc_base, n)
    return accuracy, _macro_f1(draws, truth, cand, k) - _macro_f1(draws, truth, base, k)


def _macro_f1(draws: IntArray, truth: IntArray, answer: IntArray, k: int) -> FloatArray:
    """Macro F1 of one version per resample: per class ``2tp / (support + predicted)``,
    0 for a class with neither (scikit-learn's ``zero_division=0``), averaged over ``k``."""
    classes = np.arange(k)
    is_true = (truth[:, np.newaxis] == classes).astype(np.int64)  # (cells, k)
    is_answer = (answer[:, np.newaxis] == classes).astype(np.int64)
    tp = draws @ (is_true * is_answer)  # (resamples, k)
    support = draws @ is_true
    predicted = draws @ is_answer
    f1 = _divide(2.0 * tp, (support + predicted).astype(np.float64))
    result: FloatArray = f1.mean(axis=1)
    return result


def _divide(num: npt.NDArray[np.floating] | IntArray, den: npt.NDArray[np.floating]
            ) -> FloatArray:
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _interval(samples: FloatArray, point: float, confidence: float) -> tuple[float, float]:
    """Percentile interval of ``samples``, stretched to reach ``point`` (as the quality
    report's F1 intervals are: a tiny, discrete sample can sit on one side of it)."""
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return min(float(low), point), max(float(high), point)
