"""promotion evidence: the ledger keeps the evidence, the verdict and what triggered a move

A promotion is judged on evidence (``services.promotion``); ``promotions`` now keeps that
evidence as it was at the moment of the move (``evidence``: the snapshot and the verdict's
checks), the verdict's outcome (``verdict``: pass, fail or insufficient) and, for an
automatic rollback, the numbers that triggered it (``trigger``). Moves recorded earlier
have none of them (all three are nullable).

On SQLite the table is rebuilt (batch mode) to add the CHECK constraint on ``verdict``;
the rebuild keeps the ``kind`` constraint, which is named in the table it copies.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

_VERDICT_CHECK = "verdict IN ('pass', 'fail', 'insufficient')"


def upgrade() -> None:
    with op.batch_alter_table('promotions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('evidence', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('verdict', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('trigger', sa.JSON(), nullable=True))
        batch_op.create_check_constraint('verdict', _VERDICT_CHECK)


def downgrade() -> None:
    with op.batch_alter_table('promotions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_promotions_verdict'), type_='check')
        batch_op.drop_column('trigger')
        batch_op.drop_column('verdict')
        batch_op.drop_column('evidence')
