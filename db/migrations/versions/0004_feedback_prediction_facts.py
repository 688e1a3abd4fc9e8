"""feedback carries its prediction's facts: quality reports without a join

A logged prediction never changes, so its model, version, predicted class, time and top
score are copied into ``feedback`` when the label is first stored. Quality reports then
group only the labelled rows, from covering indexes, instead of joining every label to
``predictions`` (two index probes per label on SQLite). Existing labels are filled from
their predictions. Also indexes the labeling queue's default order (least confident first).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# Constant text: every column copied from the labelled prediction.
_FILL = """UPDATE feedback SET
    model_id = (SELECT p.model_id FROM predictions AS p WHERE p.id = feedback.prediction_id),
    version_id = (SELECT p.version_id FROM predictions AS p WHERE p.id = feedback.prediction_id),
    predicted_class = (SELECT p.predicted_class FROM predictions AS p
                       WHERE p.id = feedback.prediction_id),
    predicted_at = (SELECT p.ts FROM predictions AS p WHERE p.id = feedback.prediction_id),
    top_score = (SELECT p.top_score FROM predictions AS p WHERE p.id = feedback.prediction_id)"""


def upgrade() -> None:
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('version_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('predicted_class', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('predicted_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('top_score', sa.Float(), nullable=True))
    op.execute(_FILL)
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.alter_column('model_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('version_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('predicted_class', existing_type=sa.String(length=100),
                              nullable=False)
        batch_op.alter_column('predicted_at', existing_type=UTCDateTime(), nullable=False)
        batch_op.alter_column('top_score', existing_type=sa.Float(), nullable=False)
        batch_op.create_foreign_key(op.f('fk_feedback_model_id_models'), 'models',
                                    ['model_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(op.f('fk_feedback_version_id_model_versions'),
                                    'model_versions', ['version_id'], ['id'])
        batch_op.create_index('ix_feedback_model_quality',
                              ['model_id', 'predicted_at', 'label', 'predicted_class'],
                              unique=False)
        batch_op.create_index('ix_feedback_version_quality',
                              ['version_id', 'predicted_at', 'label', 'predicted_class'],
                              unique=False)
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.create_index('ix_predictions_model_top_score', ['model_id', 'top_score'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.drop_index('ix_predictions_model_top_score')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_feedback_version_quality')
        batch_op.drop_index('ix_feedback_model_quality')
        batch_op.drop_constraint(op.f('fk_feedback_version_id_model_versions'),
                                 type_='foreignkey')
        batch_op.drop_constraint(op.f('fk_feedback_model_id_models'), type_='foreignkey')
        batch_op.drop_column('top_score')
        batch_op.drop_column('predicted_at')
        batch_op.drop_column('predicted_class')
        batch_op.drop_column('version_id')
        batch_op.drop_column('model_id')
