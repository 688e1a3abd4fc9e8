"""Migrations (Alembic) and the check that refuses to run on a stale schema.

The check imports no Alembic (a quarter of a command's start, with its dialects and
templates): it reads the revisions from the migration files' source and the database's
from Alembic's version table, and asks Alembic itself only when those are not plain (a
branched history, several stored heads). Migrating imports Alembic.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, String, column, inspect, select, table

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["UPGRADE_COMMAND", "SchemaError", "alembic_config", "check_schema", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Alembic's table of the revision a database is at (its default name, as env.py keeps it).
VERSION_TABLE = "alembic_version"
#: The command that brings a database to the schema this code expects.
UPGRADE_COMMAND = "python -m services.cli init-db"


class SchemaError(RuntimeError):
    """The database schema is missing or not the one this code expects."""


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` using the project's migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % must be doubled.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _assigned(body: list[ast.stmt]) -> dict[str, list[ast.expr]]:
    """What each simple module-level assignment of ``body`` assigns, by name."""
    assigned: dict[str, list[ast.expr]] = {}
    for node in body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            assigned.setdefault(node.target.id, []).append(node.value)
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0], ast.Name)):
            assigned.setdefault(node.targets[0].id, []).append(node.value)
    return assigned


def _file_revision(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """The migration's revision and the revision it follows (none for the first), from its
    source; ``None`` unless both are assigned once, as plain strings (or ``None``)."""
    assigned = _assigned(ast.parse(path.read_bytes(), filename=str(path)).body)
    revisions, downs = assigned.get("revision", []), assigned.get("down_revision", [])
    if len(revisions) != 1 or len(downs) != 1:
        return None
    try:
        revision, down = ast.literal_eval(revisions[0]), ast.literal_eval(downs[0])
    except (ValueError, TypeError):  # not a literal: a name, a call
        return None
    if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
        return None
    return revision, () if down is None else (down,)


def _head_from_files() -> str | None:
    """The one revision no other migration follows, or ``None`` when the files do not say
    it plainly (a revision not read as plain strings, a branch, a merge, no migration)."""
    follows: dict[str, tuple[str, ...]] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        found = _file_revision(path)
        if found is None:
            return None
        follows[found[0]] = found[1]
    followed = {down for downs in follows.values() for down in downs}
    heads = [revision for revision in follows if revision not in followed]
    return heads[0] if len(heads) == 1 else None


def head_revision() -> str:
    """The newest migration revision in the code."""
    head = _head_from_files()
    if head is None:  # not a plain line of migrations: Alembic's answer, or its error
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` when it was never migrated."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        stored: list[str] = list(conn.scalars(
            select(column("version_num", String)).select_from(table(VERSION_TABLE))))
        if len(stored) <= 1:
            return stored[0] if stored else None
        from alembic.runtime.migration import MigrationContext

        # Several heads stored: Alembic's answer (an error naming them).
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Apply every pending migration to the database behind ``engine``."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaError` with a one-line fix unless the schema is current."""
    current = current_revision(engine)
    head = head_revision()
    if current is None:
        raise SchemaError(f"the database has no opsdash schema yet: run `{UPGRADE_COMMAND}`")
    if current != head:
        raise SchemaError(
            f"the database schema is at revision {current} but this code needs {head}: "
            f"run `{UPGRADE_COMMAND}`"
        )
