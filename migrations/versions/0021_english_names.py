"""English names for deals, meetings and people in documents (issue 15).

The English IC pack, minutes and quarterly report show these where they are filled in, else
the Chinese ones (an empty English field means "not translated").

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

# table -> ((column, length or None for Text), ...)
COLUMNS = {
    "users": (("name_en", 200),),
    "deals": (("project_name_en", 200), ("memo_reviewed_by_en", 200)),
    "founders": (("name_en", 100), ("title_en", 100), ("background_en", None)),
    "ic_meetings": (("title_en", 200), ("location_en", 200), ("recorder_name_en", 200)),
    "roadshows": (("name_en", 200), ("venue_en", 200)),
    "panel_members": (("name_en", 200), ("affiliation_en", 200)),
    "index_series": (("name_en", 100),),
}


def upgrade():
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name, length in columns:
                kind = sa.Text() if length is None else sa.String(length)
                batch.add_column(sa.Column(name, kind, nullable=False, server_default=""))


def downgrade():
    for table, columns in reversed(COLUMNS.items()):
        with op.batch_alter_table(table) as batch:
            for name, _length in reversed(columns):
                batch.drop_column(name)
