"""Drift between a reference sample and a current one, column by column and for the dataset.

A column is given the test its configuration names or, by default, the one
:mod:`services.drift.registry` chooses; PSI (:mod:`services.drift.stattests.psi`) is
reported for every column, whatever its test. A column with no value left on one side
(missing values are left out, see :mod:`services.drift.samples`) is reported as not tested,
never an error. Categories seen only in the current sample are listed. The dataset has
drifted when the share of drifted columns among the tested ones reaches ``drift_share``
(0.5 by default).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from services.drift.errors import DriftError
from services.drift.registry import STAT_TESTS, automatic_test
from services.drift.samples import (
    CATEGORICAL,
    NUMERIC,
    Kind,
    Sample,
    categorical_sample,
    numeric_sample,
)
from services.drift.stattests import psi

__all__ = [
    "DEFAULT_DRIFT_SHARE",
    "ColumnConfig",
    "ColumnDrift",
    "DatasetDrift",
    "check_columns",
    "column_drift",
    "compare",
    "compare_frames",
    "infer_kinds",
]

DEFAULT_DRIFT_SHARE = 0.5
#: The test whose figure is also every column's PSI (computed once when it is the test).
_PSI_TEST = "psi"
#: Threads that prepare columns (sorting and counting release the GIL).
_WORKERS = 2


@dataclass(frozen=True)
class ColumnConfig:
    """A per-column override of the automatic choice (either part may be left out)."""

    test: str | None = None
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.test is not None and self.test not in STAT_TESTS:
            raise DriftError(
                f"unknown drift test {self.test!r}; use one of {', '.join(STAT_TESTS)}")
        if self.threshold is not None and not (
            math.isfinite(self.threshold) and self.threshold > 0
        ):
            raise DriftError(f"a drift threshold must be a positive number, got {self.threshold}")


@dataclass(frozen=True)
class ColumnDrift:
    """The verdict on one column.

    ``statistic`` is a p-value or a distance (or PSI), as the test's entry in
    :data:`services.drift.registry.STAT_TESTS` says; ``score`` is 1 at the threshold and
    grows with the evidence of drift; both are ``None`` when the column could not be
    tested (``note`` says why).
    """

    column: str
    kind: Kind
    test: str
    statistic: float | None
    threshold: float
    drifted: bool
    score: float | None
    psi: float | None
    reference_rows: int
    current_rows: int
    reference_missing: int
    current_missing: int
    new_categories: tuple[str, ...] = ()
    note: str = ""

    @property
    def tested(self) -> bool:
        return self.statistic is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "test": self.test,
            "statistic": _finite_or_none(self.statistic),
            "threshold": self.threshold,
            "drifted": self.drifted,
            "score": _finite_or_none(self.score),
            "psi": _finite_or_none(self.psi),
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "reference_missing": self.reference_missing,
            "current_missing": self.current_missing,
            "new_categories": list(self.new_categories),
            "note": self.note,
        }


@dataclass(frozen=True)
class DatasetDrift:
    """Every column's verdict and the dataset's."""

    columns: tuple[ColumnDrift, ...]
    drift_share: float

    @property
    def tested(self) -> int:
        return sum(1 for c in self.columns if c.tested)

    @property
    def drifted_columns(self) -> int:
        return sum(1 for c in self.columns if c.drifted)

    @property
    def drifted_share(self) -> float:
        return self.drifted_columns / self.tested if self.tested else 0.0

    @property
    def drifted(self) -> bool:
        return self.tested > 0 and self.drifted_share >= self.drift_share

    def column(self, name: str) -> ColumnDrift:
        for c in self.columns:
            if c.column == name:
                return c
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [c.to_json() for c in self.columns],
            "dataset": {
                "drifted_share": self.drifted_share,
                "drifted": self.drifted,
                "drift_share": self.drift_share,
                "drifted_columns": self.drifted_columns,
                "tested_columns": self.tested,
                "columns": len(self.columns),
            },
        }


def _finite_or_none(value: float | None) -> float | None:
    """JSON has no infinity: an infinite statistic is written as a very large number."""
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return math.copysign(1.7976931348623157e308, value)
    return value


# --------------------------------------------------------------------------- one column


def column_drift(
    name: str,
    reference: Sample,
    current: Sample,
    *,
    config: ColumnConfig | None = None,
    exact_ks: bool = True,
) -> ColumnDrift:
    """Test one column.

    Args:
        name: the column's name (reported back).
        reference, current: the prepared samples (same kind).
        config: a test and/or threshold instead of the automatic ones.
        exact_ks: use SciPy's exact KS p-value where SciPy would (False: its asymptotic
            distribution, much faster for many small windows).

    Raises:
        DriftError: the two samples are of different kinds, or the configured test
            cannot judge this kind of column.
    """
    config = config or ColumnConfig()
    _check_fit(name, reference, current, config)
    new = tuple(sorted(set(current.categories) - set(reference.categories)))
    base: dict[str, Any] = {
        "column": name,
        "kind": reference.kind,
        "reference_rows": reference.size,
        "current_rows": current.size,
        "reference_missing": reference.missing,
        "current_missing": current.missing,
        "new_categories": new,
    }
    if reference.size == 0 or current.size == 0:
        return _untested(base, config, side="reference" if reference.size == 0
                         else "current sample")
    test = config.test or automatic_test(reference, current)
    spec = STAT_TESTS[test]
    threshold = config.threshold if config.threshold is not None else spec.threshold
    statistic = spec.compute(reference, current, exact=exact_ks)
    return ColumnDrift(
        **base,
        test=test,
        statistic=statistic,
        threshold=threshold,
        drifted=spec.drifted(statistic, threshold),
        score=spec.score(statistic, threshold),
        psi=statistic if test == _PSI_TEST else psi.psi(reference, current),
        note=_note(new, reference, current),
    )


def _untested(base: dict[str, Any], config: ColumnConfig, *, side: str) -> ColumnDrift:
    """The verdict on a column with no values on ``side``: its configured test (else
    ``-``) and threshold, nothing computed."""
    test = config.test or "-"
    spec = STAT_TESTS.get(test)
    threshold = config.threshold or (spec.threshold if spec is not None else 0.0)
    return ColumnDrift(**base, test=test, statistic=None, threshold=threshold, drifted=False,
                       score=None, psi=None, note=f"not tested: no values in the {side}")


def _check_fit(name: str, reference: Sample, current: Sample, config: ColumnConfig) -> None:
    """Both samples are of one kind, and the configured test (if any) can judge it."""
    if reference.kind != current.kind:
        raise DriftError(f"column {name!r} is {reference.kind} in the reference and "
                         f"{current.kind} in the current sample")
    if config.test is not None and reference.kind not in STAT_TESTS[config.test].kinds:
        raise DriftError(f"test {config.test!r} cannot judge the {reference.kind} column {name!r}")


def _note(new: tuple[str, ...], reference: Sample, current: Sample) -> str:
    """New categories and missing values of a tested column, in words."""
    notes = []
    if new:
        notes.append(f"{len(new)} categor{'y' if len(new) == 1 else 'ies'} not in the reference")
    if reference.missing or current.missing:
        notes.append(f"missing values left out: {reference.missing} reference, "
                     f"{current.missing} current")
    return "; ".join(notes)


# --------------------------------------------------------------------------- the dataset


def compare(
    reference: Mapping[str, Sample],
    current: Mapping[str, Sample],
    *,
    config: Mapping[str, ColumnConfig] | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    exact_ks: bool = True,
) -> DatasetDrift:
    """Test every column of ``reference`` (in its order) against ``current``.

    Raises:
        DriftError: the two samples do not have the same columns, ``drift_share`` is not
            in (0, 1], or a column's configuration does not fit it.
    """
    _check_share(drift_share)
    _same_columns(list(reference), list(current), what="samples",
                  only_reference="not in the current sample", only_current="not in the reference")
    config = config or {}
    return DatasetDrift(
        columns=tuple(
            column_drift(name, reference[name], current[name], config=config.get(name),
                        exact_ks=exact_ks)
            for name in reference
        ),
        drift_share=drift_share,
    )


def _same_columns(reference: Sequence[Any], current: Sequence[Any], *, what: str,
                  only_reference: str, only_current: str) -> None:
    """Raise :class:`DriftError` naming the columns of only one side, each side's in order."""
    ref_set, cur_set = set(reference), set(current)
    if ref_set == cur_set:
        return
    parts = [f"{label}: {', '.join(map(str, names))}" for label, names in (
        (only_reference, [c for c in reference if c not in cur_set]),
        (only_current, [c for c in current if c not in ref_set])) if names]
    raise DriftError(f"the {what} have different columns (" + "; ".join(parts) + ")")


