"""Security events (failed sign-ins) in their own chain, off the ledger's lock (issue 16).

security_events is a hash chain of its own with its own head row (security_event_heads), so a
burst of failed sign-ins never waits on the ledger head and business writes never wait on it.
Like ledger_entries it is append-only in the database itself (triggers refuse UPDATE and DELETE,
TRUNCATE on PostgreSQL, INSERT OR REPLACE on SQLite).

It replaces login_attempts: the sign-in throttle counts failed sign-ins in security_events. The
rows of login_attempts are carried over (chained in their order) so an upgrade does not lift a
lock-out; the downgrade recreates login_attempts from the failed sign-ins.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""
import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _hash(seq, occurred_at, kind, subject, address, details, prev_hash):
    # Same canonical form as fundapp.compliance.security_events.event_hash (copied: migrations
    # never import the app).
    body = json.dumps({"address": address, "details": details, "kind": kind,
                       "occurred_at": occurred_at, "prev_hash": prev_hash, "seq": seq,
                       "subject": subject},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def upgrade():
    seq_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table('security_events',
    sa.Column('seq', seq_type, autoincrement=False, nullable=False),
    sa.Column('occurred_at', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=320), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_security_events')),
    sa.UniqueConstraint('hash', name=op.f('uq_security_events_hash'))
    )
    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.create_index('ix_security_events_kind_subject', ['kind', 'subject', 'occurred_at'],
                              unique=False)
        batch_op.create_index('ix_security_events_kind_address', ['kind', 'address', 'occurred_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_security_events_occurred_at'), ['occurred_at'],
                              unique=False)
    op.create_table('security_event_heads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_security_event_heads'))
    )

    bind = op.get_bind()
    attempts = sa.table('login_attempts', sa.column('id', sa.Integer()),
                        sa.column('email', sa.String()), sa.column('address', sa.String()),
                        sa.column('attempted_at', sa.DateTime(timezone=True)))
    rows = bind.execute(sa.select(attempts.c.email, attempts.c.address, attempts.c.attempted_at)
                        .order_by(attempts.c.attempted_at, attempts.c.id)).all()
    prev, seq = GENESIS, 0
    events = sa.table('security_events', *(sa.column(c) for c in (
        'seq', 'occurred_at', 'kind', 'subject', 'address', 'details', 'prev_hash', 'hash')))
    batch = []
    for email, address, attempted_at in rows:
        seq += 1
        if attempted_at.tzinfo is None:
            attempted_at = attempted_at.replace(tzinfo=UTC)
        at = attempted_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        details = '{"reason":"carried_over","via":"unknown"}'
        digest = _hash(seq, at, "login_failed", email, address, details, prev)
        batch.append({"seq": seq, "occurred_at": at, "kind": "login_failed", "subject": email,
                      "address": address, "details": details, "prev_hash": prev,
                      "hash": digest})
        prev = digest
    if batch:
        op.bulk_insert(events, batch)
    op.execute(f"INSERT INTO security_event_heads (id, seq, hash) VALUES (1, {seq}, '{prev}')")

    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_attempts_email'))
        batch_op.drop_index(batch_op.f('ix_login_attempts_attempted_at'))
        batch_op.drop_index(batch_op.f('ix_login_attempts_address'))
    op.drop_table('login_attempts')

    if bind.dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER security_events_no_{event.lower()} BEFORE {event} "
                "ON security_events "
                "BEGIN SELECT RAISE(ABORT, 'security_events is append-only'); END"
            )
        op.execute(
            "CREATE TRIGGER security_events_no_replace BEFORE INSERT ON security_events "
            "WHEN EXISTS (SELECT 1 FROM security_events WHERE seq = NEW.seq OR hash = NEW.hash) "
            "BEGIN SELECT RAISE(ABORT, 'security_events is append-only'); END"
        )
    else:
        op.execute(
            "CREATE FUNCTION security_events_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'security_events is append-only' USING ERRCODE = '42501'; "
            "END $$"
        )
        op.execute(
            "CREATE TRIGGER security_events_no_change BEFORE UPDATE OR DELETE ON security_events "
            "FOR EACH ROW EXECUTE FUNCTION security_events_refuse()"
        )
        op.execute(
            "CREATE TRIGGER security_events_no_truncate BEFORE TRUNCATE ON security_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION security_events_refuse()"
        )


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS security_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS security_events_no_delete")
        op.execute("DROP TRIGGER IF EXISTS security_events_no_replace")
    else:
        op.execute("DROP TRIGGER IF EXISTS security_events_no_change ON security_events")
        op.execute("DROP TRIGGER IF EXISTS security_events_no_truncate ON security_events")
        op.execute("DROP FUNCTION IF EXISTS security_events_refuse()")
    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts'))
    )
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_attempts_address'), ['address'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_attempts_attempted_at'), ['attempted_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_login_attempts_email'), ['email'], unique=False)
    # The throttle's recent count survives a downgrade too.
    rows = bind.execute(sa.text("SELECT subject, address, occurred_at FROM security_events "
                                "WHERE kind = 'login_failed' ORDER BY seq")).all()
    attempts = sa.table('login_attempts', sa.column('email', sa.String()),
                        sa.column('address', sa.String()),
                        sa.column('attempted_at', sa.DateTime(timezone=True)))
    if rows:
        op.bulk_insert(attempts, [
            {"email": subject, "address": address,
             "attempted_at": datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ")
             .replace(tzinfo=UTC)} for subject, address, at in rows])
    op.drop_table('security_event_heads')
    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_security_events_occurred_at'))
        batch_op.drop_index('ix_security_events_kind_address')
        batch_op.drop_index('ix_security_events_kind_subject')
    op.drop_table('security_events')
