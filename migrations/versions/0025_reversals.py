"""Reversals of conversions and disbursements (issue 12): a fact money depends on is corrected by
a reversing record, never an edit. The reversed rows stay; one standing conversion and one
standing holding per grant (partial unique indexes) so that a reversed grant can convert again.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

_CONVERSION_COMPLETE = (
    "(reversed_at IS NULL AND reversed_on IS NULL) OR (reversed_at IS NOT NULL AND reversed_on "
    "IS NOT NULL AND reversal_ic_reference <> '' AND reversal_reason <> '')")
_DISBURSEMENT_COMPLETE = (
    "(reversed_at IS NULL AND reversed_on IS NULL) OR (reversed_at IS NOT NULL AND reversed_on "
    "IS NOT NULL AND reversal_reason <> '')")


def upgrade():
    with op.batch_alter_table('conversions') as batch:
        batch.add_column(sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('reversed_on', sa.Date(), nullable=True))
        batch.add_column(sa.Column('reversed_by', sa.String(length=320), server_default='',
                                   nullable=False))
        batch.add_column(sa.Column('reversal_reason', sa.Text(), server_default='',
                                   nullable=False))
        batch.add_column(sa.Column('reversal_ic_reference', sa.String(length=100),
                                   server_default='', nullable=False))
        batch.drop_constraint('uq_conversions_grant_id', type_='unique')
        batch.create_check_constraint('reversal_complete', sa.text(_CONVERSION_COMPLETE))
    op.create_index('ix_conversions_grant_id', 'conversions', ['grant_id'], unique=False)
    op.create_index('uq_conversions_standing_grant_id', 'conversions', ['grant_id'], unique=True,
                    sqlite_where=sa.text('reversed_at IS NULL'),
                    postgresql_where=sa.text('reversed_at IS NULL'))

    with op.batch_alter_table('grant_disbursements') as batch:
        batch.add_column(sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('reversed_on', sa.Date(), nullable=True))
        batch.add_column(sa.Column('reversed_by', sa.String(length=320), server_default='',
                                   nullable=False))
        batch.add_column(sa.Column('reversal_reason', sa.Text(), server_default='',
                                   nullable=False))
        batch.create_check_constraint('reversal_complete', sa.text(_DISBURSEMENT_COMPLETE))

    with op.batch_alter_table('cap_tables') as batch:
        batch.add_column(sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('holdings') as batch:
        batch.drop_constraint('uq_holdings_grant_id', type_='unique')
    op.create_index('ix_holdings_grant_id', 'holdings', ['grant_id'], unique=False)
    op.create_index('uq_holdings_standing_grant_id', 'holdings', ['grant_id'], unique=True,
                    sqlite_where=sa.text("status <> 'reversed'"),
                    postgresql_where=sa.text("status <> 'reversed'"))


def downgrade():
    # Reversed rows cannot live under the old "once per grant" constraints: downgrading with
    # reversals recorded fails on the unique constraints rather than losing history silently.
    op.drop_index('uq_holdings_standing_grant_id', table_name='holdings')
    op.drop_index('ix_holdings_grant_id', table_name='holdings')
    with op.batch_alter_table('holdings') as batch:
        batch.create_unique_constraint('uq_holdings_grant_id', ['grant_id'])

    with op.batch_alter_table('cap_tables') as batch:
        batch.drop_column('reversed_at')

    with op.batch_alter_table('grant_disbursements') as batch:
        batch.drop_constraint(op.f('ck_grant_disbursements_reversal_complete'), type_='check')
        batch.drop_column('reversal_reason')
        batch.drop_column('reversed_by')
        batch.drop_column('reversed_on')
        batch.drop_column('reversed_at')

    op.drop_index('uq_conversions_standing_grant_id', table_name='conversions')
    op.drop_index('ix_conversions_grant_id', table_name='conversions')
    with op.batch_alter_table('conversions') as batch:
        batch.drop_constraint(op.f('ck_conversions_reversal_complete'), type_='check')
        batch.create_unique_constraint('uq_conversions_grant_id', ['grant_id'])
        batch.drop_column('reversal_ic_reference')
        batch.drop_column('reversal_reason')
        batch.drop_column('reversed_by')
        batch.drop_column('reversed_on')
        batch.drop_column('reversed_at')