def _check_share(drift_share: float) -> None:
    if not (0.0 < drift_share <= 1.0):
        raise DriftError(f"the drift share must be in (0, 1], got {drift_share}")


# --------------------------------------------------------------------------- data frames


def _frame_sample(frame: pd.DataFrame, name: str, kind: Kind) -> Sample:
    if kind == NUMERIC:
        return numeric_sample(frame[name].to_numpy(dtype=np.float64, na_value=np.nan))
    return categorical_sample(frame[name])


def infer_kinds(
    frames: Iterable[pd.DataFrame], columns: Iterable[str], categorical: Collection[str]
) -> dict[str, Kind]:
    """Numeric unless listed as categorical or not of a numeric type in some frame."""
    frames = list(frames)
    kinds: dict[str, Kind] = {}
    for name in columns:
        numeric = name not in categorical and all(
            pd.api.types.is_numeric_dtype(f[name]) and not pd.api.types.is_bool_dtype(f[name])
            for f in frames
        )
        kinds[name] = NUMERIC if numeric else CATEGORICAL
    return kinds


def check_columns(
    reference: Sequence[Any], current: Sequence[Any], categorical: Collection[str] = ()
) -> None:
    """Both files have the same columns (in any order), and ``categorical`` names some of them.

    Raises:
        DriftError: naming the columns only in one file, or the unknown categorical ones.
    """
    _same_columns(reference, current, what="files", only_reference="only in the reference",
                  only_current="only in the current file")
    ref_set = set(reference)
    unknown = [c for c in categorical if c not in ref_set]
    if unknown:
        raise DriftError(f"--categorical names columns the files do not have: {', '.join(unknown)}")


def compare_frames(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    categorical: Collection[str] = (),
    config: Mapping[str, ColumnConfig] | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
) -> DatasetDrift:
    """Compare two data frames with the same columns.

    A column is categorical when listed in ``categorical`` or when its type is not
    numeric in either frame (text, booleans); numeric otherwise.

    Raises:
        DriftError: the frames' columns differ, or see :func:`compare`.
    """
    _check_share(drift_share)
    ref_cols = list(reference.columns)
    check_columns(ref_cols, list(current.columns), categorical)
    kinds = infer_kinds((reference, current), ref_cols, categorical)
    config = config or {}

    def one(name: str) -> ColumnDrift:
        return column_drift(name, _frame_sample(reference, name, kinds[name]),
                            _frame_sample(current, name, kinds[name]),
                            config=config.get(name))

    # Column by column on two threads: sorting and counting release the GIL.
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        columns = tuple(pool.map(one, ref_cols))
    return DatasetDrift(columns=columns, drift_share=drift_share)
