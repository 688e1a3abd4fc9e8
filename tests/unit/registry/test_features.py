"""Input validation names the offending field."""

from __future__ import annotations

import math

import pytest

from services.registry.features import (
    MAX_CATEGORY_CHARS,
    FeatureError,
    check_category,
    validate_record,
)

SCHEMA = [
    {"name": "tenure_months", "type": "number"},
    {"name": "plan", "type": "category", "categories": ["basic", "pro"]},
]


def test_a_valid_record_comes_back_with_floats() -> None:
    assert validate_record(SCHEMA, {"tenure_months": 3, "plan": "pro"}) == {
        "tenure_months": 3.0,
        "plan": "pro",
    }


def test_unseen_categories_are_accepted_as_drift_not_errors() -> None:
    assert validate_record(SCHEMA, {"tenure_months": 1.0, "plan": "enterprise"})["plan"] == (
        "enterprise"
    )


@pytest.mark.parametrize(
    ("record", "field", "fragment"),
    [
        ({"plan": "pro"}, "tenure_months", "missing"),
        ({"tenure_months": 1, "plan": "pro", "age": 3}, "age", "not a feature"),
        ({"tenure_months": "3", "plan": "pro"}, "tenure_months", "number"),
        ({"tenure_months": True, "plan": "pro"}, "tenure_months", "number"),
        ({"tenure_months": math.nan, "plan": "pro"}, "tenure_months", "finite"),
        ({"tenure_months": 1, "plan": 2}, "plan", "string"),
        ({"tenure_months": 10**400, "plan": "pro"}, "tenure_months", "too large"),
        ({"tenure_months": 1, "plan": "x" * (MAX_CATEGORY_CHARS + 1)}, "plan", "at most 1,000"),
        ({"tenure_months": 1, "plan": "pro\udc80"}, "plan", "lone surrogate"),
    ],
)
def test_bad_fields_are_named(record: dict[str, object], field: str, fragment: str) -> None:
    with pytest.raises(FeatureError) as info:
        validate_record(SCHEMA, record)
    assert info.value.field == field
    assert fragment in info.value.message


def test_a_category_of_the_longest_length_and_any_script_is_kept() -> None:
    longest = "é" * MAX_CATEGORY_CHARS
    assert check_category("plan", longest) == longest
    assert check_category("plan", "客户 😀") == "客户 😀"
