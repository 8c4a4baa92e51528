"""Notification rows: one message to everyone holding a role (or to one user), read per person.

Who has read what is in notification_reads, one row per notification and person: one admin
marking an alert read leaves it unread for the other admins. The notification's own read_at /
read_by say when the last person it addresses read it (used so the same alert is not repeated
while anyone still has it unread). digest_runs records the daily e-mail digest per person.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fundapp.db import Base, UTCDateTime


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    role: Mapped[str] = mapped_column(String(20), index=True)  # who sees it: a Role value
    kind: Mapped[str] = mapped_column(String(80))  # e.g. "ledger.chain_broken"
    # A notification with the same key is not repeated while an earlier one is still unread.
    key: Mapped[str] = mapped_column(String(200), index=True)
    severity: Mapped[str] = mapped_column(String(20))  # critical | warning | info
    clause: Mapped[str] = mapped_column(String(20), default="")
    message_en: Mapped[str] = mapped_column(Text)
    message_zh: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(300), default="")
    # Set once everyone it addresses has read it (per person: NotificationRead).
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_by: Mapped[str] = mapped_column(String(320), default="")
    # A notification to one user (a task of theirs is done): only they see it, whatever the role.
    recipient: Mapped[str] = mapped_column(String(320), default="", server_default="",
                                           index=True)


class NotificationRead(Base):
    """One person has read one notification."""

    __tablename__ = "notification_reads"
    __table_args__ = (UniqueConstraint("notification_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DigestRun(Base):
    """The daily e-mail digest went to one person on one day (Asia/Shanghai): once a day each."""

    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("user_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    notifications: Mapped[int] = mapped_column(Integer, default=0)
    inbox_items: Mapped[int] = mapped_column(Integer, default=0)
