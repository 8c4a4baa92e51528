"""API routes of the reference data (working-day calendar, 1-year LPR), on the shared blueprint.

Issue 12 (parity): everything the calendar and LPR pages can do, the API can, through the same
operations and schemas. The handlers never commit: the request's unit of work does.
"""

from __future__ import annotations

from flask import g, request
from marshmallow import Schema, fields

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.extensions import db
from fundapp.reference import operations as ops
from fundapp.reference.schemas import CalendarDaySchema, LprRateSchema


class CalendarDayOutSchema(Schema):
    id = fields.Integer()
    on = fields.Date()
    is_working_day = fields.Boolean()
    name = fields.String()


class LprRateOutSchema(Schema):
    id = fields.Integer()
    published_on = fields.Date()
    rate = fields.Decimal(as_string=True, metadata={"description": "fraction per year"})


class ImportedSchema(Schema):
    imported = fields.Integer()


def _upload() -> bytes:
    upload = request.files.get("file")
    return upload.read() if upload else request.get_data()


@api_route(bp, "/v1/reference/calendar", "POST",
           summary="Mark a day a public holiday on a weekday or a make-up working day (调休), "
                   "replacing what was there", body=CalendarDaySchema,
           response=CalendarDayOutSchema, status=201)
def set_calendar_day():
    row = ops.set_calendar_day(db.session, actor=g.user.email, **load_json(CalendarDaySchema()))
    return CalendarDayOutSchema().dump(row), 201


@api_route(bp, "/v1/reference/calendar/<int:day_id>", "DELETE",
           summary="Remove a calendar day (it follows the Monday-Friday rule again)")
def remove_calendar_day(day_id: int):
    ops.remove_calendar_day(db.session, day_id, actor=g.user.email)
    return "", 204


@api_route(bp, "/v1/reference/calendar/import", "POST",
           summary="Import calendar days from CSV (multipart field 'file', or the body): all "
                   "rows or none, each bad row named", response=ImportedSchema, status=201)
def import_calendar():
    return {"imported": ops.import_calendar_csv(db.session, _upload(), actor=g.user.email)}, 201


@api_route(bp, "/v1/reference/lpr", "POST",
           summary="Record the 1-year LPR published on a day (rate_pct in percent per year)",
           body=LprRateSchema, response=LprRateOutSchema, status=201)
def add_lpr_rate():
    row = ops.add_lpr_rate(db.session, actor=g.user.email, **load_json(LprRateSchema()))
    return LprRateOutSchema().dump(row), 201


@api_route(bp, "/v1/reference/lpr/import", "POST",
           summary="Import 1-year LPR rates from CSV (multipart field 'file', or the body): all "
                   "rows or none, each bad row named", response=ImportedSchema, status=201)
def import_lpr():
    return {"imported": ops.import_lpr_csv(db.session, _upload(), actor=g.user.email)}, 201
