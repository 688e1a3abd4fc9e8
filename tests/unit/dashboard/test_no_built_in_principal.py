"""The dashboard acts only as the signed-in user, never as one of the built-in admins.

``SYSTEM`` and ``CLI`` are admin principals for local processes (the demo launcher, the
command line), ``FEEDBACK_API`` the labeler behind the inference service's ``POST
/feedback``. A page or dashboard module that imported them could skip the sign-in, so this
test reads their source and refuses any use.
"""

from __future__ import annotations

import ast
from pathlib import Path

from services.settings import PROJECT_ROOT

ROOT = PROJECT_ROOT
BUILT_IN = {"SYSTEM", "CLI", "FEEDBACK_API"}


def _ui_sources() -> list[Path]:
    files = [p for folder in ("dashboard", "pages") for p in (ROOT / folder).rglob("*.py")]
    files += [p for p in (ROOT / "app.py", ROOT / "server.py") if p.exists()]
    return files


def _is_use(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").startswith(("services.access", "services.auth")) and any(
            alias.name in BUILT_IN for alias in node.names)
    return isinstance(node, ast.Attribute) and node.attr in BUILT_IN


def _uses_built_in_principal(tree: ast.AST) -> list[int]:
    return sorted(node.lineno for node in ast.walk(tree) if _is_use(node))  # type: ignore[attr-defined]


def test_ui_code_never_acts_as_a_built_in_admin() -> None:
    offenders = {
        str(path.relative_to(ROOT)): lines
        for path in _ui_sources()
        if (lines := _uses_built_in_principal(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert offenders == {}


def test_the_check_recognises_both_forms() -> None:
    source = ("from services.access import SYSTEM\nimport services.access as a\n"
              "x = a.principal.CLI\n")
    assert _uses_built_in_principal(ast.parse(source)) == [1, 3]
