"""SQL is built only in ``db/``: the domain, the local stack and the dashboard call
repository functions (``db/repositories/``) and never build a statement themselves.

This test reads their sources and refuses every import of SQLAlchemy's statement builders
(the expression language: ``select``, ``insert``, ``func``, ``and_``, ``text``, ...; the
dialects' own ``insert``; the ORM's ``aliased``), whatever the spelling (``from sqlalchemy
import select``, ``import sqlalchemy as sa`` then ``sa.select``), and raw SQL handed to
the driver (``exec_driver_sql``). Types (``Engine``, ``Session``) and the exceptions of
``sqlalchemy.exc`` stay allowed: passing a session to a repository, or catching what it
raises, builds no SQL.
"""

from __future__ import annotations

import ast
import types
from pathlib import Path

import sqlalchemy.sql.expression

from services.settings import PROJECT_ROOT

ROOT = PROJECT_ROOT
FOLDERS = ("services", "devstack", "dashboard", "pages")


def _sqlalchemy_builders() -> frozenset[str]:
    """Every public name of SQLAlchemy's expression language (what builds a statement or a
    part of one), so a builder added by an upgrade is refused too."""
    module = sqlalchemy.sql.expression
    names = set()
    for name in dir(module):
        value = getattr(module, name)
        origin = getattr(value, "__module__", None) or type(value).__module__
        if (not name.startswith("_") and not isinstance(value, types.ModuleType)
                and str(origin).startswith("sqlalchemy")):
            names.add(name)
    return frozenset(names)


#: Names that build SQL, wherever in ``sqlalchemy`` they are imported from.
BUILDERS = _sqlalchemy_builders() | {"aliased", "with_parent", "with_polymorphic", "Query",
                                     "inspect", "DDL"}
#: Modules made only of SQL builders: nothing may be imported from them.
BUILDER_MODULES = ("sqlalchemy.sql", "sqlalchemy.dialects", "sqlalchemy.future")
#: Connection methods that run SQL text given by the caller.
RAW_SQL = {"exec_driver_sql"}


def _sources() -> list[Path]:
    files = [p for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))]
    files += [p for p in (ROOT / "app.py", ROOT / "server.py") if p.exists()]
    return files


def _within(module: str, parents: tuple[str, ...]) -> bool:
    return any(module == parent or module.startswith(f"{parent}.") for parent in parents)


def _import_problems(node: ast.Import | ast.ImportFrom, aliases: set[str]) -> list[str]:
    """What an import brings in that builds SQL; records the names bound to SQLAlchemy
    modules in ``aliases`` (their attributes are checked where used)."""
    if isinstance(node, ast.Import):
        problems = []
        for alias in node.names:
            if _within(alias.name, BUILDER_MODULES):
                problems.append(f"import {alias.name}")
            elif _within(alias.name, ("sqlalchemy",)):
                aliases.add(alias.asname or alias.name.split(".")[0])
        return problems
    module = node.module or ""
    if node.level or not _within(module, ("sqlalchemy",)):
        return []
    if _within(module, BUILDER_MODULES):
        return [f"from {module} import {', '.join(a.name for a in node.names)}"]
    return [f"from {module} import {a.name}" for a in node.names if a.name in BUILDERS]


def sql_builder_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, what)`` for every statement builder a module imports or uses."""
    found: list[tuple[int, str]] = []
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found += [(node.lineno, what) for what in _import_problems(node, aliases)]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        if node.attr in RAW_SQL:
            found.append((node.lineno, f".{node.attr}(...)"))
        root = node.value
        while isinstance(root, ast.Attribute):
            root = root.value
        if node.attr in BUILDERS and isinstance(root, ast.Name) and root.id in aliases:
            found.append((node.lineno, f"{ast.unparse(node)}"))
    return sorted(found)


def test_only_the_store_builds_sql() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {what} (move the statement into db/repositories/)"
        for path in _sources()
        for line, what in sql_builder_uses(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert offenders == []


def test_the_check_recognises_every_spelling() -> None:
    source = "\n".join([
        "from sqlalchemy import Engine, select",                        # 1
        "from sqlalchemy.exc import IntegrityError",                    # 2: allowed
        "from sqlalchemy.orm import Session, aliased",                  # 3
        "from sqlalchemy.dialects.postgresql import insert",            # 4
        "import sqlalchemy as sa",                                      # 5: a type may follow
        "query = sa.func.count()",                                      # 6
        "engine: sa.Engine",                                            # 7: allowed
        "from sqlalchemy import and_, or_, case, literal, bindparam",   # 8
        "conn.exec_driver_sql('DELETE FROM feedback')",                 # 9
        "import sqlalchemy.sql.expression",                             # 10
        "from sqlalchemy import text as raw",                           # 11
        "from sqlalchemy import update, delete, func",                  # 12
        "from .select import helper",                                   # 13: not SQLAlchemy
    ])
    lines = [line for line, _ in sql_builder_uses(ast.parse(source))]
    assert lines == [1, 3, 4, 6, 8, 8, 8, 8, 8, 9, 10, 11, 12, 12, 12]


def test_the_builders_include_what_the_store_uses() -> None:
    assert {"select", "insert", "update", "delete", "text", "func", "and_", "or_", "case",
            "literal", "literal_column", "bindparam", "exists", "union_all"} <= BUILDERS
    assert not {"Engine", "Connection", "Session", "IntegrityError"} & BUILDERS
