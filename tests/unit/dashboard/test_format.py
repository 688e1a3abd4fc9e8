"""md_text: user text shown literally inside Streamlit markdown."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dashboard.format import NO_LINK, md_text

# Characters that start or end a markdown construct wherever they stand in a line.
ALWAYS_ESCAPED = "<>[]()!*_`$:#|~\\&"
# An escape is a backslash and the one ASCII punctuation character it makes literal.
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _unescaped(rendered: str) -> str:
    return _ESCAPE.sub(r"\1", rendered).replace(NO_LINK, "")


def _escaped_positions(rendered: str) -> list[int]:
    """Indexes, in the unescaped text, of the characters that carry a backslash."""
    rendered = rendered.replace(NO_LINK, "")
    positions, i, j = [], 0, 0
    while i < len(rendered):
        if rendered[i] == "\\":
            positions.append(j)
            i += 1
        i += 1
        j += 1
    return positions


@pytest.mark.parametrize("ch", list(ALWAYS_ESCAPED))
def test_constructs_characters_are_escaped_anywhere_in_a_line(ch: str) -> None:
    assert md_text(f"a{ch}b") == f"a\\{ch}b"
    assert md_text(ch) == f"\\{ch}"


def test_a_link_an_image_html_and_a_directive_come_out_inert() -> None:
    text = "![x](http://e.org) <script>*b*</script> :red[hi] $x$ `c` a|b ~~s~~ # h"
    rendered = md_text(text)
    assert rendered == (
        r"\!\[x\]\(http\:" + NO_LINK + r"//e.org\) \<script\>\*b\*\</script\> \:red\[hi\] "
        r"\$x\$ \`c\` "
        r"a\|b \~\~s\~\~ \# h"
    )


@pytest.mark.parametrize(("text", "expected"), [
    ("https://evil.example/login", f"https\\:{NO_LINK}//evil.example/login"),
    ("see HTTP://x.org", f"see HTTP\\:{NO_LINK}//x.org"),
    ("www.evil.example", f"www{NO_LINK}.evil.example"),
    ("WWW.evil.example", f"WWW{NO_LINK}.evil.example"),
    ("ann@evil.example", f"ann\\@{NO_LINK}evil.example"),
])
def test_an_address_is_kept_from_becoming_a_link(text: str, expected: str) -> None:
    # GitHub-flavoured markdown links bare addresses after escapes are resolved.
    assert md_text(text) == expected


@pytest.mark.parametrize("ch", list("-+=."))
def test_a_leading_list_or_heading_marker_is_escaped(ch: str) -> None:
    assert md_text(f"{ch} item") == f"\\{ch} item"


@pytest.mark.parametrize("text", ["  - item", "\t+ item", "\n- item", "   = x"])
def test_a_marker_after_leading_blanks_is_escaped_too(text: str) -> None:
    # Streamlit strips leading blanks from a body, which would leave the marker first.
    assert md_text(text).lstrip() == "\\" + " ".join(text.splitlines()).lstrip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12. x", r"12\. x"), ("1. x", r"1\. x"), ("  3. x", r"  3\. x"), ("2024.1", r"2024\.1")],
)
def test_digits_then_a_dot_at_the_start_are_not_an_ordered_list(
    text: str, expected: str
) -> None:
    assert md_text(text) == expected


@pytest.mark.parametrize(
    "text", ["ticket-routing", "a.b", "v1.2-rc", "x = y + z", "50% done, ok?", "a/b; 'c' \"d\""]
)
def test_punctuation_inert_inside_a_line_stays_readable(text: str) -> None:
    assert md_text(text) == text


def test_digits_not_at_the_start_do_not_escape_a_dot() -> None:
    assert md_text("v 1.2") == "v 1.2"
    assert md_text("a1.") == "a1."


def test_named_entities_are_shown_as_typed() -> None:
    assert md_text("a &lt; b &amp; c") == r"a \&lt; b \&amp; c"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a\nb", "a b"), ("a\r\nb", "a b"), ("a\rb\u2028c", "a b c"), ("a\n\nb", "a  b")],
)
def test_line_breaks_become_spaces(text: str, expected: str) -> None:
    assert md_text(text) == expected


def test_text_without_punctuation_is_unchanged() -> None:
    assert md_text("Churn model 7 ünïcode") == "Churn model 7 ünïcode"


@given(st.text())
@example("\\")
@example("  1. ~x~ [a](b)")
@example("&#60;script&#62;")
def test_removing_the_escapes_gives_back_the_text(text: str) -> None:
    rendered = md_text(text)
    line = " ".join(text.splitlines()).replace(NO_LINK, "")
    assert "\n" not in rendered
    assert "\r" not in rendered
    assert _unescaped(rendered) == line
    # Every backslash added escapes ASCII punctuation (else CommonMark would show it).
    for index in _escaped_positions(rendered):
        assert line[index] in string.punctuation
    # The characters that form constructs anywhere are escaped wherever they occur.
    escaped = set(_escaped_positions(rendered))
    for index, ch in enumerate(line):
        if ch in ALWAYS_ESCAPED:
            assert index in escaped
    # So is the first character that is not a blank, if it is punctuation.
    first = next((i for i, ch in enumerate(line) if not ch.isspace()), None)
    if first is not None and line[first] in string.punctuation:
        assert first in escaped


@pytest.mark.parametrize(("n_bytes", "text"), [
    (None, "—"), (0, "0 bytes"), (1023, "1,023 bytes"), (1024, "1.0 KiB"),
    (1536, "1.5 KiB"), (5 * 1024 ** 2, "5.0 MiB"), (3 * 1024 ** 3, "3.0 GiB"),
])
def test_sizes_read_in_powers_of_1024(n_bytes: float | None, text: str) -> None:
    from dashboard.format import size

    assert size(n_bytes) == text
