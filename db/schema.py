"""Migrations (Alembic) and the check that refuses to run on a stale schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = ["UPGRADE_COMMAND", "SchemaError", "alembic_config", "check_schema", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The command that brings a database to the schema this code expects.
UPGRADE_COMMAND = "python -m services.cli init-db"


class SchemaError(RuntimeError):
    """The database schema is missing or not the one this code expects."""


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` using the project's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % must be doubled.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest migration revision in the code."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` when it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Apply every pending migration to the database behind ``engine``."""
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
