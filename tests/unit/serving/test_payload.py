"""Parsing and validating ``POST /predict`` bodies, every problem naming its field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.serving.payload import (
    MAX_INSTANCES,
    PayloadError,
    PredictRequest,
    Problem,
    parse_request,
    validate_records,
)

SCHEMA = [
    {"name": "age", "type": "number"},
    {"name": "plan", "type": "category", "categories": ["a", "b"]},
]


def _parse(body: Any) -> PredictRequest:
    return parse_request(json.dumps(body).encode())


def _fields(exc: pytest.ExceptionInfo[PayloadError]) -> list[str]:
    return [p.field for p in exc.value.problems]


def test_a_single_request_has_one_record() -> None:
    request = _parse({"model": "m", "features": {"age": 1, "plan": "a"}})

    assert request == PredictRequest(model="m", records=({"age": 1, "plan": "a"},), batch=False)


def test_a_batch_request_keeps_its_records_in_order() -> None:
    request = _parse({"model": "m", "instances": [{"age": 1}, {"age": 2}]})

    assert request.batch
    assert request.records == ({"age": 1}, {"age": 2})


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"features": {}}, ["model"]),
        ({"model": "", "features": {}}, ["model"]),
        ({"model": "m"}, ["features"]),
        ({"model": "m", "features": {}, "instances": []}, ["instances"]),
        ({"model": "m", "instances": {"age": 1}}, ["instances"]),
        ({"model": "m", "instances": [{}] * (MAX_INSTANCES + 1)}, ["instances"]),
        ({"instances": [], "x": 1}, ["model", "x", "instances"]),
        ("just a string", ["body"]),
    ],
)
def test_shape_problems_name_every_offending_field(body: Any, fields: list[str]) -> None:
    with pytest.raises(PayloadError) as exc:
        _parse(body)

    assert _fields(exc) == fields


def test_a_shape_problem_keeps_the_model_name_for_the_metrics() -> None:
    with pytest.raises(PayloadError) as exc:
        _parse({"model": "m"})

    assert exc.value.model == "m"


def test_bytes_that_are_not_json_are_a_body_problem() -> None:
    with pytest.raises(PayloadError) as exc:
        parse_request(b"\xff{")

    assert _fields(exc) == ["body"]


def test_records_are_validated_with_numbers_as_floats() -> None:
    request = _parse({"model": "m", "instances": [{"age": 3, "plan": "z"}]})

    assert validate_records(SCHEMA, request) == [{"age": 3.0, "plan": "z"}]


def test_each_bad_record_of_a_batch_is_reported_with_its_index() -> None:
    request = _parse(
        {
            "model": "m",
            "instances": [{"age": 1, "plan": "a"}, {"age": "1", "plan": "a"}, [], {"age": 1}],
        }
    )

    with pytest.raises(PayloadError) as exc:
        validate_records(SCHEMA, request)

    assert exc.value.problems == (
        Problem("age", "must be a number, got str", 1),
        Problem("features", "must be an object of feature name to value", 2),
        Problem("plan", "is missing", 3),
    )
    assert exc.value.problems[0].as_json() == {
        "field": "age",
        "message": "must be a number, got str",
        "instance": 1,
    }


def test_a_single_record_problem_has_no_instance_index() -> None:
    request = _parse({"model": "m", "features": {"age": 1, "plan": "a", "extra": 0}})

    with pytest.raises(PayloadError) as exc:
        validate_records(SCHEMA, request)

    assert exc.value.problems[0].as_json() == {
        "field": "extra",
        "message": "is not a feature of this model",
    }


@pytest.mark.parametrize(("features", "field", "message"), [
    ('{"age": 1%s, "plan": "a"}', "age", "is too large for a number (5,001 digits)"),
    ('{"age": 1, "plan": 1%s}', "plan", "must be a string, got int"),
    ('{"age": 1, "plan": "a", "zip": 1%s}', "zip", "is not a feature of this model"),
])
def test_an_integer_too_long_to_parse_is_named_where_it_stands(
    features: str, field: str, message: str
) -> None:
    body = '{"model": "m", "features": %s}' % (features % ("0" * 5_000))
    request = parse_request(body.encode())

    with pytest.raises(PayloadError) as exc:
        validate_records(SCHEMA, request)

    assert exc.value.problems == (Problem(field, message),)
