"""predictions: the labeling queue reads bands of the top score, so logging stays local

``ix_predictions_model_top_score`` ordered every prediction by its exact top-class
probability, so each batch of new predictions was written all over that index: near a
million predictions every 10,000-row commit rewrote most of its pages into the write-ahead
log and the checkpoint after it. SQLite's own share of bulk logging (pre-encoded rows)
measured 14,000 to 40,000 rows/s with it and 60,000 to 100,000 with this one, on the same
2-core machine. ``top_score_band`` (the score in whole percent, a virtual column computed
by the database) indexed with the model keeps new rows at the end of their band, at most
101 places per model. The queue's "least confident first" reads the bands in order and
sorts the rows of the band it stops in (when that is the densest band of the
1,000,000-prediction benchmark store: 33,000 rows, 0.09 s), which gives the same order as
the exact score.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 11:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: SQLite adds a virtual column without rewriting the table.
    op.add_column('predictions', sa.Column(
        'top_score_band', sa.Integer(), sa.Computed('CAST(top_score * 100 AS INTEGER)'),
        nullable=False))
    op.create_index('ix_predictions_model_top_score_band', 'predictions',
                    ['model_id', 'top_score_band'], unique=False)
    op.drop_index('ix_predictions_model_top_score', table_name='predictions')


def downgrade() -> None:
    op.create_index('ix_predictions_model_top_score', 'predictions',
                    ['model_id', 'top_score'], unique=False)
    op.drop_index('ix_predictions_model_top_score_band', table_name='predictions')
    op.drop_column('predictions', 'top_score_band')
