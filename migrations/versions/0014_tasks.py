"""Background tasks claimed by fundapp worker (issue 16), and notifications to one user.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def _utc():
    return sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        'tasks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=80), nullable=False),
        sa.Column('params_json', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('requested_by', sa.String(length=320), nullable=False),
        sa.Column('requested_at', _utc(), nullable=False),
        sa.Column('claimed_by', sa.String(length=120), nullable=False),
        sa.Column('claimed_at', _utc(), nullable=True),
        sa.Column('lease_expires_at', _utc(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('result_json', sa.Text(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('finished_at', _utc(), nullable=True),
        sa.Column('file_name', sa.String(length=200), nullable=False),
        sa.Column('file_type', sa.String(length=100), nullable=False),
        sa.Column('file_bytes', sa.LargeBinary(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')",
                           name=op.f('ck_tasks_status')),
        sa.CheckConstraint('done >= 0 AND total >= 0 AND done <= total',
                           name=op.f('ck_tasks_progress')),
        sa.CheckConstraint('attempts >= 0 AND max_attempts >= 1',
                           name=op.f('ck_tasks_attempts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks')),
    )
    op.create_index('ix_tasks_status_requested_at', 'tasks', ['status', 'requested_at'])
    op.create_index('ix_tasks_status_lease_expires_at', 'tasks', ['status', 'lease_expires_at'])
    op.create_index(op.f('ix_tasks_requested_by'), 'tasks', ['requested_by'])
    with op.batch_alter_table('notifications') as batch:
        batch.add_column(sa.Column('recipient', sa.String(length=320), nullable=False,
                                   server_default=''))
        batch.create_index(batch.f('ix_notifications_recipient'), ['recipient'])


def downgrade():
    with op.batch_alter_table('notifications') as batch:
        batch.drop_index(batch.f('ix_notifications_recipient'))
        batch.drop_column('recipient')
    op.drop_index(op.f('ix_tasks_requested_by'), table_name='tasks')
    op.drop_index('ix_tasks_status_lease_expires_at', table_name='tasks')
    op.drop_index('ix_tasks_status_requested_at', table_name='tasks')
    op.drop_table('tasks')
