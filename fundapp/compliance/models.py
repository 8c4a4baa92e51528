"""The append-only compliance ledger (R12)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from fundapp.db import Base, UTCDateTime


class LedgerEntry(Base):
    """One entry of the hash chain. Rows are never updated or deleted (database triggers refuse it).

    `recorded_at` is kept as the exact ISO-8601 UTC text that was hashed, so that verification
    recomputes the same bytes on any database.
    """

    __tablename__ = "ledger_entries"
    # The dashboard lists a user's own recent entries (issue 14: no scan of the whole ledger).
    # An object's page lists its corrections (issue 12): WHERE subject_type, subject_id.
    __table_args__ = (Index("ix_ledger_entries_actor_seq", "actor", "seq"),
                      Index("ix_ledger_entries_subject", "subject_type", "subject_id", "seq"))

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    recorded_at: Mapped[str] = mapped_column(String(32), index=True)
    # The day the recorded fact happened (issue 12: a signing, a payment, a round...), beside
    # recorded_at, when it was recorded; None for entries that are not facts on a day. Hashed
    # only when present, so that entries made before it existed verify as they did.
    happened_on: Mapped[date | None] = mapped_column(Date, default=None)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(80), index=True)
    subject_type: Mapped[str] = mapped_column(String(80))
    subject_id: Mapped[str] = mapped_column(String(80))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LedgerHead(Base):
    """A single row naming the chain's last entry.

    Every writer updates this row first, which takes the database's write lock (a row lock on
    PostgreSQL, the database lock on SQLite) so that concurrent transactions append one after the
    other and never fork the chain. It is a cache of the chain, never its proof: verification reads
    the entries alone.
    """

    __tablename__ = "ledger_heads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    # The last entry that could change the fund's book (ledger.BOOK_NEUTRAL names those that
    # cannot): performance figures are cached under it (compliance/book_cache.py).
    book_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    book_hash: Mapped[str] = mapped_column(String(64), default="", server_default="")


class JobRun(Base):
    """One attempt at one occurrence of a scheduled job. The unique (job, scheduled time, attempt)
    triple is the claim: the process whose insert succeeds runs it; any other scheduler process
    skips it.

    A run holds a lease until `lease_expires_at`: a worker killed mid-run never records its
    outcome, so once the lease has expired the scheduler marks the run failed
    (`is_lease_expired`) and the catch-up policy may run the occurrence again as the next attempt.
    """

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_id", "scheduled_for", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(80))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime())
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(20), default="running")
    is_lease_expired: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    message: Mapped[str] = mapped_column(Text, default="")
    worker: Mapped[str] = mapped_column(String(120), default="")


class LedgerExport(Base):
    """One signed export of a ledger segment handed to an auditor (issue 7).

    The row is written, with its own ledger entry, only once the bundle is complete: an export
    that fails half-way leaves neither a row nor a file that looks finished.
    """

    __tablename__ = "ledger_exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)  # also in the signed manifest
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(320))
    period_from_on: Mapped[date] = mapped_column(Date)
    period_to_on: Mapped[date] = mapped_column(Date)
    scope_kind: Mapped[str] = mapped_column(String(20))  # all | action | subject_type
    scope_value: Mapped[str] = mapped_column(String(80), default="")
    entry_count: Mapped[int] = mapped_column(Integer)  # entries in scope (CSV/XLSX rows)
    chain_count: Mapped[int] = mapped_column(Integer)  # entries in the chain segment (JSONL lines)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash_before: Mapped[str] = mapped_column(String(64))
    chain_hash_after: Mapped[str] = mapped_column(String(64))
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(200))  # the name the bundle downloads as
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # What the bundle is rebuilt from on demand, on any host (issue 16), with the immutable
    # ledger: the exact bytes of manifest.json, its signature, the public key that made it and
    # the ZIP layout (CRCs and sheet sizes). Empty for exports made before: their file was kept
    # only on the host that made it.
    manifest_json: Mapped[str | None] = mapped_column(Text, default=None)
    manifest_sig: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    public_key_pem: Mapped[str | None] = mapped_column(Text, default=None)
    bundle_layout: Mapped[str | None] = mapped_column(Text, default=None)


# Admin notifications live in their own package; importing the models here keeps every table
# known to the metadata wherever the compliance models are loaded (fundapp/models.py does).
from fundapp.notifications import models as _notification_models  # noqa: E402,F401


class LedgerSigningKey(Base):
    """The public half of a key that signs ledger export manifests, with its validity (issue 16).

    The key registered with the latest `valid_from` not after now signs; `valid_until` is the
    moment its successor took over (a day given as YYYY-MM-DD starts at 00:00 Asia/Shanghai). Private keys are configuration (fundapp.compliance.signing),
    never stored here.
    """

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    public_pem: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime(), unique=True)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    added_by: Mapped[str] = mapped_column(String(320))
