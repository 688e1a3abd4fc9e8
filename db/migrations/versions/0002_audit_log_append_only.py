"""audit log append-only: the database refuses to change or delete audit entries

The application exposes no way to edit the audit log; these triggers make the database
refuse it too, for any client. A table rebuild in a later SQLite batch migration of
``audit_log`` drops the triggers with the old table: such a migration must create them again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

_MESSAGE = 'audit_log is append-only'

_SQLITE_UP = [
    f"""CREATE TRIGGER trg_audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END""",
    f"""CREATE TRIGGER trg_audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END""",
]
_SQLITE_DOWN = [
    'DROP TRIGGER IF EXISTS trg_audit_log_no_delete',
    'DROP TRIGGER IF EXISTS trg_audit_log_no_update',
]

_POSTGRESQL_UP = [
    f"""CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'insufficient_privilege';
    END
    $$""",
    """CREATE TRIGGER trg_audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER trg_audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
]
_POSTGRESQL_DOWN = [
    'DROP TRIGGER IF EXISTS trg_audit_log_no_truncate ON audit_log',
    'DROP TRIGGER IF EXISTS trg_audit_log_no_change ON audit_log',
    'DROP FUNCTION IF EXISTS audit_log_append_only()',
]


def _statements(up: bool) -> list[str]:
    dialect = op.get_context().dialect.name
    if dialect == 'sqlite':
        return _SQLITE_UP if up else _SQLITE_DOWN
    if dialect == 'postgresql':
        return _POSTGRESQL_UP if up else _POSTGRESQL_DOWN
    # Other databases get no guard; the application still never edits the log.
    return []


def upgrade() -> None:
    for statement in _statements(up=True):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(up=False):
        op.execute(statement)
