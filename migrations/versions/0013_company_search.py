"""Search: companies' former names (曾用名) and the search key (names folded, pinyin, credit code).

The key of every existing company is worked out here once, by a frozen copy of the key as it
was written (a migration never imports the app); from now on the ORM hook in
fundapp/deals/models.py keeps it on every write.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""
import re
import unicodedata

import sqlalchemy as sa
from alembic import op
from pypinyin import Style, lazy_pinyin

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


_KEEP = re.compile(r"[^0-9a-z\u3400-\u9fff]+")
_HAN = re.compile(r"[\u3400-\u9fff]")


def _fold(text):
    return _KEEP.sub("", unicodedata.normalize("NFKC", text or "").lower())


def _key(legal_name, name_en, uscc):
    parts = [_fold(legal_name), _fold(name_en)]
    han = "".join(_HAN.findall(legal_name or ""))
    if han:
        parts += ["".join(lazy_pinyin(han)), "".join(lazy_pinyin(han, style=Style.FIRST_LETTER))]
    if uscc:
        parts.append(_fold(uscc))
    return ("|" + "|".join(dict.fromkeys(p for p in parts if p)) + "|")[:2000]


def upgrade():
    with op.batch_alter_table('companies') as batch:
        batch.add_column(sa.Column('former_names', sa.Text(), nullable=False, server_default=''))
        batch.add_column(sa.Column('search_key', sa.String(length=2000), nullable=False,
                                   server_default=''))
    connection = op.get_bind()
    companies = sa.table('companies', sa.column('id', sa.Integer()),
                         sa.column('legal_name', sa.String()), sa.column('name_en', sa.String()),
                         sa.column('former_names', sa.Text()), sa.column('uscc', sa.String()),
                         sa.column('search_key', sa.String()))
    rows = connection.execute(sa.select(companies.c.id, companies.c.legal_name,
                                        companies.c.name_en, companies.c.uscc)).all()
    keys = [{"key_id": row.id, "key": _key(row.legal_name, row.name_en, row.uscc)}
            for row in rows]
    if keys:
        connection.execute(companies.update().where(companies.c.id == sa.bindparam("key_id"))
                           .values(search_key=sa.bindparam("key")), keys)


def downgrade():
    with op.batch_alter_table('companies') as batch:
        batch.drop_column('search_key')
        batch.drop_column('former_names')
