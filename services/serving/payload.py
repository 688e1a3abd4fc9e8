"""The ``POST /predict`` body: parsing, shape checks and feature validation.

Single: ``{"model": "<name>", "features": {...}}``.
Batch: ``{"model": "<name>", "instances": [{...}, ...]}`` (at most :data:`MAX_INSTANCES`).

Every problem names the field it is about (and the instance, in a batch), so a 422
answer says exactly what to fix. The body is parsed by :func:`services.serving.body.loads`
(depth bounded, over-long integers named); each category value is at most
``MAX_CATEGORY_CHARS`` and all of a request's together at most :data:`MAX_REQUEST_TEXT_CHARS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.registry.features import FeatureError, validate_record
from services.serving.body import BodyError, TooManyDigits, loads

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_INSTANCES",
    "MAX_REQUEST_TEXT_CHARS",
    "PayloadError",
    "PredictRequest",
    "Problem",
    "parse_request",
    "validate_records",
]

#: Most instances one batch request may carry.
MAX_INSTANCES = 1000
#: Largest request body accepted, in bytes.
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Most problems listed in one answer (a bad batch can have one per instance).
MAX_PROBLEMS = 100
#: Most characters of category values one request may carry, all records together (each
#: value is also at most ``MAX_CATEGORY_CHARS``): what a request can add to the store.
MAX_REQUEST_TEXT_CHARS = 200_000

_REQUEST_FIELDS = ("model", "features", "instances")


@dataclass(frozen=True)
class Problem:
    """One reason a request was refused.

    Attributes:
        field: the offending field (a feature name, or ``model``/``features``/``instances``).
        message: what is wrong with it.
        instance: index in ``instances`` for a batch request, else ``None``.
    """

    field: str
    message: str
    instance: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The problem as it appears in the ``detail`` list of a 422 answer."""
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.instance is not None:
            out["instance"] = self.instance
        return out


class PayloadError(ValueError):
    """The request cannot be scored; ``problems`` says why, ``model`` names it if it could."""

    def __init__(self, problems: Sequence[Problem], *, model: str | None = None) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = tuple(problems)
        self.model = model


@dataclass(frozen=True)
class PredictRequest:
    """A request whose shape is right; its records are not yet checked against a schema."""

    model: str
    records: tuple[Any, ...]
    batch: bool


def parse_request(body: bytes) -> PredictRequest:
    """Parse and shape-check a request body.

    Raises:
        PayloadError: the body is not JSON, not an object, or its fields are wrong.
    """
    data = _json_object(body)
    problems: list[Problem] = []
    model = data.get("model")
    if "model" not in data:
        problems.append(Problem("model", "is missing"))
    elif not isinstance(model, str) or not model:
        problems.append(Problem("model", "must be a non-empty string"))
    problems.extend(
        Problem(str(key), "is not a request field; expected model and features or instances")
        for key in sorted(set(data) - set(_REQUEST_FIELDS), key=str)
    )
    records = _records(data, problems)
    name = model if isinstance(model, str) and model else None
    if problems:
        raise PayloadError(problems, model=name)
    assert name is not None
    return PredictRequest(model=name, records=records, batch="instances" in data)


def _json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, refused whole when it is too large or not one."""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadError([Problem("body", f"is larger than {MAX_BODY_BYTES} bytes")])
    try:
        data = loads(body)
    except BodyError as exc:
        raise PayloadError([Problem("body", exc.message)]) from None
    if not isinstance(data, dict):
        raise PayloadError([Problem("body", "must be a JSON object")])
    return data


def _records(data: dict[str, Any], problems: list[Problem]) -> tuple[Any, ...]:
    """The records of ``features`` (one) or ``instances`` (a list); problems go to ``problems``."""
    has_features, has_instances = "features" in data, "instances" in data
    if has_features and has_instances:
        problems.append(Problem("instances", "give either features or instances, not both"))
    elif not (has_features or has_instances):
        problems.append(
            Problem("features", "is missing; give features (one record) or instances (a list)")
        )
    elif has_features:
        return (data["features"],)
    else:
        instances = data["instances"]
        if not isinstance(instances, list):
            problems.append(Problem("instances", "must be a list of feature objects"))
        elif not instances:
            problems.append(Problem("instances", "must not be empty"))
        elif len(instances) > MAX_INSTANCES:
            problems.append(
                Problem("instances", f"has {len(instances)} items; at most {MAX_INSTANCES}")
            )
        else:
            return tuple(instances)
    return ()


def validate_records(
    schema: Sequence[Mapping[str, Any]], request: PredictRequest
) -> list[dict[str, Any]]:
    """Check every record of ``request`` against the model's feature schema.

    Returns:
        The records with numbers as floats, in request order.

    Raises:
        PayloadError: listing the first offending field of each bad record, or the whole
            request when its category values hold more than :data:`MAX_REQUEST_TEXT_CHARS`.
    """
    clean: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for index, record in enumerate(request.records):
        try:
            clean.append(validate_record(schema, record))
        except FeatureError as exc:
            problems.append(Problem(exc.field, _message(record, exc),
                                    index if request.batch else None))
            if len(problems) >= MAX_PROBLEMS:
                break
    if problems:
        raise PayloadError(problems, model=request.model)
    text = sum(len(value) for record in clean for value in record.values()
               if isinstance(value, str))
    if text > MAX_REQUEST_TEXT_CHARS:
        field = "instances" if request.batch else "features"
        raise PayloadError([Problem(field, f"hold {text:,} characters of category values in "
                                           f"all; at most {MAX_REQUEST_TEXT_CHARS:,} in one "
                                           "request (MAX_REQUEST_TEXT_CHARS)")],
                           model=request.model)
    return clean


def _message(record: Any, exc: FeatureError) -> str:
    """``exc``'s message, in words when the value is an integer left unparsed."""
    value = record.get(exc.field) if isinstance(record, Mapping) else None
    unparsed = TooManyDigits.__name__
    if not isinstance(value, TooManyDigits) or not exc.message.endswith(unparsed):
        return exc.message
    if exc.message.startswith("must be a number"):
        return f"is too large for a number ({value.digits:,} digits)"
    return exc.message.replace(unparsed, "int")
