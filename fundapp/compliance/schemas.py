"""Input and output schemas of the compliance API (kept separate: no mass assignment)."""

from __future__ import annotations

from flask import url_for
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from fundapp.compliance.exports import (
    FIRST_DAY,
    LAST_DAY,
    SCOPE_KINDS,
    day_out_of_range,
    text_problem,
)


def _within_range(day) -> None:
    if (message := day_out_of_range(day)) is not None:
        raise ValidationError(message)


def _plain_text(value: str) -> None:
    if (message := text_problem(value)) is not None:
        raise ValidationError(message)


def PeriodDay(**kwargs) -> fields.Date:  # reads like a field class
    """A day of an export period or a ledger filter: 1900-01-01 to 2200-12-31."""
    return fields.Date(validate=_within_range, metadata={
        "description": f"YYYY-MM-DD, Asia/Shanghai, {FIRST_DAY.isoformat()} to "
                       f"{LAST_DAY.isoformat()}"}, **kwargs)


class ExportCreateSchema(Schema):
    from_on = PeriodDay(required=True, data_key="from")
    to_on = PeriodDay(required=True, data_key="to")
    scope = fields.String(load_default="all", validate=validate.OneOf(SCOPE_KINDS))
    value = fields.String(load_default="", validate=[validate.Length(max=80),
                                                     _plain_text])

    @validates_schema
    def _period(self, data, **kwargs):
        if data["to_on"] < data["from_on"]:
            raise ValidationError(str(_l("The end date is before the start date.")), "to")
        if data["scope"] != "all" and not data["value"].strip():
            raise ValidationError(str(_l("Give the action prefix or subject type to export.")),
                                  "value")


class ExportSchema(Schema):
    id = fields.Integer()
    uid = fields.String()
    created_at = fields.DateTime()
    created_by = fields.String()
    period_from_on = fields.Date(data_key="from")
    period_to_on = fields.Date(data_key="to")
    scope_kind = fields.String(data_key="scope")
    scope_value = fields.String(data_key="value")
    entry_count = fields.Integer()
    chain_count = fields.Integer()
    first_seq = fields.Integer()
    last_seq = fields.Integer()
    chain_hash_before = fields.String()
    chain_hash_after = fields.String()
    manifest_sha256 = fields.String()
    key_fingerprint = fields.String()
    size_bytes = fields.Integer()
    download_url = fields.Method("get_download_url")

    def get_download_url(self, export):
        return url_for("api.download_ledger_export", export_id=export.id)


class ExportPageSchema(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()
    items = fields.List(fields.Nested(ExportSchema))


class PublicKeySchema(Schema):
    algorithm = fields.String()
    pem = fields.String()
    fingerprint = fields.String(metadata={"description": "SHA-256 of the 32 raw key bytes, hex"})


class CheckMessageSchema(Schema):
    en = fields.String()
    zh = fields.String()


class CheckItemSchema(Schema):
    check = fields.String()
    clause = fields.String()
    severity = fields.String(validate=validate.OneOf(["critical", "warning", "info"]))
    subject_type = fields.String()
    subject_id = fields.String()
    subject = fields.String()
    message = fields.Nested(CheckMessageSchema)
    due_on = fields.Date(allow_none=True)


class CheckInfoSchema(Schema):
    id = fields.String()
    clause = fields.String()
    title = fields.String()


class ChecksSchema(Schema):
    ran_at = fields.DateTime()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    checks = fields.List(fields.Nested(CheckInfoSchema))
    items = fields.List(fields.Nested(CheckItemSchema))
