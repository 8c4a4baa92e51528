"""The task table: one row per piece of long work requested by a user (issue 16)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from fundapp.db import Base, UTCDateTime

STATUSES = ("queued", "running", "done", "failed")


class Task(Base):
    """A task is claimed by one worker at a time: `claimed_by` holds it until `lease_expires_at`
    (each progress report extends the lease). A worker that dies mid-task never records an
    outcome; once the lease has expired another worker claims the task again (attempts + 1), up
    to `max_attempts`, after which it fails with the reason kept in `error`.

    A task that produces a file (a spreadsheet, a PDF) keeps it in `file_bytes` (size-limited),
    so the download works from any web host.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        CheckConstraint("done >= 0 AND total >= 0 AND done <= total", name="progress"),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="attempts"),
        # Claiming reads the oldest queued task, or a running one whose lease has expired.
        Index("ix_tasks_status_requested_at", "status", "requested_at"),
        Index("ix_tasks_status_lease_expires_at", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(80))
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(20), default="queued")
    requested_by: Mapped[str] = mapped_column(String(320), index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str] = mapped_column(String(120), default="")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    result_json: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    file_name: Mapped[str] = mapped_column(String(200), default="")
    file_type: Mapped[str] = mapped_column(String(100), default="")
    file_bytes: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
