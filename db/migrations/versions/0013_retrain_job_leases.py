"""retrain job leases: stage, progress, lease, cancel, hand-off; what a version trained on

``retrain_jobs`` gains what a worker needs to run a job and a page to show it: the stage,
percent and message of its progress, the request (preset, training window, note, backend),
the lease (``worker_id`` until ``lease_until``), ``cancel_requested``, and for a job handed
to an orchestrator the hash of its one-time callback token and the delivery's result. A
partial unique index lets a model have one queued-or-running job at most, whoever inserts
it; jobs left queued or running by earlier code (nothing ever ran them) are failed first,
saying so.

``model_versions`` gains the training set's fingerprint and the job that made the version;
``version_training_rows`` lists the labelled predictions (and label revisions) a version was
trained on, so the promotion evidence can leave them out.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

_ACTIVE = "status IN ('queued', 'running')"
_FK = 'fk_model_versions_job_id_retrain_jobs'
_STALE_ERROR = ("queued before jobs could run (migration 0013) and never started; "
                "start a new retrain")


def _job_columns() -> list[sa.Column[object]]:
    return [
        sa.Column('stage', sa.String(length=40), server_default='queued', nullable=False),
        sa.Column('percent', sa.Float(), server_default='0', nullable=False),
        sa.Column('message', sa.Text(), server_default='', nullable=False),
        sa.Column('preset', sa.String(length=20), server_default='same', nullable=False),
        sa.Column('window_start', UTCDateTime(), nullable=True),
        sa.Column('window_end', UTCDateTime(), nullable=True),
        sa.Column('note', sa.Text(), server_default='', nullable=False),
        sa.Column('backend', sa.String(length=20), server_default='local', nullable=False),
        sa.Column('worker_id', sa.String(length=100), nullable=True),
        sa.Column('lease_until', UTCDateTime(), nullable=True),
        sa.Column('cancel_requested', sa.Boolean(), server_default=sa.text('false'),
                  nullable=False),
        sa.Column('callback_token_sha256', sa.String(length=64), nullable=True),
        sa.Column('delivery', sa.JSON(), nullable=True),
    ]


def _drop_version_columns_sqlite() -> None:
    """Rebuild ``model_versions`` without the two columns, keeping every row and reference.

    SQLite cannot drop a column with a reference, and rebuilding the table (Alembic's batch
    mode) drops the old one while other tables' rows refer to it: with foreign keys on,
    that is refused (or cascades, for shadow predictions). Foreign keys can only be turned
    off between transactions, so the steps so far are committed, the rebuild runs with
    them off and is checked (``foreign_key_check``) before they are turned on again.
    """
    conn = op.get_bind()
    conn.exec_driver_sql('COMMIT')
    conn.exec_driver_sql('PRAGMA foreign_keys = OFF')
    conn.exec_driver_sql('BEGIN IMMEDIATE')
    try:
        with op.batch_alter_table('model_versions', schema=None, recreate='always') as batch:
            batch.drop_column('job_id')
            batch.drop_column('training_fingerprint')
        broken = conn.exec_driver_sql('PRAGMA foreign_key_check').all()
        if broken:
            raise RuntimeError(f"rebuilding model_versions broke references: {broken[:3]}")
    except BaseException:
        conn.exec_driver_sql('ROLLBACK')
        conn.exec_driver_sql('PRAGMA foreign_keys = ON')
        conn.exec_driver_sql('BEGIN')  # for the caller to roll back
        raise
    conn.exec_driver_sql('COMMIT')
    conn.exec_driver_sql('PRAGMA foreign_keys = ON')
    conn.exec_driver_sql('BEGIN IMMEDIATE')


def upgrade() -> None:
    op.execute(sa.text(
        "UPDATE retrain_jobs SET status = 'failed', error = :error "
        "WHERE status IN ('queued', 'running')"
    ).bindparams(error=_STALE_ERROR))
    for column in _job_columns():
        op.add_column('retrain_jobs', column)
    op.create_index('uq_retrain_jobs_active_model', 'retrain_jobs', ['model_id'], unique=True,
                    sqlite_where=sa.text(_ACTIVE), postgresql_where=sa.text(_ACTIVE))
    op.add_column('model_versions', sa.Column('training_fingerprint', sa.JSON(), nullable=True))
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite adds a column with its reference in place (no table rebuild, which would
        # drop a table other tables' rows refer to).
        op.execute(sa.text(f'ALTER TABLE model_versions ADD COLUMN job_id INTEGER '
                           f'CONSTRAINT {_FK} REFERENCES retrain_jobs (id)'))
    else:
        op.add_column('model_versions', sa.Column('job_id', sa.Integer(), nullable=True))
        op.create_foreign_key(_FK, 'model_versions', 'retrain_jobs', ['job_id'], ['id'])
    op.create_table('version_training_rows',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('prediction_id', sa.String(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_version_training_rows_version_id_model_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id', 'prediction_id', name=op.f('pk_version_training_rows'))
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _drop_version_columns_sqlite()  # first: it commits what was done before it
    else:
        op.drop_constraint(_FK, 'model_versions', type_='foreignkey')
        op.drop_column('model_versions', 'job_id')
        op.drop_column('model_versions', 'training_fingerprint')
    op.drop_table('version_training_rows')
    op.drop_index('uq_retrain_jobs_active_model', table_name='retrain_jobs')
    for column in reversed(_job_columns()):
        op.drop_column('retrain_jobs', column.name)
