"""session revocation: signing out ends the session for every copy of its cookie

``revoked_sessions`` holds the nonce of each signed-out session token until the token
would have expired; ``users.sessions_valid_after`` ends every session of a user that
began earlier (set by a password reset or change, and when the account is disabled).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('revoked_sessions',
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_revoked_sessions'))
    )
    op.create_index(op.f('ix_revoked_sessions_expires_at'), 'revoked_sessions', ['expires_at'],
                    unique=False)
    # A plain ADD COLUMN (nullable): SQLite does not rewrite the table.
    op.add_column('users', sa.Column('sessions_valid_after', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('sessions_valid_after')
    op.drop_index(op.f('ix_revoked_sessions_expires_at'), table_name='revoked_sessions')
    op.drop_table('revoked_sessions')
