"""The scores of one imported row, checked without a file (the file-level cases are in
test_rows)."""

from __future__ import annotations

from typing import Any

import pytest

from services.predictions.scores import score_columns, score_vector

CLASSES = ("low", "mid", "high")
COLUMNS = score_columns(["prediction_id", "score_", "score_low", "score_mid", "score_high",
                         "score_extra"])


def _scores(cells: dict[str, Any], predicted: str | None = "low", *,
            without_scores: bool = False) -> tuple[Any, list[str]]:
    errors: list[str] = []
    found = score_vector(model="triage", classes=CLASSES, columns=COLUMNS, cells=cells,
                         predicted=predicted, without_scores=without_scores, errors=errors)
    return found, errors


def test_score_columns_name_their_class() -> None:
    assert COLUMNS == {"low": "score_low", "mid": "score_mid", "high": "score_high",
                       "extra": "score_extra"}


def test_a_full_vector_comes_back_in_class_order_with_the_top_score() -> None:
    found, errors = _scores({"score_high": 0.2, "score_low": 0.5, "score_mid": "0.3"})
    assert found == ({"low": 0.5, "mid": 0.3, "high": 0.2}, 0.5)
    assert errors == []


def test_one_missing_class_is_the_rest_of_one() -> None:
    found, errors = _scores({"score_low": 0.25, "score_mid": 0.5, "score_high": ""},
                            predicted="high")
    assert found == ({"low": 0.25, "mid": 0.5, "high": 0.25}, 0.25)
    assert errors == []


@pytest.mark.parametrize(
    ("cells", "predicted", "message"),
    [
        ({"score_extra": 0.1, "score_low": 0.9}, "low", "score_extra: 'extra' is not a class"),
        ({"score_low": "x"}, "low", "score_low 'x' is not a probability between 0 and 1"),
        ({"score_low": 0.5, "score_mid": 0.3, "score_high": 0.3}, "low",
         "the scores of all classes sum to 1.1, not 1"),
        ({"score_low": 0.9, "score_mid": 0.2}, "low", "the scores sum to 1.1, more than 1"),
        ({"score_low": 0.5}, "high", "no score for the predicted class 'high'"),
        ({}, "low", "no score for any class (or import with --without-scores)"),
    ],
)
def test_each_problem_is_said_and_nothing_is_returned(cells: dict[str, Any], predicted: str,
                                                      message: str) -> None:
    found, errors = _scores(cells, predicted)
    assert found is None
    [error] = errors
    assert message in error


def test_every_bad_score_of_a_row_is_listed() -> None:
    found, errors = _scores({"score_low": -1, "score_mid": 2, "score_extra": 0.1})
    assert found is None
    assert len(errors) == 3


def test_an_invalid_predicted_class_gives_no_vector_and_no_further_problem() -> None:
    assert _scores({"score_low": 0.5, "score_mid": 0.5}, predicted=None) == (None, [])


def test_without_scores_a_row_without_any_is_certain() -> None:
    assert _scores({"score_low": None}, without_scores=True) == (({}, 1.0), [])
