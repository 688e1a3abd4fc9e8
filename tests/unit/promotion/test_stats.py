"""The paired statistics of a promotion: McNemar's exact test and the paired bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from services.promotion.stats import mcnemar_exact, paired_difference

LABELS = ["stays", "churns"]
# (label, baseline's answer, candidate's answer, count)
CELLS = [
    ("stays", "stays", "stays", 50),
    ("stays", "stays", "churns", 4),
    ("stays", "churns", "stays", 9),
    ("churns", "churns", "churns", 20),
    ("churns", "stays", "churns", 12),
    ("churns", "churns", "stays", 3),
    ("churns", "stays", "stays", 2),
]


def _rows(cells: list[tuple[str, str, str, int]]) -> tuple[list[str], list[str], list[str]]:
    truth, base, cand = [], [], []
    for label, a, b, n in cells:
        truth += [label] * n
        base += [a] * n
        cand += [b] * n
    return truth, base, cand


@pytest.mark.parametrize(("b", "c", "expected"), [
    # min(b, c) = 1 of 6 fair coins, both tails: 2 * (C(6,0) + C(6,1)) / 2**6 = 14 / 64
    (1, 5, 14 / 64),
    (5, 1, 14 / 64),
    # none of 10 on one side: 2 * 1 / 2**10
    (0, 10, 2 / 1024),
    # 2 of 9: 2 * (1 + 9 + 36) / 512 = 92 / 512
    (2, 7, 92 / 512),
    # evenly split: as likely as can be
    (3, 3, 1.0),
    (0, 1, 1.0),
])
def test_mcnemar_exact_matches_the_binomial_tail_by_hand(b: int, c: int,
                                                         expected: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_without_disagreements_has_nothing_to_test() -> None:
    assert mcnemar_exact(0, 0) is None
    with pytest.raises(ValueError, match="discordant"):
        mcnemar_exact(-1, 2)


def test_point_differences_equal_scikit_learn_on_the_rows() -> None:
    truth, base, cand = _rows(CELLS)
    diff = paired_difference(CELLS, LABELS, bootstrap=0, seed=0, confidence=0.95)
    assert diff.accuracy == pytest.approx(
        accuracy_score(truth, cand) - accuracy_score(truth, base), abs=1e-12)
    macro = [f1_score(truth, x, labels=LABELS, average="macro", zero_division=0)
             for x in (cand, base)]
    assert diff.macro_f1 == pytest.approx(macro[0] - macro[1], abs=1e-12)
    assert diff.accuracy_low is None
    assert diff.macro_f1_high is None


def test_a_class_nobody_predicts_counts_as_zero_f1_like_scikit_learn() -> None:
    labels = ["a", "b", "c"]
    cells = [("a", "a", "a", 5), ("b", "a", "b", 3), ("c", "a", "a", 2)]
    truth, base, cand = _rows(cells)
    diff = paired_difference(cells, labels, bootstrap=0, seed=0, confidence=0.95)
    macro = [f1_score(truth, x, labels=labels, average="macro", zero_division=0)
             for x in (cand, base)]
    assert diff.macro_f1 == pytest.approx(macro[0] - macro[1], abs=1e-12)


def test_the_bootstrap_interval_holds_the_point() -> None:
    diff = paired_difference(CELLS, LABELS, bootstrap=2000, seed=3, confidence=0.95)
    assert diff.accuracy is not None
    assert diff.macro_f1 is not None
    assert diff.accuracy_low is not None
    assert diff.accuracy_high is not None
    assert diff.macro_f1_low is not None
    assert diff.macro_f1_high is not None
    assert diff.accuracy_low <= diff.accuracy <= diff.accuracy_high
    assert diff.macro_f1_low <= diff.macro_f1 <= diff.macro_f1_high
    assert diff.accuracy_low < diff.accuracy_high


def test_identical_versions_differ_by_exactly_nothing() -> None:
    same = [(label, a, a, n) for label, a, _, n in CELLS]
    diff = paired_difference(same, LABELS, bootstrap=500, seed=1, confidence=0.95)
    assert (diff.accuracy, diff.accuracy_low, diff.accuracy_high) == (0.0, 0.0, 0.0)
    assert (diff.macro_f1, diff.macro_f1_low, diff.macro_f1_high) == (0.0, 0.0, 0.0)


def test_equally_good_versions_get_an_interval_around_zero() -> None:
    # Each right where the other is wrong, as often: no difference in truth.
    cells = [("stays", "stays", "stays", 300), ("stays", "stays", "churns", 40),
             ("stays", "churns", "stays", 40), ("churns", "churns", "churns", 200),
             ("churns", "stays", "churns", 25), ("churns", "churns", "stays", 25)]
    diff = paired_difference(cells, LABELS, bootstrap=2000, seed=0, confidence=0.95)
    assert diff.accuracy == 0.0
    assert diff.accuracy_low is not None
    assert diff.accuracy_high is not None
    assert diff.accuracy_low < 0.0 < diff.accuracy_high


def test_pairing_makes_the_interval_narrower_than_two_independent_samples() -> None:
    # The versions agree on almost every row: the paired interval of the difference is
    # far narrower than the two accuracies' own uncertainty would suggest.
    cells = [("stays", "stays", "stays", 400), ("churns", "churns", "churns", 300),
             ("churns", "stays", "stays", 250), ("churns", "stays", "churns", 30),
             ("stays", "stays", "churns", 20)]
    diff = paired_difference(cells, LABELS, bootstrap=2000, seed=0, confidence=0.95)
    assert diff.accuracy_low is not None
    assert diff.accuracy_high is not None
    n = sum(c[3] for c in cells)
    p = (400 + 300) / n
    independent_width = 2 * 1.96 * np.sqrt(2 * p * (1 - p) / n)
    assert diff.accuracy_high - diff.accuracy_low < independent_width / 2


def test_the_same_seed_gives_the_same_interval() -> None:
    one = paired_difference(CELLS, LABELS, bootstrap=1000, seed=7, confidence=0.9)
    again = paired_difference(CELLS, LABELS, bootstrap=1000, seed=7, confidence=0.9)
    assert one == again


def test_a_wider_confidence_gives_a_wider_interval() -> None:
    narrow = paired_difference(CELLS, LABELS, bootstrap=2000, seed=0, confidence=0.5)
    wide = paired_difference(CELLS, LABELS, bootstrap=2000, seed=0, confidence=0.99)
    assert narrow.accuracy_low is not None
    assert narrow.accuracy_high is not None
    assert wide.accuracy_low is not None
    assert wide.accuracy_high is not None
    assert wide.accuracy_low <= narrow.accuracy_low
    assert wide.accuracy_high >= narrow.accuracy_high


def test_no_shared_row_gives_no_figure() -> None:
    diff = paired_difference([], LABELS, bootstrap=100, seed=0, confidence=0.95)
    assert diff.accuracy is None
    assert diff.accuracy_low is None
    assert diff.macro_f1 is None


@pytest.mark.parametrize(("cells", "kwargs", "message"), [
    ([("stays", "maybe", "stays", 1)], {}, "outside the model's classes"),
    ([("stays", "stays", "stays", -1)], {}, ">= 0"),
    (CELLS, {"bootstrap": -1}, "bootstrap"),
    (CELLS, {"confidence": 1.0}, "confidence"),
])
def test_bad_inputs_are_refused_with_a_message(
        cells: list[tuple[str, str, str, int]], kwargs: dict[str, float], message: str) -> None:
    args = {"bootstrap": 10, "seed": 0, "confidence": 0.95, **kwargs}
    with pytest.raises(ValueError, match=message):
        paired_difference(cells, LABELS, **args)  # type: ignore[arg-type]
