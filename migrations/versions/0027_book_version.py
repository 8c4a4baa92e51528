"""The book's version on the ledger's head: the last entry that changed the fund's book.

Performance figures are cached under it (issue 14): an entry that cannot change a figure (a
sign-in, a vote, a notification read) leaves it as it is. The hash makes the version unique to
its database, so two databases at the same sequence number never share a cached figure.

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ledger_heads') as batch_op:
        batch_op.add_column(sa.Column('book_seq', sa.BigInteger(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('book_hash', sa.String(length=64), nullable=False,
                                      server_default=''))
    op.execute("UPDATE ledger_heads SET book_seq = seq, book_hash = hash")


def downgrade():
    with op.batch_alter_table('ledger_heads') as batch_op:
        batch_op.drop_column('book_hash')
        batch_op.drop_column('book_seq')
