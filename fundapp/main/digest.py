"""The daily e-mail digest (issue 14): each active user with something pending gets one e-mail a
day, in their language, listing their unread notifications since the last digest and their inbox.

It reads the dashboard's inbox, which spans the domains, so it lives here with the inbox rather
than in fundapp.notifications (which imports no domain). Mail goes out only when
FUNDAPP_SMTP_HOST is set; digest_runs records who got one on which day (Asia/Shanghai), so a
second run the same day, or a caught-up run, sends nothing twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundapp.auth.models import User
from fundapp.dates import SHANGHAI, shanghai_today
from fundapp.extensions import db
from fundapp.main.inbox import InboxSection, build_inbox
from fundapp.notifications.models import DigestRun, Notification
from fundapp.notifications.operations import (
    addressed_to,
    send_email,
    smtp_configured,
    unread_by,
)
from fundapp.scheduler import JobSpec, register_job

NOTIFICATION_LIMIT = 50  # the e-mail lists this many at most; the page has the rest


@dataclass
class Digest:
    user: User
    locale: str
    notifications: list[Notification]
    sections: list[InboxSection]

    @property
    def inbox_items(self) -> int:
        return sum(len(section.items) for section in self.sections)

    @property
    def is_empty(self) -> bool:
        return not self.notifications and not self.inbox_items


def absolute(link: str) -> str:
    """A link of the app made absolute with FUNDAPP_BASE_URL (left as is when it is not set)."""
    base = os.environ.get("FUNDAPP_BASE_URL", "").rstrip("/")
    if not link or "://" in link or not base:
        return link
    return base + (link if link.startswith("/") else "/" + link)


def digest_for(session: Session, user: User, now: datetime) -> Digest:
    """What would go into `user`'s digest now (in their language: user.locale, else zh)."""
    locale = user.locale if user.locale in ("zh", "en") else "zh"
    since = session.scalar(select(func.max(DigestRun.sent_at))
                           .where(DigestRun.user_id == user.id))
    stmt = select(Notification).where(addressed_to(user), unread_by(user))
    if since is not None:
        stmt = stmt.where(Notification.created_at > since)
    notes = list(session.scalars(stmt.order_by(Notification.id.desc())
                                 .limit(NOTIFICATION_LIMIT)))
    with force_locale(locale):
        sections = [s for s in build_inbox(session, user, now) if s.items]
    return Digest(user, locale, notes, sections)


def compose(digest: Digest, today) -> EmailMessage:
    """The e-mail: plain text, with an HTML alternative; links absolute when FUNDAPP_BASE_URL is set."""
    with force_locale(digest.locale):
        subject = _("[fundapp] Your daily digest for %(day)s", day=today.isoformat())
        greeting = _("Hello %(name)s,", name=digest.user.display_name)
        notes_title = _("Unread notifications (%(n)s)", n=len(digest.notifications))
        inbox_title = _("Waiting for you (%(n)s)", n=digest.inbox_items)
        page_title = _("All notifications")
        footer = _("You receive this e-mail once a day while something waits for you.")
        section_titles = [section.title for section in digest.sections]
    english = digest.locale == "en"
    notes = [((n.message_en if english else n.message_zh),
              absolute(n.link), n.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"))
             for n in digest.notifications]
    page_link = absolute("/compliance/notifications/")

    text = [greeting, ""]
    html = [Markup("<p>{}</p>").format(greeting)]
    if notes:
        text += [notes_title]
        html.append(Markup("<h2>{}</h2><ul>").format(notes_title))
        for message, link, when in notes:
            text.append(f"- {when} {message}" + (f" {link}" if link else ""))
            html.append(Markup("<li>{} {}</li>").format(
                when, Markup('<a href="{}">{}</a>').format(link, message) if link else message))
        text += [f"{page_title}: {page_link}", ""]
        html.append(Markup('</ul><p><a href="{}">{}</a></p>').format(page_link, page_title))
    if digest.inbox_items:
        text.append(inbox_title)
        html.append(Markup("<h2>{}</h2>").format(inbox_title))
        for title, section in zip(section_titles, digest.sections, strict=True):
            text.append(f"{title}:")
            html.append(Markup("<h3>{}</h3><ul>").format(title))
            for item in section.items:
                link = absolute(item.url)
                text.append(f"- {item.text}" + (f" {link}" if link else ""))
                html.append(Markup('<li><a href="{}">{}</a></li>').format(link, item.text))
            html.append(Markup("</ul>"))
        text.append("")
    text.append(footer)
    html.append(Markup("<p><small>{}</small></p>").format(footer))

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = os.environ.get("FUNDAPP_SMTP_FROM", "fundapp@localhost")
    message["To"] = digest.user.email
    message.set_content("\n".join(text))
    message.add_alternative(
        f'<!doctype html><html lang="{digest.locale}"><body>'
        + "".join(str(part) for part in html) + "</body></html>", subtype="html")
    return message


def send_digests(session: Session, now: datetime | None = None) -> tuple[int, int, int]:
    """Send today's digests not yet sent: (sent, failed, skipped for nothing pending)."""
    now = now or datetime.now(UTC)
    today = shanghai_today(now)
    done = select(DigestRun.user_id).where(DigestRun.day == today)
    users = list(session.scalars(select(User).where(User.is_active.is_(True),
                                                    User.id.not_in(done)).order_by(User.id)))
    sent = failed = skipped = 0
    for user in users:
        digest = digest_for(session, user, now)
        if digest.is_empty:
            skipped += 1
            continue
        if not send_email(compose(digest, today)):
            failed += 1  # not recorded: the next run (or tomorrow's) tries again
            continue
        session.add(DigestRun(user_id=user.id, day=today, sent_at=now,
                              notifications=len(digest.notifications),
                              inbox_items=digest.inbox_items))
        session.flush()
        sent += 1
    return sent, failed, skipped


def daily_digest_job() -> str:
    """Daily: e-mail each active user with unread notifications or inbox items a digest.

    Idempotent by digest_runs (one per person and Shanghai day). Without FUNDAPP_SMTP_HOST it
    does nothing and says so. The scheduler's unit of work commits.
    """
    if not smtp_configured():
        return "no digest sent: SMTP is not configured (FUNDAPP_SMTP_HOST is not set)"
    sent, failed, skipped = send_digests(db.session)
    message = f"{sent} digest(s) sent, {skipped} user(s) with nothing pending"
    if failed:
        message += f", {failed} could not be sent (retried on the next run)"
    return message


register_job(JobSpec("notifications.digest", daily_digest_job, {"hour": "7", "minute": "30"},
                     timedelta(days=1), clause="R12"))
