"""Every drift test the engine knows, and the rule that picks one for a column.

A test is a module of :mod:`services.drift.stattests` (its ``compute`` function) and one
line of :data:`STAT_TESTS` here, which says everything else about it: whether its figure
is a p-value (drift below the threshold) or a distance (drift at or above it), whether
exactly the threshold counts as drift, its default threshold and the column kinds it can
judge. Adding a test is one new module plus one line of that table.

The automatic choice (:func:`choose_test`) follows Evidently's documented defaults (its
``DataDriftPreset``), so a verdict here is the verdict a team already trusts:

* reference with at most 1,000 rows (missing values not counted):

  - numeric column with more than 5 distinct values (reference and current together):
    two-sample Kolmogorov–Smirnov, drifted when ``p <= 0.05``;
  - numeric column with 3 to 5 values, categorical column with more than 2: chi-square of
    the current counts against the reference shares, drifted when ``p < 0.05``;
  - at most 2 values: a two-proportion Z-test, drifted when ``p < 0.05``;

* larger reference:

  - numeric column with more than 5 values: Wasserstein-1 distance divided by the
    reference's standard deviation (at least 0.001), drifted when ``>= 0.1``;
  - any other column: Jensen–Shannon distance (natural logarithm) of the two value
    distributions, drifted when ``>= 0.1``.

PSI is never chosen automatically; a configuration can name it (drifted when ``>= 0.1``).
A column's *score* puts every test on one scale, 1 at its threshold: the statistic over
the threshold for distances, ``log p / log threshold`` for p-values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from services.drift.samples import CATEGORICAL, NUMERIC, Kind, Sample, distinct_union
from services.drift.stattests import chisquare, jensenshannon, ks, psi, wasserstein, z

__all__ = [
    "ANY_KIND",
    "FEW_VALUES",
    "NUMERIC_ONLY",
    "SMALL_REFERENCE_ROWS",
    "STAT_TESTS",
    "Compute",
    "StatTest",
    "automatic_test",
    "choose_test",
]

#: Reference rows up to which p-value tests are used (Evidently's rule).
SMALL_REFERENCE_ROWS = 1000
#: Up to this many distinct values a numeric column is tested like a categorical one.
FEW_VALUES = 5
#: Smallest p-value a score is computed from (keeps ``log p`` finite).
_P_FLOOR = 1e-300

ANY_KIND: frozenset[Kind] = frozenset({NUMERIC, CATEGORICAL})
NUMERIC_ONLY: frozenset[Kind] = frozenset({NUMERIC})


class Compute(Protocol):
    """A test's function: the figure it reports for two samples of the same kind."""

    def __call__(self, reference: Sample, current: Sample, *, exact: bool) -> float:
        """The p-value or distance (see :mod:`services.drift.stattests`)."""
        ...


@dataclass(frozen=True)
class StatTest:
    """What the engine knows about one test besides its function.

    Attributes:
        compute: the ``compute`` function of its module in :mod:`services.drift.stattests`.
        p_value: True when the figure is a p-value (drift below the threshold), False when
            it is a distance (drift above it).
        threshold: the default threshold.
        kinds: the column kinds it can judge.
        drifted_at_threshold: whether a figure exactly at the threshold is drift.
    """

    compute: Compute
    p_value: bool
    threshold: float
    kinds: frozenset[Kind]
    drifted_at_threshold: bool

    @property
    def sign(self) -> str:
        """How the figure compares with the threshold when the column drifted: ``≤``,
        ``<``, ``≥`` or ``>``."""
        if self.p_value:
            return "≤" if self.drifted_at_threshold else "<"
        return "≥" if self.drifted_at_threshold else ">"

    def drifted(self, statistic: float, threshold: float) -> bool:
        """Whether ``statistic`` is drift at ``threshold`` (NaN never is)."""
        if statistic == threshold:
            return self.drifted_at_threshold
        return statistic < threshold if self.p_value else statistic > threshold

    def score(self, statistic: float, threshold: float) -> float:
        """1 at the threshold, growing with the evidence of drift: ``log p / log
        threshold`` for a p-value (infinite for a threshold of 1 or more), the statistic
        over the threshold for a distance."""
        if self.p_value:
            if threshold >= 1.0:
                return math.inf
            return math.log(max(statistic, _P_FLOOR)) / math.log(threshold)
        return statistic / threshold


#: Every test a column can be given, by the name a configuration uses.
STAT_TESTS: dict[str, StatTest] = {
    "ks": StatTest(ks.compute, p_value=True, threshold=0.05, kinds=NUMERIC_ONLY,
                   drifted_at_threshold=True),
    "chisquare": StatTest(chisquare.compute, p_value=True, threshold=0.05, kinds=ANY_KIND,
                          drifted_at_threshold=False),
    "z": StatTest(z.compute, p_value=True, threshold=0.05, kinds=ANY_KIND,
                  drifted_at_threshold=False),
    "wasserstein": StatTest(wasserstein.compute, p_value=False, threshold=0.1,
                            kinds=NUMERIC_ONLY, drifted_at_threshold=True),
    "jensenshannon": StatTest(jensenshannon.compute, p_value=False, threshold=0.1,
                              kinds=ANY_KIND, drifted_at_threshold=True),
    "psi": StatTest(psi.compute, p_value=False, threshold=0.1, kinds=ANY_KIND,
                    drifted_at_threshold=True),
}


def choose_test(kind: Kind, reference_rows: int, distinct_values: int) -> str:
    """The test Evidently's preset picks for a column.

    Args:
        kind: numeric or categorical.
        reference_rows: non-missing reference values.
        distinct_values: distinct non-missing values of reference and current together.
    """
    many_values = kind == NUMERIC and distinct_values > FEW_VALUES
    if reference_rows <= SMALL_REFERENCE_ROWS:
        if many_values:
            return "ks"
        return "chisquare" if distinct_values > 2 else "z"
    return "wasserstein" if many_values else "jensenshannon"


def automatic_test(reference: Sample, current: Sample) -> str:
    """:func:`choose_test` for two prepared samples of a column, neither empty."""
    distinct = distinct_union(reference, current, cap=FEW_VALUES)
    return choose_test(reference.kind, reference.size, distinct)
