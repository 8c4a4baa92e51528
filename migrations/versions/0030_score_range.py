"""A roadshow score is 0 to 10 points, in the database too (issue 14 review).

The score form refused other values, but the history import and scripts call the operation
directly; the operation now checks the range, and the database refuses what slips by. Scores
are stored in hundredths (ScaledDecimal(2)): 0 to 1000.

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('scores') as batch:
        batch.create_check_constraint('range', sa.text('value >= 0 AND value <= 1000'))


def downgrade():
    with op.batch_alter_table('scores') as batch:
        batch.drop_constraint(op.f('ck_scores_range'), type_='check')
