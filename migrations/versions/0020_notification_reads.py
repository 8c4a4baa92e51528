"""Notifications read and unread per person, and the daily digest's record (issue 14).

notification_reads: one row per notification and person who read it (one admin reading an alert
no longer marks it read for every admin). The old notifications.read_at / read_by stay: they now
say when the last person addressed read it; each old read_by becomes a read row of that user.
digest_runs: the daily e-mail digest sent to one person on one day (Asia/Shanghai).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def _utc():
    return sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        'notification_reads',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('notification_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('read_at', _utc(), nullable=False),
        sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], ondelete='CASCADE',
                                name=op.f('fk_notification_reads_notification_id_notifications')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_notification_reads_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_reads')),
        sa.UniqueConstraint('notification_id', 'user_id',
                            name=op.f('uq_notification_reads_notification_id')),
    )
    op.create_index(op.f('ix_notification_reads_notification_id'), 'notification_reads',
                    ['notification_id'])
    op.create_index(op.f('ix_notification_reads_user_id'), 'notification_reads', ['user_id'])
    op.create_table(
        'digest_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('sent_at', _utc(), nullable=False),
        sa.Column('notifications', sa.Integer(), nullable=False),
        sa.Column('inbox_items', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_digest_runs_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_digest_runs')),
        sa.UniqueConstraint('user_id', 'day', name=op.f('uq_digest_runs_user_id')),
    )
    op.create_index(op.f('ix_digest_runs_user_id'), 'digest_runs', ['user_id'])
    # Who read what so far: the one reader each notification recorded.
    op.execute(
        "INSERT INTO notification_reads (notification_id, user_id, read_at) "
        "SELECT n.id, u.id, n.read_at FROM notifications n JOIN users u ON u.email = n.read_by "
        "WHERE n.read_at IS NOT NULL")


def downgrade():
    op.drop_index(op.f('ix_digest_runs_user_id'), table_name='digest_runs')
    op.drop_table('digest_runs')
    op.drop_index(op.f('ix_notification_reads_user_id'), table_name='notification_reads')
    op.drop_index(op.f('ix_notification_reads_notification_id'),
                  table_name='notification_reads')
    op.drop_table('notification_reads')
