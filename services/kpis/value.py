"""The money of a confusion matrix and the cost of serving it, from a model's :class:`ValueTable`.

A matrix is as :func:`services.quality.metrics.matrix_from_counts` builds it: rows are true
labels, columns predicted classes, both in the order of ``labels``. Its value is the sum over
cells of count × money of the cell. The same functions take an *expected* matrix of floats
(a label-free estimate's expected counts), so measured and estimated value are computed alike.

Cost is what serving and labelling took: ``cpu_seconds / 3600 × cpu_hour + labels × label``.
Both are also given per 1,000 predictions, the figure that compares periods of different
traffic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.kpis.value_config import ValueTable

__all__ = [
    "CellValue", "Money", "ValueBreakdown", "cost", "cost_per_1000", "expected_value",
    "outcome_value", "per_1000", "value_breakdown",
]

Matrix = npt.NDArray[np.int64] | npt.NDArray[np.float64]


@dataclass(frozen=True)
class Money:
    """An amount in a currency (a 3-letter code)."""

    amount: float
    currency: str

    def __str__(self) -> str:
        return f"{self.amount:,.2f} {self.currency}"


@dataclass(frozen=True)
class CellValue:
    """One cell of the breakdown: how many predictions fell in it and what they were worth."""

    true: str
    predicted: str
    count: float  # a whole number for a measured matrix, an expectation for an estimate
    unit: float  # money of one prediction in this cell
    total: Money  # count × unit


@dataclass(frozen=True)
class ValueBreakdown:
    """The value of a matrix: its total, each cell, and per 1,000 predictions."""

    total: Money
    cells: tuple[CellValue, ...]  # row by row, in the order of the labels
    predictions: float  # the matrix's sum
    per_1000: Money | None  # None when there were no predictions


def value_breakdown(matrix: Matrix, labels: Sequence[str], table: ValueTable
                    ) -> ValueBreakdown:
    """The value of ``matrix`` (counts or expected counts) under ``table``, cell by cell.

    Raises:
        ValueError: the matrix is not square of ``len(labels)``, or holds a negative or
            non-finite count.
        ValueConfigError: the table names a class outside ``labels``.
    """
    counts = _checked(matrix, labels)
    table.check_classes(labels)
    cells: list[CellValue] = []
    for i, true in enumerate(labels):
        for j, predicted in enumerate(labels):
            count = float(counts[i, j])
            unit = table.money(true, predicted)
            cells.append(CellValue(true=true, predicted=predicted, count=count, unit=unit,
                                   total=Money(count * unit, table.currency)))
    total = Money(math.fsum(cell.total.amount for cell in cells), table.currency)
    predictions = float(counts.sum())
    return ValueBreakdown(total=total, cells=tuple(cells), predictions=predictions,
                          per_1000=per_1000(total, predictions=predictions))


def outcome_value(matrix: Matrix, labels: Sequence[str], table: ValueTable) -> Money:
    """The money of a measured confusion matrix: sum over cells of count × money.

    Raises:
        ValueError, ValueConfigError: as :func:`value_breakdown`.
    """
    return value_breakdown(matrix, labels, table).total


def expected_value(prob_matrix: Matrix, labels: Sequence[str], table: ValueTable) -> Money:
    """The money of an *expected* confusion matrix (floats: expected counts per cell).

    The same sum as :func:`outcome_value`; a separate name so an estimate reads as one.

    Raises:
        ValueError, ValueConfigError: as :func:`value_breakdown`.
    """
    return value_breakdown(prob_matrix, labels, table).total


def cost(cpu_seconds: float, labels: float, table: ValueTable) -> Money:
    """What serving and labelling cost: ``cpu_seconds / 3600 × cpu_hour + labels × label``.

    ``labels`` is the number of labels collected (not the classes).

    Raises:
        ValueError: a negative or non-finite CPU time or label count.
    """
    _non_negative(cpu_seconds, "CPU seconds")
    _non_negative(labels, "label count")
    return Money(cpu_seconds / 3600.0 * table.cpu_hour + labels * table.label, table.currency)


def cost_per_1000(cpu_seconds: float, labels: float, table: ValueTable, *,
                  predictions: float) -> Money | None:
    """:func:`cost` per 1,000 predictions; None when there were none.

    Raises:
        ValueError: as :func:`cost`, or a negative prediction count.
    """
    return per_1000(cost(cpu_seconds, labels, table), predictions=predictions)


def per_1000(money: Money, *, predictions: float) -> Money | None:
    """``money`` per 1,000 predictions; None for no predictions (no figure, not 0 or inf)."""
    _non_negative(predictions, "prediction count")
    if predictions == 0:
        return None
    return Money(money.amount * 1000.0 / predictions, money.currency)


def _checked(matrix: Matrix, labels: Sequence[str]) -> npt.NDArray[np.float64]:
    counts = np.asarray(matrix, dtype=np.float64)
    size = len(labels)
    if counts.shape != (size, size):
        raise ValueError(f"a confusion matrix of {size} classes must be {size}×{size}, "
                         f"not {'×'.join(map(str, counts.shape))}")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("a confusion matrix holds counts: finite and not negative")
    return counts


def _non_negative(value: float, what: str) -> None:
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"the {what} must be a finite number, not negative (got {value!r})")
