"""Notification rows: one message to everyone holding a role, shown until someone marks it read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
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
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_by: Mapped[str] = mapped_column(String(320), default="")
    # A notification to one user (a task of theirs is done): only they see it, whatever the role.
    recipient: Mapped[str] = mapped_column(String(320), default="", server_default="",
                                           index=True)
