"""Investment committee: meetings, agenda, recusals, votes, packs, minutes; quarterly reports (issue 6).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ic_meetings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('chair_id', sa.Integer(), nullable=False),
    sa.Column('quorum', sa.String(length=10), nullable=False),
    sa.Column('decision_rule', sa.String(length=10), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['chair_id'], ['users.id'], name=op.f('fk_ic_meetings_chair_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ic_meetings'))
    )
    with op.batch_alter_table('ic_meetings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ic_meetings_held_on'), ['held_on'], unique=False)

    op.create_table('ic_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('is_present', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['ic_meetings.id'], name=op.f('fk_ic_members_meeting_id_ic_meetings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ic_members_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ic_members')),
    sa.UniqueConstraint('meeting_id', 'user_id', name=op.f('uq_ic_members_meeting_id'))
    )
    with op.batch_alter_table('ic_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ic_members_meeting_id'), ['meeting_id'], unique=False)

    op.create_table('ic_agenda_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('deal_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('dd_summary', sa.Text(), nullable=False),
    sa.Column('risks', sa.Text(), nullable=False),
    sa.Column('outcome', sa.Enum('pending', 'approved', 'approved_with_conditions', 'rejected', name='outcome', native_enum=False, length=30), nullable=False),
    sa.Column('decision_ref', sa.String(length=100), nullable=False),
    sa.Column('conditions', sa.Text(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=320), nullable=False),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_ic_agenda_items_deal_id_deals')),
    sa.ForeignKeyConstraint(['meeting_id'], ['ic_meetings.id'], name=op.f('fk_ic_agenda_items_meeting_id_ic_meetings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ic_agenda_items')),
    sa.UniqueConstraint('meeting_id', 'deal_id', name=op.f('uq_ic_agenda_items_meeting_id'))
    )
    with op.batch_alter_table('ic_agenda_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ic_agenda_items_deal_id'), ['deal_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ic_agenda_items_meeting_id'), ['meeting_id'], unique=False)

    op.create_table('ic_recusals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Enum('manager', 'conflict', name='recusalreason', native_enum=False, length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['ic_agenda_items.id'], name=op.f('fk_ic_recusals_item_id_ic_agenda_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ic_recusals_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ic_recusals')),
    sa.UniqueConstraint('item_id', 'user_id', name=op.f('uq_ic_recusals_item_id'))
    )
    with op.batch_alter_table('ic_recusals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ic_recusals_item_id'), ['item_id'], unique=False)

    op.create_table('ic_votes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('choice', sa.Enum('approve', 'approve_with_conditions', 'reject', 'abstain', name='votechoice', native_enum=False, length=30), nullable=False),
    sa.Column('conditions', sa.Text(), nullable=False),
    sa.Column('pack_version', sa.Integer(), nullable=False),
    sa.Column('cast_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['ic_agenda_items.id'], name=op.f('fk_ic_votes_item_id_ic_agenda_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ic_votes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ic_votes')),
    sa.UniqueConstraint('item_id', 'user_id', name=op.f('uq_ic_votes_item_id'))
    )
    with op.batch_alter_table('ic_votes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ic_votes_item_id'), ['item_id'], unique=False)

    op.create_table('ic_packs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=4), nullable=False),
    sa.Column('is_final', sa.Boolean(), nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('generated_by', sa.String(length=320), nullable=False),
    sa.Column('data_json', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['ic_meetings.id'], name=op.f('fk_ic_packs_meeting_id_ic_meetings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ic_packs')),
    sa.UniqueConstraint('meeting_id', 'version', name=op.f('uq_ic_packs_meeting_id'))
    )
    with op.batch_alter_table('ic_packs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ic_packs_meeting_id'), ['meeting_id'], unique=False)

    op.create_table('ic_minutes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_by', sa.String(length=320), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('signed_by', sa.String(length=320), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['meeting_id'], ['ic_meetings.id'], name=op.f('fk_ic_minutes_meeting_id_ic_meetings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ic_minutes')),
    sa.UniqueConstraint('meeting_id', 'version', name=op.f('uq_ic_minutes_meeting_id'))
    )
    with op.batch_alter_table('ic_minutes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ic_minutes_meeting_id'), ['meeting_id'], unique=False)

    op.create_table('quarterly_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('quarter', sa.String(length=6), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('generated_by', sa.String(length=320), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarterly_reports')),
    sa.UniqueConstraint('quarter', 'version', name=op.f('uq_quarterly_reports_quarter'))
    )
    with op.batch_alter_table('quarterly_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarterly_reports_quarter'), ['quarter'], unique=False)


def downgrade():
    for table in ('quarterly_reports', 'ic_minutes', 'ic_packs', 'ic_votes', 'ic_recusals',
                  'ic_agenda_items', 'ic_members', 'ic_meetings'):
        op.drop_table(table)
