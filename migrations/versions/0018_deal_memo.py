"""IC memo content the manager fills in on a deal (issue 15).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

TEXTS = ("memo_recommendation", "memo_conditions", "memo_thesis", "memo_technology",
         "memo_market", "memo_use_of_funds", "memo_financials", "memo_dd_findings",
         "memo_risks")
COLUMNS = (*TEXTS, *(f"{name}_en" for name in TEXTS))


def upgrade():
    with op.batch_alter_table("deals") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("memo_reviewed_by", sa.String(200), nullable=False,
                                   server_default=""))


def downgrade():
    with op.batch_alter_table("deals") as batch:
        batch.drop_column("memo_reviewed_by")
        for name in reversed(COLUMNS):
            batch.drop_column(name)
