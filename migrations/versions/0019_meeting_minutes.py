"""What the minutes record of a meeting: times, recorder, discussion per item (issue 15).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ic_meetings") as batch:
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("recorder_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("recorder_name", sa.String(200), nullable=False,
                                   server_default=""))
        batch.create_foreign_key("fk_ic_meetings_recorder_id_users", "users",
                                 ["recorder_id"], ["id"])
    with op.batch_alter_table("ic_agenda_items") as batch:
        batch.add_column(sa.Column("discussion", sa.Text(), nullable=False, server_default=""))


def downgrade():
    with op.batch_alter_table("ic_agenda_items") as batch:
        batch.drop_column("discussion")
    with op.batch_alter_table("ic_meetings") as batch:
        batch.drop_constraint("fk_ic_meetings_recorder_id_users", type_="foreignkey")
        batch.drop_column("recorder_name")
        batch.drop_column("recorder_id")
        batch.drop_column("ended_at")
        batch.drop_column("started_at")
