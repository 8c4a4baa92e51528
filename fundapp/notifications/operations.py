"""Writing notifications (and, when FUNDAPP_SMTP_HOST is set, e-mailing them)."""

from __future__ import annotations

import logging
import os
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.notifications.models import Notification

log = logging.getLogger("fundapp.notifications")


def _both(message: Any) -> tuple[str, str]:
    """A lazy message rendered in English and Chinese (plain text is used as is for both)."""
    with force_locale("en"):
        en = str(message)
    with force_locale("zh"):
        zh = str(message)
    return en, zh


def notify(session: Session, *, role: str, kind: str, key: str, message: Any,
           severity: str = "warning", clause: str = "", link: str = "",
           email: bool = False, once: bool = False) -> Notification | None:
    """Add a notification for everyone with `role`.

    None when a notification with the same key is still unread, or, with `once`, when one was
    ever written (a reminder for one item and due date is sent once).
    """
    stmt = select(Notification.id).where(Notification.key == key[:200])
    if not once:
        stmt = stmt.where(Notification.read_at.is_(None))
    if session.scalar(stmt.limit(1)) is not None:
        return None
    en, zh = _both(message)
    note = Notification(created_at=datetime.now(UTC), role=role, kind=kind, key=key[:200],
                        severity=severity, clause=clause, message_en=en, message_zh=zh,
                        link=link)
    session.add(note)
    session.flush()
    if email:
        send_email_to_role(session, role, subject=f"[fundapp] {kind}", body=f"{zh}\n\n{en}")
    return note


def notify_user(session: Session, *, email: str, kind: str, key: str, message: Any,
                severity: str = "info", link: str = "") -> Notification | None:
    """Add a notification for one user (by e-mail); None when the same key is still unread."""
    if session.scalar(select(Notification.id).where(Notification.key == key[:200],
                                                    Notification.read_at.is_(None))
                      .limit(1)) is not None:
        return None
    en, zh = _both(message)
    note = Notification(created_at=datetime.now(UTC), role="", recipient=email, kind=kind,
                        key=key[:200], severity=severity, clause="", message_en=en,
                        message_zh=zh, link=link)
    session.add(note)
    session.flush()
    return note


def mark_read(session: Session, note_id: int, reader: str) -> Notification | None:
    note = session.get(Notification, note_id)
    if note is not None and note.read_at is None:
        note.read_at, note.read_by = datetime.now(UTC), reader
        session.flush()
    return note


def send_email_to_role(session: Session, role: str, *, subject: str, body: str) -> int:
    """E-mail every active user holding `role`, only when FUNDAPP_SMTP_HOST is set.

    Mail is a courtesy copy: the notification row is the record, so a mail failure is logged and
    never undoes it. Returns the number of recipients mailed.
    """
    host = os.environ.get("FUNDAPP_SMTP_HOST", "")
    if not host:
        return 0
    from fundapp.auth.models import Role, User, UserRole

    recipients = list(session.scalars(
        select(User.email).join(UserRole).where(UserRole.role == Role(role),
                                                User.is_active.is_(True))))
    if not recipients:
        return 0
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = os.environ.get("FUNDAPP_SMTP_FROM", "fundapp@localhost")
    message["To"] = ", ".join(recipients)
    message.set_content(body)
    try:
        with smtplib.SMTP(host, int(os.environ.get("FUNDAPP_SMTP_PORT", 25)), timeout=20) as smtp:
            if os.environ.get("FUNDAPP_SMTP_STARTTLS") == "1":
                smtp.starttls()
            if user := os.environ.get("FUNDAPP_SMTP_USER"):
                smtp.login(user, os.environ.get("FUNDAPP_SMTP_PASSWORD", ""))
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        log.exception("could not e-mail %s notification to %d recipients", role, len(recipients))
        return 0
    return len(recipients)
