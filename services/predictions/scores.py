"""The class probabilities of an imported prediction row: read, checked and completed.

A row gives its scores in ``score_<class>`` columns. Blank cells are absent scores; the
scores given must be probabilities of the model's classes that sum to at most 1 (to 1
when every class has one). One missing class is filled in as the rest of 1; the
predicted class must end up with a score, which is the row's ``top_score``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.predictions.files import cell_blank, cell_number
from services.registry.log_columns import SCORE_PREFIX

__all__ = ["SCORE_PREFIX", "SUM_TOLERANCE", "score_columns", "score_vector"]

#: How far the scores of a row may sum away from 1.
SUM_TOLERANCE = 0.01


def score_columns(columns: Iterable[str]) -> dict[str, str]:
    """Class to its score column, for every ``score_<class>`` column of a file."""
    return {c[len(SCORE_PREFIX):]: c for c in columns
            if c.startswith(SCORE_PREFIX) and len(c) > len(SCORE_PREFIX)}


def score_vector(
    *,
    model: str,
    classes: Sequence[str],
    columns: Mapping[str, str],
    cells: Mapping[str, Any],
    predicted: str | None,
    without_scores: bool,
    errors: list[str],
) -> tuple[dict[str, float], float] | None:
    """The row's scores in class order and the predicted class's score.

    Args:
        model: the model's name, for messages.
        classes: its class labels, in probability-vector order.
        columns: class to score column (:func:`score_columns`).
        cells: the row's cells by column.
        predicted: the predicted class, ``None`` when it is not valid.
        without_scores: a row without any score is ``({}, 1.0)`` instead of an error.
        errors: the row's problems; what is wrong with its scores is added.

    Returns:
        ``(scores, top score)``, or ``None`` when the row cannot be stored.
    """
    given = _given_scores(model, classes, columns, cells, errors)
    if given is None or predicted is None:
        return None
    if not given:
        if not without_scores:
            errors.append("no score for any class (or import with --without-scores)")
            return None
        return {}, 1.0
    return _completed(classes, given, predicted, errors)


def _given_scores(model: str, classes: Sequence[str], columns: Mapping[str, str],
                  cells: Mapping[str, Any], errors: list[str]) -> dict[str, float] | None:
    """The non-blank scores of the row; ``None`` when any is not a valid probability."""
    given: dict[str, float] = {}
    bad = False
    for cls, column in columns.items():
        value = cells.get(column)
        if cell_blank(value):
            continue
        number = cell_number(value)
        if cls not in classes:
            errors.append(f"{column}: {cls!r} is not a class of {model}")
        elif number is None or not 0.0 <= number <= 1.0:
            errors.append(f"{column} {value!r} is not a probability between 0 and 1")
        else:
            given[cls] = number
            continue
        bad = True
    return None if bad else given


def _completed(classes: Sequence[str], given: dict[str, float], predicted: str,
               errors: list[str]) -> tuple[dict[str, float], float] | None:
    """Check the sum, fill in one missing class, and find the predicted class's score."""
    total = math.fsum(given.values())
    missing = [c for c in classes if c not in given]
    if not missing and abs(total - 1.0) > SUM_TOLERANCE:
        errors.append(f"the scores of all classes sum to {total:.4g}, not 1")
        return None
    if total > 1.0 + SUM_TOLERANCE:
        errors.append(f"the scores sum to {total:.4g}, more than 1")
        return None
    if len(missing) == 1:
        given[missing[0]] = min(1.0, max(0.0, 1.0 - total))
    if predicted not in given:
        errors.append(f"no score for the predicted class {predicted!r} (give "
                      f"{SCORE_PREFIX}{predicted}, or every class but one)")
        return None
    return {c: given[c] for c in classes if c in given}, given[predicted]
