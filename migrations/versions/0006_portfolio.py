"""Portfolio: cash flows, valuation marks, appraisals, exits, index series, KPI reports (issue 5).

Holdings may now be direct investments (no grant, no conversion). Grant disbursements and refunds
stay in their issue-4 tables and are not copied into cash_flows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('index_series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('uploaded_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_index_series')),
    sa.UniqueConstraint('name', name=op.f('uq_index_series_name'))
    )
    op.create_table('index_levels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('series_id', sa.Integer(), nullable=False),
    sa.Column('on', sa.Date(), nullable=False),
    sa.Column('level', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['series_id'], ['index_series.id'], name=op.f('fk_index_levels_series_id_index_series'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_index_levels')),
    sa.UniqueConstraint('series_id', 'on', name=op.f('uq_index_levels_series_id'))
    )
    with op.batch_alter_table('index_levels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_index_levels_series_id'), ['series_id'], unique=False)

    op.create_table('kpi_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('quarter', sa.String(length=10), nullable=False),
    sa.Column('period_start_on', sa.Date(), nullable=False),
    sa.Column('period_end_on', sa.Date(), nullable=False),
    sa.Column('requested_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('answered_on', sa.Date(), nullable=True),
    sa.Column('revenue_amount', sa.BigInteger(), nullable=True),
    sa.Column('rd_spend_amount', sa.BigInteger(), nullable=True),
    sa.Column('headcount', sa.Integer(), nullable=True),
    sa.Column('pct_applications', sa.Integer(), nullable=True),
    sa.Column('value_added_amount', sa.BigInteger(), nullable=True),
    sa.Column('entered_by', sa.String(length=320), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_kpi_reports_company_id_companies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpi_reports')),
    sa.UniqueConstraint('company_id', 'quarter', name=op.f('uq_kpi_reports_company_id'))
    )
    with op.batch_alter_table('kpi_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kpi_reports_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_kpi_reports_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_kpi_reports_quarter'), ['quarter'], unique=False)

    op.create_table('appraisals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('holding_id', sa.Integer(), nullable=False),
    sa.Column('base_on', sa.Date(), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('value_amount', sa.BigInteger(), nullable=False),
    sa.Column('filing_no', sa.String(length=100), nullable=False),
    sa.Column('filed_on', sa.Date(), nullable=False),
    sa.Column('appraiser', sa.String(length=200), nullable=False),
    sa.Column('recorded_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['holding_id'], ['holdings.id'], name=op.f('fk_appraisals_holding_id_holdings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appraisals'))
    )
    with op.batch_alter_table('appraisals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appraisals_holding_id'), ['holding_id'], unique=False)

    op.create_table('exits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('holding_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('buyback', 'exchange', 'trade_sale', 'ipo_sale', 'liquidation', name='exitkind', native_enum=False, length=20), nullable=False),
    sa.Column('transfer_on', sa.Date(), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('price_amount', sa.BigInteger(), nullable=False),
    sa.Column('cost_amount', sa.BigInteger(), nullable=False),
    sa.Column('buyer', sa.String(length=200), nullable=False),
    sa.Column('balance_amount', sa.BigInteger(), nullable=False),
    sa.Column('balance_due_on', sa.Date(), nullable=True),
    sa.Column('balance_paid_on', sa.Date(), nullable=True),
    sa.Column('is_closing', sa.Boolean(), nullable=False),
    sa.Column('details_json', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['holding_id'], ['holdings.id'], name=op.f('fk_exits_holding_id_holdings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exits'))
    )
    with op.batch_alter_table('exits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exits_holding_id'), ['holding_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exits_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_exits_transfer_on'), ['transfer_on'], unique=False)

    op.create_table('valuation_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('holding_id', sa.Integer(), nullable=False),
    sa.Column('measured_on', sa.Date(), nullable=False),
    sa.Column('method', sa.Enum('recent_round', 'multiples', 'dcf', 'net_assets', 'quoted', 'write_off', name='markmethod', native_enum=False, length=20), nullable=False),
    sa.Column('inputs_json', sa.Text(), nullable=False),
    sa.Column('value_per_unit', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'final', name='markstatus', native_enum=False, length=10), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('author', sa.String(length=320), nullable=False),
    sa.Column('approver', sa.String(length=320), nullable=False),
    sa.Column('finalised_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['holding_id'], ['holdings.id'], name=op.f('fk_valuation_marks_holding_id_holdings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_valuation_marks'))
    )
    with op.batch_alter_table('valuation_marks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_valuation_marks_holding_id'), ['holding_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_valuation_marks_measured_on'), ['measured_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_valuation_marks_status'), ['status'], unique=False)

    op.create_table('cash_flows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('grant_disbursement', 'refund', 'follow_on', 'buyback_proceeds', 'exit_proceeds', 'dividend', 'recovery', 'fee', name='flowkind', native_enum=False, length=30), nullable=False),
    sa.Column('on', sa.Date(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('holding_id', sa.Integer(), nullable=True),
    sa.Column('grant_id', sa.Integer(), nullable=True),
    sa.Column('exit_id', sa.Integer(), nullable=True),
    sa.Column('units_delta', sa.BigInteger(), nullable=False),
    sa.Column('cost_delta_amount', sa.BigInteger(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_cash_flows_company_id_companies')),
    sa.ForeignKeyConstraint(['exit_id'], ['exits.id'], name=op.f('fk_cash_flows_exit_id_exits')),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_cash_flows_grant_id_grants')),
    sa.ForeignKeyConstraint(['holding_id'], ['holdings.id'], name=op.f('fk_cash_flows_holding_id_holdings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cash_flows'))
    )
    with op.batch_alter_table('cash_flows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cash_flows_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cash_flows_exit_id'), ['exit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cash_flows_grant_id'), ['grant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cash_flows_holding_id'), ['holding_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cash_flows_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_cash_flows_on'), ['on'], unique=False)

    with op.batch_alter_table('holdings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.Enum('conversion', 'direct', name='holdingorigin', native_enum=False, length=20), nullable=False, server_default='conversion'))
        batch_op.add_column(sa.Column('status', sa.Enum('active', 'exited', 'written_off', name='holdingstatus', native_enum=False, length=20), nullable=False, server_default='active'))
        batch_op.add_column(sa.Column('closed_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('initial_units', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('initial_cost_amount', sa.BigInteger(), nullable=True))
        batch_op.alter_column('grant_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.alter_column('conversion_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_holdings_status'), ['status'], unique=False)
    op.execute("UPDATE holdings SET initial_units = units, initial_cost_amount = cost_amount "
               "WHERE initial_units IS NULL")


def downgrade():
    with op.batch_alter_table('holdings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holdings_status'))
        batch_op.alter_column('conversion_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.alter_column('grant_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('initial_cost_amount')
        batch_op.drop_column('initial_units')
        batch_op.drop_column('closed_on')
        batch_op.drop_column('status')
        batch_op.drop_column('origin')

    with op.batch_alter_table('cash_flows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cash_flows_on'))
        batch_op.drop_index(batch_op.f('ix_cash_flows_kind'))
        batch_op.drop_index(batch_op.f('ix_cash_flows_holding_id'))
        batch_op.drop_index(batch_op.f('ix_cash_flows_grant_id'))
        batch_op.drop_index(batch_op.f('ix_cash_flows_exit_id'))
        batch_op.drop_index(batch_op.f('ix_cash_flows_company_id'))

    op.drop_table('cash_flows')
    with op.batch_alter_table('valuation_marks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_valuation_marks_status'))
        batch_op.drop_index(batch_op.f('ix_valuation_marks_measured_on'))
        batch_op.drop_index(batch_op.f('ix_valuation_marks_holding_id'))

    op.drop_table('valuation_marks')
    with op.batch_alter_table('exits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exits_transfer_on'))
        batch_op.drop_index(batch_op.f('ix_exits_kind'))
        batch_op.drop_index(batch_op.f('ix_exits_holding_id'))

    op.drop_table('exits')
    with op.batch_alter_table('appraisals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appraisals_holding_id'))

    op.drop_table('appraisals')
    with op.batch_alter_table('kpi_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kpi_reports_quarter'))
        batch_op.drop_index(batch_op.f('ix_kpi_reports_due_on'))
        batch_op.drop_index(batch_op.f('ix_kpi_reports_company_id'))

    op.drop_table('kpi_reports')
    with op.batch_alter_table('index_levels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_index_levels_series_id'))

    op.drop_table('index_levels')
    op.drop_table('index_series')
