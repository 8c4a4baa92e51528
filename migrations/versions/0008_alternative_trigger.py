"""R3.f alternative trigger: the agreed condition met and its filed appraisal; a conversion may be
priced by that appraisal instead of a round (basis, nullable round_id).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('grant_alternative_triggers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('condition', sa.Text(), nullable=False),
    sa.Column('met_on', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('appraised_value_amount', sa.BigInteger(), nullable=False),
    sa.Column('base_on', sa.Date(), nullable=False),
    sa.Column('units_outstanding', sa.BigInteger(), nullable=False),
    sa.Column('filing_no', sa.String(length=100), nullable=False),
    sa.Column('filed_on', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_grant_alternative_triggers_grant_id_grants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grant_alternative_triggers')),
    sa.UniqueConstraint('grant_id', name=op.f('uq_grant_alternative_triggers_grant_id'))
    )
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('basis', sa.String(length=20), nullable=False,
                                      server_default='round'))
        batch_op.alter_column('round_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.alter_column('round_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('basis')
    op.drop_table('grant_alternative_triggers')
