"""The append-only compliance ledger (R12)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fundapp.db import Base, UTCDateTime


class LedgerEntry(Base):
    """One entry of the hash chain. Rows are never updated or deleted (database triggers refuse it).

    `recorded_at` is kept as the exact ISO-8601 UTC text that was hashed, so that verification
    recomputes the same bytes on any database.
    """

    __tablename__ = "ledger_entries"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    recorded_at: Mapped[str] = mapped_column(String(32), index=True)
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


class JobRun(Base):
    """One occurrence of a scheduled job. The unique (job, scheduled time) pair is the claim: the
    process whose insert succeeds runs it; any other scheduler process skips it."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_id", "scheduled_for"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(80))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(20), default="running")
    message: Mapped[str] = mapped_column(Text, default="")
    worker: Mapped[str] = mapped_column(String(120), default="")
