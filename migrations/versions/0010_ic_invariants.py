"""Investment committee invariants: a decision is its own row, once per agenda item.

The outcome, reference, conditions and who/when of a decision move from ic_agenda_items to
ic_decisions, where UNIQUE(item_id) makes the database refuse a second decision on an item (and
UNIQUE(decision_ref) a second use of a reference). One vote per member per item was already
UNIQUE(item_id, user_id) on ic_votes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OUTCOMES = ('pending', 'approved', 'approved_with_conditions', 'rejected')


def upgrade():
    op.create_table('ic_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.Enum(*OUTCOMES, name='outcome', native_enum=False, length=30), nullable=False),
    sa.Column('decision_ref', sa.String(length=100), nullable=False),
    sa.Column('conditions', sa.Text(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=320), nullable=False),
    sa.CheckConstraint("outcome <> 'pending'", name=op.f('ck_ic_decisions_decided')),
    sa.ForeignKeyConstraint(['item_id'], ['ic_agenda_items.id'], name=op.f('fk_ic_decisions_item_id_ic_agenda_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ic_decisions')),
    sa.UniqueConstraint('decision_ref', name=op.f('uq_ic_decisions_decision_ref')),
    sa.UniqueConstraint('item_id', name=op.f('uq_ic_decisions_item_id'))
    )
    op.execute("INSERT INTO ic_decisions (item_id, outcome, decision_ref, conditions, decided_at, "
               "decided_by) SELECT id, outcome, decision_ref, conditions, decided_at, decided_by "
               "FROM ic_agenda_items WHERE outcome <> 'pending' AND decided_at IS NOT NULL")
    with op.batch_alter_table('ic_agenda_items', schema=None) as batch_op:
        for column in ('outcome', 'decision_ref', 'conditions', 'decided_at', 'decided_by'):
            batch_op.drop_column(column)


def downgrade():
    with op.batch_alter_table('ic_agenda_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.Enum(*OUTCOMES, name='outcome', native_enum=False, length=30), nullable=False, server_default='pending'))
        batch_op.add_column(sa.Column('decision_ref', sa.String(length=100), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('conditions', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decided_by', sa.String(length=320), nullable=False, server_default=''))
    for column in ('outcome', 'decision_ref', 'conditions', 'decided_at', 'decided_by'):
        op.execute(f"UPDATE ic_agenda_items SET {column} = (SELECT d.{column} FROM ic_decisions d "
                   f"WHERE d.item_id = ic_agenda_items.id) WHERE id IN "
                   f"(SELECT item_id FROM ic_decisions)")
    with op.batch_alter_table('ic_agenda_items', schema=None) as batch_op:
        for column in ('outcome', 'decision_ref', 'conditions', 'decided_by'):
            batch_op.alter_column(column, server_default=None)
    op.drop_table('ic_decisions')
