"""Indexes and columns for fast pages at full scale (issue 14). Stub: filled by its owner.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30
"""
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    # The dashboard's "your recent entries": WHERE actor = ? ORDER BY seq DESC LIMIT 5 on a
    # million-entry ledger reads five index entries instead of scanning the table.
    op.create_index('ix_ledger_entries_actor_seq', 'ledger_entries', ['actor', 'seq'],
                    unique=False)


def downgrade():
    op.drop_index('ix_ledger_entries_actor_seq', table_name='ledger_entries')
