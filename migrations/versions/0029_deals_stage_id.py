"""Deals of one stage in the order they were entered: an index on (stage, id) (issue 14).

The pickers of the new grant and new meeting pages list the first 20 deals of one stage by id
(agreement signed, IC decision). With 5,000 deals in that stage, the stage's other indexes
found them all and sorted them (9 ms on SQLite); (stage, id) reads the first 21 in order.

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-30
"""
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_deals_stage_id', 'deals', ['stage', 'id'])


def downgrade():
    op.drop_index('ix_deals_stage_id', table_name='deals')
