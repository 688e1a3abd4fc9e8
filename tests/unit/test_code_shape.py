"""The app's code stays readable: no module over 400 lines and no function over 60.

A module or function that must stay whole says why in a comment starting ``# whole:``: for
a function on the line just above its ``def`` (or its first decorator), for a module in its
first ten lines. Tests, benchmarks and migrations are not checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from services.settings import PROJECT_ROOT

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
APP_CODE = ("services", "db", "dashboard", "pages", "devstack")
EXEMPT = "# whole:"


def _app_sources() -> list[Path]:
    files = [p for folder in APP_CODE for p in (PROJECT_ROOT / folder).rglob("*.py")
             if "migrations" not in p.parts]
    return sorted([*files, PROJECT_ROOT / "app.py", PROJECT_ROOT / "server.py"])


def _oversized(source: str) -> list[str]:
    """What breaks the limits in one module's source, without a ``# whole:`` reason."""
    lines = source.splitlines()
    found = []
    if len(lines) > MAX_MODULE_LINES and not any(
            line.lstrip().startswith(EXEMPT) for line in lines[:10]):
        found.append(f"module: {len(lines)} lines")
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        above = lines[first - 2].lstrip() if first >= 2 else ""
        if length > MAX_FUNCTION_LINES and not above.startswith(EXEMPT):
            found.append(f"{node.name} (line {node.lineno}): {length} lines")
    return found


def test_no_module_or_function_of_the_app_is_oversized() -> None:
    offenders = {
        str(path.relative_to(PROJECT_ROOT)): found
        for path in _app_sources()
        if (found := _oversized(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def _function(name: str, body_lines: int, *, comment: str = "") -> str:
    body = "".join(f"    x{i} = {i}\n" for i in range(body_lines))
    return f"{comment}def {name}() -> None:\n{body}"


@pytest.mark.parametrize(("source", "expected"), [
    (_function("short", MAX_FUNCTION_LINES - 1), []),
    (_function("long", MAX_FUNCTION_LINES), [f"long (line 1): {MAX_FUNCTION_LINES + 1} lines"]),
    (_function("kept", MAX_FUNCTION_LINES, comment="# whole: one table of cases\n"), []),
    ("import functools\n\n# whole: one table\n@functools.cache\n"
     + _function("cached", MAX_FUNCTION_LINES), []),
    ("import functools\n\n@functools.cache\n" + _function("cached", MAX_FUNCTION_LINES),
     [f"cached (line 4): {MAX_FUNCTION_LINES + 1} lines"]),
    ("x = 1\n" * (MAX_MODULE_LINES + 1), [f"module: {MAX_MODULE_LINES + 1} lines"]),
    ("# whole: generated table\n" + "x = 1\n" * MAX_MODULE_LINES, []),
])
def test_the_check_finds_oversized_code_unless_a_reason_is_given(
        source: str, expected: list[str]) -> None:
    assert _oversized(source) == expected
