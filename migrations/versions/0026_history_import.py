"""The history import: workbooks brought in, by SHA-256 (issue 12).

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'imports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('uploaded_by', sa.String(length=320), nullable=False),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('imported_by', sa.String(length=320), nullable=False),
        sa.Column('imported_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('report_json', sa.Text(), nullable=False),
        sa.CheckConstraint("status IN ('uploaded', 'imported')", name=op.f('ck_imports_status')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_imports')),
        sa.UniqueConstraint('sha256', name=op.f('uq_imports_sha256')),
    )


def downgrade():
    op.drop_table('imports')
