"""feedback_history append-only: the database refuses to change or delete label history

A label's history is its audit trail (who set which label when, which conflict was kept
or replaced). The application only adds rows; these triggers make the database refuse an
edit or a deletion from any client, as migration 0002 does for ``audit_log``. Deleting a
prediction that has label history is refused as well (its history would cascade). A
table rebuild in a later SQLite batch migration of ``feedback_history`` drops the
triggers with the old table: such a migration must create them again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

_TABLE = 'feedback_history'
_MESSAGE = f'{_TABLE} is append-only'


def _statements(up: bool) -> list[str]:
    dialect = op.get_context().dialect.name
    if dialect == 'sqlite':
        if not up:
            return [f'DROP TRIGGER IF EXISTS trg_{_TABLE}_no_{what}'
                    for what in ('delete', 'update')]
        return [f"""CREATE TRIGGER trg_{_TABLE}_no_{what} BEFORE {what.upper()} ON {_TABLE}
                BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"""
                for what in ('update', 'delete')]
    if dialect == 'postgresql':
        if not up:
            return [f'DROP TRIGGER IF EXISTS trg_{_TABLE}_no_truncate ON {_TABLE}',
                    f'DROP TRIGGER IF EXISTS trg_{_TABLE}_no_change ON {_TABLE}',
                    f'DROP FUNCTION IF EXISTS {_TABLE}_append_only()']
        return [
            f"""CREATE FUNCTION {_TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'insufficient_privilege';
            END
            $$""",
            f"""CREATE TRIGGER trg_{_TABLE}_no_change BEFORE UPDATE OR DELETE ON {_TABLE}
            FOR EACH ROW EXECUTE FUNCTION {_TABLE}_append_only()""",
            f"""CREATE TRIGGER trg_{_TABLE}_no_truncate BEFORE TRUNCATE ON {_TABLE}
            FOR EACH STATEMENT EXECUTE FUNCTION {_TABLE}_append_only()""",
        ]
    # Other databases get no guard; the application still never edits the history.
    return []


def upgrade() -> None:
    for statement in _statements(up=True):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(up=False):
        op.execute(statement)
