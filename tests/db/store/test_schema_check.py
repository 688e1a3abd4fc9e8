"""The schema check gives Alembic's answers without importing Alembic: the code's newest
revision read from the migration files, the database's from the version table; Alembic
answers (or refuses) when the history is not one plain line or the table holds several."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

import db.schema
from db.schema import SchemaError, alembic_config, check_schema, current_revision, head_revision
from db.session import make_engine
from services.settings import Settings


def _alembic_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _migrations(folder: Path, follows: dict[str, str | tuple[str, ...] | None]) -> Path:
    """A migrations folder whose revisions follow each other as ``follows`` says."""
    versions = folder / "versions"
    versions.mkdir(parents=True)
    for revision, down in follows.items():
        (versions / f"{revision}_step.py").write_text(
            f'"""step {revision}"""\n\nrevision: str = {revision!r}\n'
            f"down_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
            "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n",
            encoding="utf-8")
    return folder


def test_the_newest_revision_is_alembics() -> None:
    assert head_revision() == _alembic_head()


def test_the_databases_revision_is_alembics(engine: Engine) -> None:
    with engine.connect() as conn:
        assert current_revision(engine) == MigrationContext.configure(conn).get_current_revision()
    assert current_revision(engine) == head_revision()
    check_schema(engine)


@pytest.mark.sqlite_only  # an empty new file
def test_a_database_never_migrated_has_no_revision(settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    try:
        assert current_revision(engine) is None
        with pytest.raises(SchemaError, match="no opsdash schema yet"):
            check_schema(engine)
    finally:
        engine.dispose()


def test_a_history_with_a_merge_is_alembics_head(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _migrations(tmp_path, {"a1": None, "b2": "a1", "c3": "a1", "d4": ("b2", "c3")})
    monkeypatch.setattr(db.schema, "MIGRATIONS_DIR", folder)
    assert head_revision() == "d4" == _alembic_head()


def test_a_linear_history_out_of_file_order_gives_its_last(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _migrations(tmp_path, {"zz": None, "mm": "zz", "aa": "mm"})
    monkeypatch.setattr(db.schema, "MIGRATIONS_DIR", folder)
    assert head_revision() == "aa" == _alembic_head()


def test_two_heads_in_the_code_are_refused_as_alembic_refuses_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _migrations(tmp_path, {"a1": None, "b2": "a1", "c3": "a1"})
    monkeypatch.setattr(db.schema, "MIGRATIONS_DIR", folder)
    with pytest.raises(CommandError, match="multiple heads"):
        head_revision()


def test_several_revisions_stored_are_refused_as_alembic_refuses_them(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES ('0000')")
    with pytest.raises(CommandError, match="more than one head"):
        current_revision(engine)
