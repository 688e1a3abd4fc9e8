"""shadow predictions: a version's answers to predictions another version served

A candidate version scores the logged features of predictions made by the version in
production ("shadow scoring"); its answers land here, one row per (prediction, version),
so two versions can be compared on exactly the same labelled predictions, and the
labeling queue can find the predictions where they disagree. ``predicted_at`` copies the
prediction's time (a logged prediction never changes) so windows and "newest first" read
the ``(version_id, predicted_at, ...)`` index without joining ``predictions``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shadow_predictions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prediction_id', sa.String(length=36), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('predicted_at', UTCDateTime(), nullable=False),
    sa.Column('predicted_class', sa.String(length=100), nullable=False),
    sa.Column('top_score', sa.Float(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('scored_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['prediction_id'], ['predictions.id'], name=op.f('fk_shadow_predictions_prediction_id_predictions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_shadow_predictions_version_id_model_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shadow_predictions')),
    sa.UniqueConstraint('prediction_id', 'version_id', name=op.f('uq_shadow_predictions_prediction_id_version_id'))
    )
    with op.batch_alter_table('shadow_predictions', schema=None) as batch_op:
        batch_op.create_index('ix_shadow_predictions_version_predicted', ['version_id', 'predicted_at', 'prediction_id', 'predicted_class'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('shadow_predictions', schema=None) as batch_op:
        batch_op.drop_index('ix_shadow_predictions_version_predicted')

    op.drop_table('shadow_predictions')
