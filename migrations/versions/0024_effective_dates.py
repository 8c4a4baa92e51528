"""Effective dates: when a fact happened beside when it was recorded (issue 12).

`ledger_entries.happened_on`: the day the recorded fact happened (a signing, a payment, a round),
NULL for entries that are not facts on a day and for every entry made before this revision. The
column is hashed only when present, so the chain recorded so far verifies unchanged.
`deals.ic_decided_on`: the day of the deal's IC decision (NULL before this revision). Adding a
nullable column updates no row: the triggers that refuse UPDATE and DELETE are not involved.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("ledger_entries", sa.Column("happened_on", sa.Date(), nullable=True))
    # The day of the deal's IC decision: a public notice does not start before it.
    op.add_column("deals", sa.Column("ic_decided_on", sa.Date(), nullable=True))


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy would lose the append-only triggers.
    op.drop_column("deals", "ic_decided_on")
    op.drop_column("ledger_entries", "happened_on")
