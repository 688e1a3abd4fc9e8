"""Validation of prediction inputs against a model's feature schema.

A schema is a list of ``{"name": str, "type": "number" | "category", "categories": [...]}``;
``categories`` is informative (unseen categories are allowed: they are drift, not errors).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["MAX_CATEGORY_CHARS", "FeatureError", "check_category", "validate_record"]

#: The longest category value accepted anywhere a value enters (``/predict``, imports), in
#: characters. Real categories are short words; a longer value is a mistake or an attack.
MAX_CATEGORY_CHARS = 1_000


class FeatureError(ValueError):
    """One input field is missing, unexpected or of the wrong type."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def check_category(field: str, value: str) -> str:
    """``value`` if it is a category value we store: at most :data:`MAX_CATEGORY_CHARS`
    characters of valid Unicode text (no lone surrogate, which JSON's ``\\udc80`` escapes can
    carry and no encoder accepts).

    Raises:
        FeatureError: naming ``field``.
    """
    if len(value) > MAX_CATEGORY_CHARS:
        raise FeatureError(
            field, f"is {len(value):,} characters long; at most {MAX_CATEGORY_CHARS:,}"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FeatureError(field, "is not valid text (it holds a lone surrogate)") from None
    return value


def _number(field: str, value: int | float) -> float:
    try:
        number = float(value)  # a huge int overflows here, before any check could
    except OverflowError:
        raise FeatureError(field, "is too large for a number") from None
    if not math.isfinite(number):
        raise FeatureError(field, "must be a finite number")
    return number


def validate_record(
    schema: Sequence[Mapping[str, Any]], record: Mapping[str, Any]
) -> dict[str, Any]:
    """Check one input record and return it with numbers as floats.

    Raises:
        FeatureError: naming the first offending field.
    """
    if not isinstance(record, Mapping):
        raise FeatureError("features", "must be an object of feature name to value")
    names = [str(spec["name"]) for spec in schema]
    extra = sorted(set(record) - set(names))
    if extra:
        raise FeatureError(str(extra[0]), "is not a feature of this model")
    clean: dict[str, Any] = {}
    for spec in schema:
        name = str(spec["name"])
        if name not in record:
            raise FeatureError(name, "is missing")
        value = record[name]
        if spec["type"] == "number":
            # bool is an int subclass; true/false is not a number here.
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise FeatureError(name, f"must be a number, got {type(value).__name__}")
            clean[name] = _number(name, value)
        else:
            if not isinstance(value, str):
                raise FeatureError(name, f"must be a string, got {type(value).__name__}")
            clean[name] = check_category(name, value)
    return clean
