"""Compliance invariants: scheduler job leases (a run killed mid-run is failed and retried).

Each job run carries a lease; the claim becomes (job, scheduled time, attempt), so that a run whose
lease expired stays in the history as failed while the occurrence is retried as the next attempt.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_runs') as batch:
        batch.add_column(sa.Column('attempt', sa.Integer(), server_default='1', nullable=False))
        batch.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('is_lease_expired', sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
        batch.drop_constraint('uq_job_runs_job_id', type_='unique')
        batch.create_unique_constraint('uq_job_runs_job_id',
                                       ['job_id', 'scheduled_for', 'attempt'])


def downgrade():
    # Keep the first attempt of each occurrence: the old claim allows one row per occurrence.
    op.execute("DELETE FROM job_runs WHERE attempt > 1")
    with op.batch_alter_table('job_runs') as batch:
        batch.drop_constraint('uq_job_runs_job_id', type_='unique')
        batch.create_unique_constraint('uq_job_runs_job_id', ['job_id', 'scheduled_for'])
        batch.drop_column('is_lease_expired')
        batch.drop_column('lease_expires_at')
        batch.drop_column('attempt')
