"""label abstentions: "can't tell" takes a prediction out of one labeler's queue

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = '0007'
down_revision: str | None = '0005'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('label_abstentions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prediction_id', sa.String(length=36), nullable=False),
    sa.Column('labeler', sa.String(length=100), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['prediction_id'], ['predictions.id'], name=op.f('fk_label_abstentions_prediction_id_predictions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_label_abstentions')),
    sa.UniqueConstraint('prediction_id', 'labeler', name=op.f('uq_label_abstentions_prediction_id_labeler'))
    )


def downgrade() -> None:
    op.drop_table('label_abstentions')
