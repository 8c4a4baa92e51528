"""No durable state on a host: evidence in the database, signing keys with validity (issue 16).

The upgrade copies the evidence files that earlier versions kept under the instance folder
(FUNDAPP_INSTANCE_DIR, else instance/ at the project root; evidence/<2 hex>/<sha256>) into
`evidence_blobs`; files that are missing or whose bytes do not match their SHA-256 are skipped
(their download answers 404, as before). The downgrade writes the blobs back to that folder.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""
import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def _evidence_folder() -> Path:
    root = Path(__file__).resolve().parent.parent.parent
    return Path(os.environ.get("FUNDAPP_INSTANCE_DIR", root / "instance")) / "evidence"


def upgrade():
    blobs = op.create_table(
        'evidence_blobs',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size_bytes', sa.Integer(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('sha256', name=op.f('pk_evidence_blobs')),
    )
    op.create_table(
        'signing_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('public_pem', sa.Text(), nullable=False),
        sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
        sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('added_by', sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_keys')),
        sa.UniqueConstraint('fingerprint', name=op.f('uq_signing_keys_fingerprint')),
        sa.UniqueConstraint('valid_from', name=op.f('uq_signing_keys_valid_from')),
    )
    folder = _evidence_folder()
    if not folder.is_dir():
        return
    conn = op.get_bind()
    digests = conn.execute(sa.text("SELECT DISTINCT sha256 FROM evidence_documents")).scalars()
    now = datetime.now(UTC)
    for digest in digests:
        path = folder / digest[:2] / digest
        try:
            content = path.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(content).hexdigest() != digest:
            continue
        conn.execute(blobs.insert().values(sha256=digest, size_bytes=len(content),
                                           content=content, created_at=now))


def downgrade():
    conn = op.get_bind()
    folder = _evidence_folder()
    rows = conn.execute(sa.text("SELECT sha256, content FROM evidence_blobs"))
    for digest, content in rows:
        path = folder / digest[:2] / digest
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(content))
    op.drop_table('signing_keys')
    op.drop_table('evidence_blobs')
