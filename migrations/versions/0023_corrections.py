"""Corrections of recorded facts with a reason, before and after (issue 12).

Corrections are ledger entries (`<thing>.corrected`); an object's page lists its own, so the
ledger gets an index by subject.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30
"""
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    # The History section of an object's page: WHERE subject_type = ? AND subject_id = ?
    # ORDER BY seq DESC on a million-entry ledger reads the object's entries only.
    op.create_index('ix_ledger_entries_subject', 'ledger_entries',
                    ['subject_type', 'subject_id', 'seq'], unique=False)


def downgrade():
    op.drop_index('ix_ledger_entries_subject', table_name='ledger_entries')
