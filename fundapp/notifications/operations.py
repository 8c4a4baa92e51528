"""Writing notifications (and, when FUNDAPP_SMTP_HOST is set, e-mailing them)."""

from __future__ import annotations

import logging
import os
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from flask_babel import force_locale
from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from fundapp.notifications.models import Notification, NotificationRead

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


def addressed_to(user: Any):
    """The notifications `user` sees: addressed to one of their roles, or to them by name."""
    roles = sorted(role.value for role in user.roles)
    return or_(and_(Notification.recipient == "", Notification.role.in_(roles)),
               Notification.recipient == user.email)


def unread_by(user: Any):
    """Not yet read by `user` (nor by everyone it addresses, which closes it for latecomers)."""
    return and_(Notification.read_at.is_(None),
                ~exists().where(NotificationRead.notification_id == Notification.id,
                                NotificationRead.user_id == user.id))


def unread_count(session: Session, user: Any) -> int:
    return session.scalar(select(func.count(Notification.id))
                          .where(addressed_to(user), unread_by(user))) or 0


def _close_if_everyone_read(session: Session, note: Notification, user: Any,
                            now: datetime) -> None:
    """Set the notification's read_at once every active person it addresses has read it."""
    from fundapp.auth.models import Role, User, UserRole

    if note.recipient:
        waiting = 0 if note.recipient == user.email else 1
    else:
        read = exists().where(NotificationRead.notification_id == note.id,
                              NotificationRead.user_id == User.id)
        waiting = session.scalar(
            select(func.count(func.distinct(User.id))).join(UserRole)
            .where(UserRole.role == Role(note.role), User.is_active.is_(True), ~read)) or 0
    if waiting == 0 and note.read_at is None:
        note.read_at, note.read_by = now, user.email


def mark_read(session: Session, note_id: int, user: Any) -> Notification | None:
    """`user` has read the notification (only for them; others still see it unread)."""
    note = session.get(Notification, note_id, with_for_update=True)
    if note is None:
        return None
    already = session.scalar(select(NotificationRead.id).where(
        NotificationRead.notification_id == note.id, NotificationRead.user_id == user.id))
    if already is None:
        now = datetime.now(UTC)
        session.add(NotificationRead(notification_id=note.id, user_id=user.id, read_at=now))
        session.flush()
        _close_if_everyone_read(session, note, user, now)
        session.flush()
    return note


def mark_all_read(session: Session, user: Any) -> int:
    """Every notification `user` has unread becomes read for them; the number marked.

    Set-based, whatever the number: the notifications locked in id order (as mark_read locks
    one), one INSERT of the reads, then one UPDATE per addressed role closing what everyone
    it addresses has now read (mark_read's rule, over the lot).
    """
    from fundapp.auth.models import Role, User, UserRole

    notes = session.execute(select(Notification.id, Notification.role, Notification.recipient)
                            .where(addressed_to(user), unread_by(user))
                            .order_by(Notification.id).with_for_update()).all()
    if not notes:
        return 0
    now = datetime.now(UTC)
    session.execute(insert(NotificationRead), [
        {"notification_id": note.id, "user_id": user.id, "read_at": now} for note in notes])
    mine = [note.id for note in notes if note.recipient]
    by_role: dict[str, list[int]] = {}
    for note in notes:
        if not note.recipient:
            by_role.setdefault(note.role, []).append(note.id)
    for ids in _chunks(mine):
        session.execute(update(Notification).where(Notification.id.in_(ids),
                                                   Notification.read_at.is_(None))
                        .values(read_at=now, read_by=user.email))
    for role, role_ids in by_role.items():
        # An active holder of the role who has not read it (correlated to the row updated).
        read = exists().where(NotificationRead.notification_id == Notification.id,
                              NotificationRead.user_id == User.id).correlate(Notification, User)
        waiting = (select(UserRole.user_id).join(User, User.id == UserRole.user_id)
                   .where(UserRole.role == Role(role), User.is_active.is_(True), ~read)
                   .correlate(Notification))
        for ids in _chunks(role_ids):
            session.execute(update(Notification).where(
                Notification.id.in_(ids), Notification.read_at.is_(None), ~waiting.exists())
                .values(read_at=now, read_by=user.email))
    session.expire_all()
    return len(notes)


def _chunks(ids: list[int], size: int = 500):
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def smtp_configured() -> bool:
    return bool(os.environ.get("FUNDAPP_SMTP_HOST", ""))


def send_email(message: EmailMessage) -> bool:
    """Send one message through FUNDAPP_SMTP_HOST; False (logged) when it cannot be sent."""
    host = os.environ.get("FUNDAPP_SMTP_HOST", "")
    if not host:
        return False
    if not message["From"]:
        message["From"] = os.environ.get("FUNDAPP_SMTP_FROM", "fundapp@localhost")
    try:
        with smtplib.SMTP(host, int(os.environ.get("FUNDAPP_SMTP_PORT", 25)), timeout=20) as smtp:
            if os.environ.get("FUNDAPP_SMTP_STARTTLS") == "1":
                smtp.starttls()
            if login := os.environ.get("FUNDAPP_SMTP_USER"):
                smtp.login(login, os.environ.get("FUNDAPP_SMTP_PASSWORD", ""))
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        log.exception("could not e-mail %s", message["To"])
        return False
    return True


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
    message["To"] = ", ".join(recipients)
    message.set_content(body)
    if not send_email(message):
        return 0
    return len(recipients)
