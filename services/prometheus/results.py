"""What a Prometheus query answers: its series, and their parsing from the API's JSON.

Prometheus sends sample values as strings (``"1.5"``, ``"NaN"``, ``"+Inf"``); here they
become floats, with ``NaN`` and ``±inf`` kept as such so a chart can leave a gap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "InstantResult",
    "InstantSeries",
    "NotAnInstantResultError",
    "RangeResult",
    "RangeSeries",
    "instant_series",
    "range_series",
]


@dataclass(frozen=True)
class InstantSeries:
    """One series of an instant query: its labels and value."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels and points.

    ``values`` holds ``float("nan")`` where Prometheus answered ``NaN`` (e.g. a quantile
    without observations) and ``±inf`` for ``±Inf``; a step without a sample is simply
    absent from ``times``.
    """

    labels: Mapping[str, str]
    times: tuple[float, ...]  # unix seconds
    values: tuple[float, ...]


@dataclass(frozen=True)
class InstantResult:
    """An instant query's series and the warnings Prometheus sent with them."""

    samples: list[InstantSeries]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class RangeResult:
    """A range query's series and the warnings Prometheus sent with them."""

    series: list[RangeSeries]
    warnings: tuple[str, ...]


class NotAnInstantResultError(ValueError):
    """An instant query answered with a range vector or a string."""


def instant_series(data: Any) -> list[InstantSeries]:
    """The series of an instant query's ``data`` (a vector, or a scalar as one series).

    Raises:
        NotAnInstantResultError: the query returns a range vector.
        KeyError, IndexError, TypeError, ValueError: ``data`` is not a query result.
    """
    kind = data["resultType"]
    result = data["result"]
    if kind == "vector":
        return [
            InstantSeries(labels=_labels(item.get("metric", {})),
                          value=_number(item["value"][1]))
            for item in result
        ]
    if kind == "scalar":
        return [InstantSeries(labels={}, value=_number(result[1]))]
    if kind == "matrix":
        raise NotAnInstantResultError(
            "the query returns a range vector (drop the [..] or use a range query)"
        )
    raise ValueError(f"resultType {kind!r}")


def range_series(data: Any) -> list[RangeSeries]:
    """The series of a range query's ``data``.

    Raises:
        KeyError, IndexError, TypeError, ValueError: ``data`` is not a range query result.
    """
    if data["resultType"] != "matrix":
        raise ValueError(f"resultType {data['resultType']!r}")
    return [_one_range_series(item) for item in data["result"]]


def _one_range_series(item: Any) -> RangeSeries:
    # Native-histogram points ("histograms") are not drawn; their series have no values.
    points = item.get("values", [])
    return RangeSeries(
        labels=_labels(item.get("metric", {})),
        times=tuple(float(p[0]) for p in points),
        values=tuple(_number(p[1]) for p in points),
    )


def _labels(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise TypeError("metric is not an object")
    return {str(k): str(v) for k, v in raw.items()}


def _number(raw: Any) -> float:
    # Prometheus sends sample values as strings: "1.5", "NaN", "+Inf", "-Inf".
    if not isinstance(raw, str | int | float):
        raise TypeError("sample value is not a number")
    value = float(raw)
    return math.nan if math.isnan(value) else value
