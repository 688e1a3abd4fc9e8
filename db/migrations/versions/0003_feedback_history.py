"""feedback history: one row per change of a prediction's label

``feedback`` keeps the one current label; this table keeps every change to it (first label,
replacement, replacement over a conflict, conflict kept), written by the labeling service in
the same transaction as the change and its audit entry.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('feedback_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prediction_id', sa.String(length=36), nullable=False),
    sa.Column('old_label', sa.String(length=100), nullable=True),
    sa.Column('new_label', sa.String(length=100), nullable=False),
    sa.Column('old_labeler', sa.String(length=100), nullable=True),
    sa.Column('new_labeler', sa.String(length=100), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('resolution', sa.String(length=20), nullable=False),
    sa.Column('changed_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint("source IN ('ui', 'csv', 'api', 'simulator')", name=op.f('ck_feedback_history_source')),
    sa.CheckConstraint("resolution IN ('new', 'replaced', 'replaced_conflict', 'kept')", name=op.f('ck_feedback_history_resolution')),
    sa.ForeignKeyConstraint(['prediction_id'], ['predictions.id'], name=op.f('fk_feedback_history_prediction_id_predictions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_history'))
    )
    with op.batch_alter_table('feedback_history', schema=None) as batch_op:
        batch_op.create_index('ix_feedback_history_prediction_changed', ['prediction_id', 'changed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('feedback_history', schema=None) as batch_op:
        batch_op.drop_index('ix_feedback_history_prediction_changed')

    op.drop_table('feedback_history')
