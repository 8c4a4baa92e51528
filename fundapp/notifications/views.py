"""The notifications page: each signed-in user sees the notifications addressed to their roles.

Mounted inside the compliance blueprint (endpoints compliance.notifications.*), so the app
factory needs no change for it.
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for
from sqlalchemy import and_, or_, select

from fundapp.errors import NotFound
from fundapp.extensions import db
from fundapp.notifications.models import Notification
from fundapp.notifications.operations import mark_read
from fundapp.pagination import paginate

bp = Blueprint("notifications", __name__, url_prefix="/notifications",
               template_folder="templates")


def _roles() -> list[str]:
    return sorted(role.value for role in g.user.roles)


def _mine():
    """Addressed to one of the user's roles, or to the user by name."""
    return or_(and_(Notification.recipient == "", Notification.role.in_(_roles())),
               Notification.recipient == g.user.email)


@bp.get("/")
def index():
    show_read = request.args.get("all") == "1"
    stmt = select(Notification).where(_mine())
    if not show_read:
        stmt = stmt.where(Notification.read_at.is_(None))
    page = paginate(db.session, stmt.order_by(Notification.id.desc()),
                    request.args.get("page", 1))
    return render_template("notifications/index.html", page=page, show_read=show_read)


@bp.post("/<int:note_id>/read")
def read(note_id: int):
    note = db.session.get(Notification, note_id)
    if note is None or not (note.recipient == g.user.email if note.recipient
                            else note.role in _roles()):
        raise NotFound()
    mark_read(db.session, note_id, g.user.email)
    return redirect(url_for("compliance.notifications.index"))
