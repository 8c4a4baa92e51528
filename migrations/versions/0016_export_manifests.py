"""Ledger exports built on demand from a stored signed manifest (issue 16).

An export's bundle is no longer kept on the host that made it: the exact bytes of manifest.json,
its signature, the public key that signed it and the ZIP layout (CRCs, sheet sizes) are stored
with the export, and every download rebuilds the bundle from the immutable ledger. Exports made
before keep these columns empty (their file stayed on one host's disk): the download says so.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ledger_exports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('manifest_json', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('manifest_sig', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('public_key_pem', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('bundle_layout', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('ledger_exports', schema=None) as batch_op:
        batch_op.drop_column('bundle_layout')
        batch_op.drop_column('public_key_pem')
        batch_op.drop_column('manifest_sig')
        batch_op.drop_column('manifest_json')
