"""alerting: rules as stored definitions, their state, events, silences, deliveries, leases

The first schema's ``alert_rules`` (a metric, a comparator and a threshold) and
``alert_events`` never held a row the product wrote and do not fit alerting as built: a
rule is now a typed definition (``services.alerts.rules``) with a severity, a pending
period and a resolve threshold, evaluated by one worker at a time. Both tables are dropped
and made again; the downgrade restores the old (empty) ones. Any rows a deployment wrote
by hand into the old tables are dropped with them.

New: ``alert_states`` (each rule's current status), ``alert_silences``,
``alert_deliveries`` (a webhook notification: queued, delivered or given up) and
``worker_leases`` (a named lease, so exactly one worker evaluates the rules).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _rules() -> None:
    op.create_table(
        'alert_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('model_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('severity', sa.String(length=10), nullable=False),
        sa.Column('definition', sa.JSON(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('webhook_url', sa.String(length=500), nullable=True),
        sa.Column('webhook_format', sa.String(length=20), nullable=False),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_by', sa.String(length=100), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['model_id'], ['models.id'],
                                name=op.f('fk_alert_rules_model_id_models'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_rules')),
        sa.UniqueConstraint('name', name=op.f('uq_alert_rules_name')),
    )
    op.create_index(op.f('ix_alert_rules_model_id'), 'alert_rules', ['model_id'])
    op.create_table(
        'alert_states',
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('since', UTCDateTime(), nullable=True),
        sa.Column('fired_at', UTCDateTime(), nullable=True),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('lower', sa.Float(), nullable=True),
        sa.Column('upper', sa.Float(), nullable=True),
        sa.Column('sample_size', sa.Integer(), nullable=True),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('evaluated_at', UTCDateTime(), nullable=True),
        sa.Column('acknowledged_by', sa.String(length=100), nullable=True),
        sa.Column('acknowledged_at', UTCDateTime(), nullable=True),
        sa.Column('acknowledged_note', sa.Text(), nullable=False),
        sa.CheckConstraint(_in('status', ('inactive', 'pending', 'firing', 'unknown')),
                           name=op.f('ck_alert_states_status')),
        sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'],
                                name=op.f('fk_alert_states_rule_id_alert_rules'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('rule_id', name=op.f('pk_alert_states')),
    )


def _events() -> None:
    op.create_table(
        'alert_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=20), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('lower', sa.Float(), nullable=True),
        sa.Column('upper', sa.Float(), nullable=True),
        sa.Column('sample_size', sa.Integer(), nullable=True),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('silenced', sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            _in('event', ('pending', 'firing', 'resolved', 'unknown', 'inactive')),
            name=op.f('ck_alert_events_event')),
        sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'],
                                name=op.f('fk_alert_events_rule_id_alert_rules'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_events')),
    )
    op.create_index(op.f('ix_alert_events_rule_id'), 'alert_events', ['rule_id'])
    op.create_index(op.f('ix_alert_events_at'), 'alert_events', ['at'])
    op.create_table(
        'alert_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('target', sa.String(length=500), nullable=False),
        sa.Column('format', sa.String(length=20), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('http_status', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('finished_at', UTCDateTime(), nullable=True),
        sa.CheckConstraint(_in('status', ('queued', 'delivered', 'failed')),
                           name=op.f('ck_alert_deliveries_status')),
        sa.CheckConstraint(_in('format', ('json', 'alertmanager')),
                           name=op.f('ck_alert_deliveries_format')),
        sa.ForeignKeyConstraint(['event_id'], ['alert_events.id'],
                                name=op.f('fk_alert_deliveries_event_id_alert_events'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_deliveries')),
    )
    op.create_index(op.f('ix_alert_deliveries_event_id'), 'alert_deliveries', ['event_id'])
    op.create_index(op.f('ix_alert_deliveries_status'), 'alert_deliveries', ['status'])


def _silences_and_leases() -> None:
    op.create_table(
        'alert_silences',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=True),
        sa.Column('model_id', sa.Integer(), nullable=True),
        sa.Column('starts_at', UTCDateTime(), nullable=False),
        sa.Column('until', UTCDateTime(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('ended_at', UTCDateTime(), nullable=True),
        sa.Column('ended_by', sa.String(length=100), nullable=True),
        sa.CheckConstraint('rule_id IS NOT NULL OR model_id IS NOT NULL',
                           name=op.f('ck_alert_silences_target')),
        sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'],
                                name=op.f('fk_alert_silences_rule_id_alert_rules'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['model_id'], ['models.id'],
                                name=op.f('fk_alert_silences_model_id_models'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_silences')),
    )
    op.create_index(op.f('ix_alert_silences_rule_id'), 'alert_silences', ['rule_id'])
    op.create_index(op.f('ix_alert_silences_model_id'), 'alert_silences', ['model_id'])
    op.create_index(op.f('ix_alert_silences_until'), 'alert_silences', ['until'])
    op.create_table(
        'worker_leases',
        sa.Column('name', sa.String(length=60), nullable=False),
        sa.Column('holder', sa.String(length=100), nullable=False),
        sa.Column('lease_until', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_worker_leases')),
    )


def upgrade() -> None:
    op.drop_index(op.f('ix_alert_events_started_at'), table_name='alert_events')
    op.drop_table('alert_events')
    op.drop_table('alert_rules')
    _rules()
    _events()
    _silences_and_leases()


def _old_tables() -> None:
    op.create_table(
        'alert_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('model_id', sa.Integer(), nullable=True),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('metric', sa.String(length=100), nullable=False),
        sa.Column('comparator', sa.String(length=4), nullable=False),
        sa.Column('threshold', sa.Float(), nullable=False),
        sa.Column('window_seconds', sa.Integer(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['model_id'], ['models.id'],
                                name=op.f('fk_alert_rules_model_id_models'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_rules')),
        sa.UniqueConstraint('name', name=op.f('uq_alert_rules_name')),
    )
    op.create_table(
        'alert_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=False),
        sa.Column('resolved_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'],
                                name=op.f('fk_alert_events_rule_id_alert_rules'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_events')),
    )
    op.create_index(op.f('ix_alert_events_started_at'), 'alert_events', ['started_at'])


def downgrade() -> None:
    for table in ('worker_leases', 'alert_silences', 'alert_deliveries', 'alert_events',
                  'alert_states', 'alert_rules'):
        op.drop_table(table)
    _old_tables()
