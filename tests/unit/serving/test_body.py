"""The bounded JSON parser of request bodies: depth counted as the parser sees it, strings
skipped whatever they hold, over-long integers kept unparsed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.serving.body import MAX_INT_DIGITS, MAX_JSON_DEPTH, BodyError, TooManyDigits, loads

TRICKY = st.text(alphabet=st.sampled_from(list('[]{}"\\ aé\u2028\n\t/')), max_size=12)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
    max_leaves=40,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def _nest(depth: int, inner: Any) -> Any:
    for level in range(depth):
        inner = [inner] if level % 2 else {"k[{\"": inner}
    return inner


@given(value=VALUES, ensure_ascii=st.booleans())
def test_any_document_within_the_depth_parses_to_itself(value: Any, ensure_ascii: bool) -> None:
    body = json.dumps(_nest(MAX_JSON_DEPTH - _depth(value), value),
                      ensure_ascii=ensure_ascii).encode()

    assert loads(body) == json.loads(body)


@given(value=VALUES)
def test_one_level_more_is_refused_naming_the_depth(value: Any) -> None:
    body = json.dumps(_nest(MAX_JSON_DEPTH + 1 - _depth(value), value)).encode()

    with pytest.raises(BodyError, match=f"{MAX_JSON_DEPTH + 1} levels deep; at most"):
        loads(body)


def test_brackets_in_strings_with_escaped_quotes_and_backslashes_do_not_count() -> None:
    text = '\\"[[[' * 50 + "\\\\" + "{" * 50
    body = json.dumps({"a": [text, {"b": text}]}).encode()

    assert loads(body) == {"a": [text, {"b": text}]}


def test_an_integer_over_the_digit_limit_is_kept_unparsed() -> None:
    allowed = "9" * MAX_INT_DIGITS
    over = "-" + "9" * 5_000

    assert loads(f"[{allowed}, {over}]".encode()) == [int(allowed), TooManyDigits(5_000)]


@pytest.mark.parametrize(("body", "message"), [
    (b'{"a": "\xff"}', "is not UTF-8 text (byte 7)"),
    (b'{"a": ', "is not valid JSON"),
    (b"[" * 200_000, "200,000 levels deep"),
])
def test_bodies_that_cannot_be_parsed_say_why(body: bytes, message: str) -> None:
    with pytest.raises(BodyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        loads(body)
