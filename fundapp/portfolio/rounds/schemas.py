"""Input and output schemas of financing rounds (kept separate)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from fundapp.portfolio.fields import Day, MoneyField, UnitsField
from fundapp.portfolio.rounds.models import RoundKind


class InvestorInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    cash_amount = MoneyField(required=True, positive=True)
    is_independent = fields.Boolean(required=True)


class HolderInSchema(Schema):
    holder = fields.String(required=True, validate=validate.Length(min=1, max=200))
    units = UnitsField(required=True)


class RoundCreateSchema(Schema):
    name = fields.String(load_default="", validate=validate.Length(max=200))
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in RoundKind]))
    closed_on = Day(required=True)
    definitive_agreement_signed_on = Day(load_default=None)
    pre_money_valuation_amount = MoneyField(required=True, positive=True)
    units_before = UnitsField(required=True)
    investors = fields.List(fields.Nested(InvestorInSchema), required=True,
                            validate=validate.Length(min=1, max=50))
    lead = fields.String(load_default=None, validate=validate.Length(max=200))
    holders_before = fields.List(fields.Nested(HolderInSchema), load_default=None)

    @validates_schema
    def _units(self, data, **kwargs):
        units = data.get("units_before")
        if units is not None and units <= 0:
            raise ValidationError(str(_l("Units before the round must be more than 0.")),
                                  "units_before")
        names = [i["name"] for i in data.get("investors") or []]
        if data.get("lead") and names and data["lead"] not in names:
            raise ValidationError(str(_l("The lead investor must be one of the investors.")),
                                  "lead")


class InvestorSchema(Schema):
    name = fields.String()
    cash_amount = MoneyField()
    is_independent = fields.Boolean()
    is_lead = fields.Boolean()


class DocumentSchema(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    sha256 = fields.String()
    uploaded_by = fields.String()
    created_at = fields.DateTime()


class RoundCheckSchema(Schema):
    grant_id = fields.Integer()
    is_qualifying = fields.Boolean()
    clauses = fields.Function(lambda c: c.clauses)


class RoundListSchema(Schema):
    items = fields.List(fields.Nested(lambda: RoundSchema()))


class RoundSchema(Schema):
    id = fields.Integer()
    company_id = fields.Integer()
    name = fields.String()
    kind = fields.Function(lambda r: r.kind.value)
    closed_on = fields.Date()
    definitive_agreement_signed_on = fields.Date()
    pre_money_valuation_amount = MoneyField()
    units_before = fields.Decimal(as_string=True)
    new_money_amount = MoneyField()
    investors = fields.List(fields.Nested(InvestorSchema))
    documents = fields.List(fields.Nested(DocumentSchema))
    checks = fields.List(fields.Nested(RoundCheckSchema))
    recorded_by = fields.String()
