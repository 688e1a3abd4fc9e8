"""One column of one sample, prepared once for every drift test that reads it.

Missing values (``NaN``, ``None``, infinities) are counted and left out: a numeric column
keeps its finite values sorted, a categorical one its categories (as text) and their
counts. Every statistic in :mod:`services.drift.stattests` reads these arrays, so a column
is sorted or counted once however many tests and windows read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.drift.errors import DriftError

__all__ = [
    "CATEGORICAL",
    "NUMERIC",
    "FloatArray",
    "IntArray",
    "Kind",
    "Sample",
    "aligned_counts",
    "categorical_sample",
    "distinct_union",
    "numeric_sample",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Kind = Literal["numeric", "categorical"]

NUMERIC: Kind = "numeric"
CATEGORICAL: Kind = "categorical"


@dataclass(frozen=True)
class Sample:
    """One column of one sample, prepared once for any number of tests.

    Numeric: ``values`` are the finite values, sorted. Categorical: ``categories`` (as
    strings, sorted) and their ``counts``. ``missing`` counts the values left out.
    """

    kind: Kind
    missing: int
    values: FloatArray = field(default_factory=lambda: np.empty(0))
    categories: tuple[str, ...] = ()
    counts: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def size(self) -> int:
        """Values that take part in the tests (missing ones excluded)."""
        if self.kind == NUMERIC:
            return int(self.values.size)
        return int(self.counts.sum())

    @cached_property
    def distinct(self) -> FloatArray:
        """Sorted distinct values of a numeric sample (a categorical one has
        ``categories``)."""
        v = self.values
        if v.size == 0:
            return v
        keep = np.empty(v.size, dtype=bool)
        keep[0] = True
        np.not_equal(v[1:], v[:-1], out=keep[1:])
        return v[keep]

    def distinct_count(self, cap: int) -> int:
        """Distinct values, exact up to ``cap``; ``cap + 1`` means "more than ``cap``".

        A continuous column answers from an evenly spaced subset of its sorted values
        (a subset cannot have more distinct values than the whole); only a column with
        few values is counted in full.
        """
        if self.kind == CATEGORICAL:
            return min(len(self.categories), cap + 1)
        v = self.values
        if v.size > 4 * (cap + 1):
            probe = v[:: max(1, v.size // (8 * (cap + 1)))]
            if int(np.count_nonzero(probe[1:] != probe[:-1])) + 1 > cap:
                return cap + 1
        return min(int(self.distinct.size), cap + 1)


def numeric_sample(values: Any) -> Sample:
    """Prepare a numeric column: missing and infinite values counted and dropped, sorted.

    Raises:
        DriftError: a value is not a number.
    """
    try:
        array = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise DriftError(f"a numeric column holds a value that is not a number ({exc})") from exc
    finite = np.isfinite(array)
    kept = array[finite] if not finite.all() else array
    return Sample(kind=NUMERIC, missing=int(array.size - kept.size), values=np.sort(kept))


def categorical_sample(values: Any) -> Sample:
    """Prepare a categorical column: counts per category (as text); ``None``/NaN and
    infinities are missing. A whole float is written as an integer, so ``1.0`` (an integer
    column that turned float because of a gap) is the category ``1``."""
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    counts = series.value_counts(dropna=True, sort=False)
    by_text: dict[str, int] = {}
    for key, count in zip(counts.index, counts.to_numpy(dtype=np.int64).tolist(), strict=True):
        if isinstance(key, str):
            text = key
        elif isinstance(key, float):
            if not math.isfinite(key):
                continue  # counted as missing below
            text = str(int(key)) if key.is_integer() else str(key)
        else:
            text = str(key)
        by_text[text] = by_text.get(text, 0) + count
    categories = sorted(by_text)
    return Sample(
        kind=CATEGORICAL,
        missing=int(series.size - sum(by_text.values())),
        categories=tuple(categories),
        counts=np.array([by_text[c] for c in categories], dtype=np.int64),
    )


def distinct_union(reference: Sample, current: Sample, *, cap: int) -> int:
    """Distinct values of both samples together, exact up to ``cap`` (more: ``cap + 1``).

    Categorical samples are always counted exactly.
    """
    if reference.kind == CATEGORICAL:
        return len(set(reference.categories) | set(current.categories))
    if reference.distinct_count(cap) > cap or current.distinct_count(cap) > cap:
        return cap + 1
    return int(np.union1d(reference.distinct, current.distinct).size)


def aligned_counts(reference: Sample, current: Sample) -> tuple[FloatArray, FloatArray]:
    """Count of each distinct value of either sample, aligned, for both samples.

    The values are sorted (categories as text), so index 0 is the smallest value seen on
    either side; a value one side never had counts 0 there.
    """
    if reference.kind == CATEGORICAL:
        keys = sorted(set(reference.categories) | set(current.categories))
        index = {k: i for i, k in enumerate(keys)}
        ref = np.zeros(len(keys))
        cur = np.zeros(len(keys))
        ref[[index[k] for k in reference.categories]] = reference.counts
        cur[[index[k] for k in current.categories]] = current.counts
        return ref, cur
    keys_f = np.union1d(reference.distinct, current.distinct)
    return _counts_at(reference.values, keys_f), _counts_at(current.values, keys_f)


def _counts_at(sorted_values: FloatArray, keys: FloatArray) -> FloatArray:
    """How many of ``sorted_values`` equal each of the sorted ``keys``."""
    right = np.searchsorted(sorted_values, keys, side="right")
    left = np.searchsorted(sorted_values, keys, side="left")
    return (right - left).astype(np.float64)
