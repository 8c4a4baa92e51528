"""Invariants the database holds: CHECK constraints on amounts and units, and the grant's
maintained disbursed and refunded totals (the award bounds the first, the first bounds the second).
The grant's lock_version goes: grants are locked with SELECT ... FOR UPDATE now.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# (table, constraint name without the ck_<table>_ prefix, condition); amounts are stored in fen.
CHECKS = [
    ('grants', 'awarded_positive', 'awarded_amount > 0'),
    ('grants', 'disbursed_within_award',
     'disbursed_amount >= 0 AND disbursed_amount <= awarded_amount'),
    ('grants', 'refunded_within_disbursed',
     'refunded_amount >= 0 AND refunded_amount <= disbursed_amount'),
    ('grant_tranches', 'amount_positive', 'amount > 0'),
    ('grant_disbursements', 'amount_positive', 'amount > 0'),
    ('grant_refunds', 'amount_positive', 'amount > 0'),
    ('holdings', 'units_not_negative', 'units >= 0'),
    ('holdings', 'cost_not_negative', 'cost_amount >= 0'),
    ('cash_flows', 'amount_not_negative', 'amount >= 0'),
    ('valuation_marks', 'value_not_negative', 'value_per_unit >= 0'),
    ('appraisals', 'units_positive', 'units > 0'),
    ('appraisals', 'value_not_negative', 'value_amount >= 0'),
    ('exits', 'units_positive', 'units > 0'),
    ('exits', 'price_not_negative', 'price_amount >= 0'),
    ('exits', 'balance_not_negative', 'balance_amount >= 0'),
    ('conversions', 'converting_positive', 'converting_amount > 0'),
    ('conversions', 'converted_positive', 'converted_amount > 0'),
    ('conversions', 'units_positive', 'fund_units > 0'),
]


def upgrade():
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disbursed_amount', sa.BigInteger(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('refunded_amount', sa.BigInteger(), nullable=False,
                                      server_default='0'))
        batch_op.drop_column('lock_version')
    op.execute("UPDATE grants SET disbursed_amount = COALESCE((SELECT SUM(d.amount) "
               "FROM grant_disbursements d WHERE d.grant_id = grants.id), 0), "
               "refunded_amount = COALESCE((SELECT SUM(r.amount) FROM grant_refunds r "
               "WHERE r.grant_id = grants.id), 0)")
    tables = sorted({table for table, _, _ in CHECKS})
    for table in tables:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, condition in [(n, c) for t, n, c in CHECKS if t == table]:
                batch_op.create_check_constraint(op.f(f'ck_{table}_{name}'), condition)


def downgrade():
    tables = sorted({table for table, _, _ in CHECKS})
    for table in tables:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _ in [(n, c) for t, n, c in CHECKS if t == table]:
                batch_op.drop_constraint(op.f(f'ck_{table}_{name}'), type_='check')
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lock_version', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.drop_column('refunded_amount')
        batch_op.drop_column('disbursed_amount')
