"""The notifications page: each signed-in user sees the notifications addressed to their roles
or to them, unread first, and marks them read for themselves alone.

Mounted inside the compliance blueprint (endpoints compliance.notifications.*), so the app
factory needs no change for it.
"""

from __future__ import annotations

import logging

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, select

from fundapp.errors import NotFound
from fundapp.extensions import db
from fundapp.notifications.models import Notification
from fundapp.notifications.operations import (
    addressed_to,
    mark_all_read,
    mark_read,
    unread_by,
    unread_count,
)
from fundapp.pagination import paginate

bp = Blueprint("notifications", __name__, url_prefix="/notifications",
               template_folder="templates")
log = logging.getLogger("fundapp.notifications")

SEVERITY_LABELS = {"critical": _l("Critical"), "warning": _l("Warning"),
                   "info": _l("Information")}


def listing(user, *, unread_only: bool):
    """The user's notifications with an `unread` flag: unread first, newest first."""
    unread = case((unread_by(user), True), else_=False).label("unread")
    stmt = select(Notification, unread).where(addressed_to(user))
    if unread_only:
        stmt = stmt.where(unread_by(user))
    return stmt.order_by(case((unread_by(user), 0), else_=1), Notification.id.desc())


def visible_note(note_id: int) -> Notification:
    note = db.session.get(Notification, note_id)
    if note is None or db.session.scalar(select(Notification.id).where(
            Notification.id == note_id, addressed_to(g.user))) is None:
        raise NotFound()
    return note


@bp.app_context_processor
def _notifications_badge():
    def badge() -> int | None:
        """The reader's unread notifications for the navigation's badge: one COUNT query, once
        per request; None when no one is signed in or it cannot be read (an error page must
        still render)."""
        if g.get("user") is None:
            return None
        if "unread_notifications" not in g:
            try:
                g.unread_notifications = unread_count(db.session, g.user)
            except Exception:  # the badge never breaks the page it sits on
                log.exception("the notifications could not be counted for the badge")
                g.unread_notifications = None
        return g.unread_notifications

    return {"notifications_badge": badge}


@bp.get("/")
def index():
    unread_only = request.args.get("show") == "unread"
    page = paginate(db.session, listing(g.user, unread_only=unread_only),
                    request.args.get("page", 1), scalars=False)
    return render_template("notifications/index.html", page=page, unread_only=unread_only,
                           unread=unread_count(db.session, g.user),
                           severity_labels=SEVERITY_LABELS)


def _back():
    show = request.form.get("show")
    return redirect(url_for("compliance.notifications.index",
                            **({"show": "unread"} if show == "unread" else {})))


@bp.post("/<int:note_id>/read")
def read(note_id: int):
    visible_note(note_id)
    mark_read(db.session, note_id, g.user)
    return _back()


@bp.post("/read-all")
def read_all():
    count = mark_all_read(db.session, g.user)
    flash(_("%(n)s notifications marked as read.", n=count), "success")
    return _back()
