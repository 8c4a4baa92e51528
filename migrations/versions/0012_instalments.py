"""Instalment schedules of deferred exit balances (R9.d exchange sales, buy-backs).

Each exit's deferred balance becomes a schedule of instalments (principal and interest per line,
paid or not, and when the reminders went out). Every existing exit with a balance gets one
instalment: the whole balance, no interest, due and paid as the exit says.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('exit_instalments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exit_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('principal_amount', sa.BigInteger(), nullable=False),
    sa.Column('interest_amount', sa.BigInteger(), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('paid_amount', sa.BigInteger(), nullable=True),
    sa.Column('reminded_on', sa.Date(), nullable=True),
    sa.Column('overdue_notified_on', sa.Date(), nullable=True),
    sa.Column('recorded_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('number >= 1', name=op.f('ck_exit_instalments_number_positive')),
    sa.CheckConstraint('principal_amount >= 0',
                       name=op.f('ck_exit_instalments_principal_not_negative')),
    sa.CheckConstraint('interest_amount >= 0',
                       name=op.f('ck_exit_instalments_interest_not_negative')),
    sa.ForeignKeyConstraint(['exit_id'], ['exits.id'],
                            name=op.f('fk_exit_instalments_exit_id_exits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exit_instalments')),
    sa.UniqueConstraint('exit_id', 'number', name=op.f('uq_exit_instalments_exit_id'))
    )
    with op.batch_alter_table('exit_instalments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exit_instalments_exit_id'), ['exit_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_exit_instalments_due_on'), ['due_on'], unique=False)
    # Amounts are stored in fen: the balance becomes the one instalment's principal as it is.
    op.execute(
        "INSERT INTO exit_instalments (exit_id, number, due_on, principal_amount, "
        "interest_amount, paid_on, paid_amount, recorded_by, created_at) "
        "SELECT id, 1, COALESCE(balance_due_on, transfer_on), balance_amount, 0, balance_paid_on, "
        "CASE WHEN balance_paid_on IS NULL THEN NULL ELSE balance_amount END, recorded_by, "
        "created_at FROM exits WHERE balance_amount > 0")


def downgrade():
    with op.batch_alter_table('exit_instalments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exit_instalments_due_on'))
        batch_op.drop_index(batch_op.f('ix_exit_instalments_exit_id'))
    op.drop_table('exit_instalments')
