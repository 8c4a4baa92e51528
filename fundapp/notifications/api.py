"""API routes of notifications: GET /api/v1/notifications (paged, ?unread=1) and
POST /api/v1/notifications/<id>/read (read for the caller alone)."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_babel import get_locale
from marshmallow import Schema, fields

from fundapp.api import bp
from fundapp.api.core import api_route
from fundapp.api.routes import PAGE_PARAMS
from fundapp.api.schemas import PageSchema
from fundapp.extensions import db
from fundapp.notifications.operations import mark_all_read, mark_read
from fundapp.notifications.views import listing, visible_note
from fundapp.pagination import paginate


class NotificationSchema(Schema):
    id = fields.Integer()
    created_at = fields.DateTime()
    kind = fields.String()
    severity = fields.String(metadata={"enum": ["critical", "warning", "info"]})
    clause = fields.String()
    message = fields.String(metadata={"description": "In the caller's language"})
    message_en = fields.String()
    message_zh = fields.String()
    link = fields.String()
    unread = fields.Boolean()


class NotificationPageSchema(PageSchema):
    items = fields.List(fields.Nested(NotificationSchema))


def _body(note, unread: bool) -> dict[str, Any]:
    locale = str(get_locale())
    return {"id": note.id, "created_at": note.created_at, "kind": note.kind,
            "severity": note.severity, "clause": note.clause,
            "message": note.message_en if locale == "en" else note.message_zh,
            "message_en": note.message_en, "message_zh": note.message_zh,
            "link": note.link, "unread": unread}


@api_route(bp, "/v1/notifications", "GET", response=NotificationPageSchema,
           summary="The caller's notifications, unread first (unread=1: unread only)",
           params=PAGE_PARAMS + [{"name": "unread", "in": "query",
                                  "schema": {"type": "integer", "enum": [0, 1]}}])
def list_notifications():
    page = paginate(db.session, listing(g.user, unread_only=request.args.get("unread") == "1"),
                    request.args.get("page", 1), request.args.get("per_page", 25),
                    scalars=False)
    return {"items": NotificationSchema().dump(
                [_body(row["Notification"], bool(row["unread"])) for row in page.items],
                many=True),
            "page": page.number, "per_page": page.per_page, "total": page.total,
            "pages": page.pages}


@api_route(bp, "/v1/notifications/<int:note_id>/read", "POST", response=NotificationSchema,
           summary="Mark a notification read for the caller (others still see it unread)")
def read_notification(note_id: int):
    visible_note(note_id)
    note = mark_read(db.session, note_id, g.user)
    return NotificationSchema().dump(_body(note, False))


class ReadAllSchema(Schema):
    marked = fields.Integer(metadata={"description": "how many were unread"})


@api_route(bp, "/v1/notifications/read-all", "POST", response=ReadAllSchema,
           summary="Mark every notification the caller sees read (for the caller only)")
def read_all_notifications():
    return {"marked": mark_all_read(db.session, g.user)}
