"""Input and output schemas of valuation marks, appraisals and cash flows."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from fundapp.portfolio.fields import MAX_AMOUNT, Day, Id, MoneyField, UnitsField


class MarkCreateSchema(Schema):
    measured_on = Day(required=True)
    method = fields.String(required=True, validate=validate.OneOf(
        ["recent_round", "multiples", "dcf", "net_assets", "quoted", "write_off"]))
    value_per_unit = fields.Decimal(required=True, as_string=True, allow_nan=False,
                                    places=None)
    inputs = fields.Dict(keys=fields.String(), load_default=dict)
    note = fields.String(load_default="", validate=validate.Length(max=2000))

    @validates_schema
    def _places(self, data, **kwargs):
        value = data.get("value_per_unit")
        if value is not None and value != value.quantize(Decimal("0.000001")):
            raise ValidationError({"value_per_unit": [str(_l("At most 6 decimal places."))]})
        if value is not None and abs(value) >= MAX_AMOUNT:
            raise ValidationError({"value_per_unit": [str(_l("This amount is too large."))]})


class MarkSchema(Schema):
    id = fields.Integer()
    holding_id = fields.Integer()
    measured_on = fields.Date()
    method = fields.Function(lambda m: m.method.value)
    value_per_unit = fields.Decimal(as_string=True)
    inputs = fields.Function(lambda m: m.inputs)
    status = fields.Function(lambda m: m.status.value)
    author = fields.String()
    approver = fields.String()
    finalised_on = fields.Date(allow_none=True)
    note = fields.String()


class AppraisalCreateSchema(Schema):
    base_on = Day(required=True)
    units = UnitsField(required=True)
    value_amount = MoneyField(required=True)
    filing_no = fields.String(required=True, validate=validate.Length(min=1, max=100))
    filed_on = Day(required=True)
    appraiser = fields.String(load_default="", validate=validate.Length(max=200))


class AppraisalSchema(Schema):
    id = fields.Integer()
    holding_id = fields.Integer()
    base_on = fields.Date()
    units = fields.Decimal(as_string=True)
    value_amount = fields.Decimal(as_string=True)
    filing_no = fields.String()
    filed_on = fields.Date()


class CashFlowCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(
        ["follow_on", "dividend", "recovery", "fee"]))
    on = Day(required=True)
    amount = MoneyField(required=True, positive=True)
    units = UnitsField(load_default=None)
    holding_id = Id(load_default=None)
    company_id = Id(load_default=None)
    grant_id = Id(load_default=None)
    reference = fields.String(load_default="", validate=validate.Length(max=200))
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class CashFlowSchema(Schema):
    id = fields.Integer()
    kind = fields.Function(lambda f: f.kind.value)
    on = fields.Date()
    amount = fields.Decimal(as_string=True)
    holding_id = fields.Integer(allow_none=True)
    company_id = fields.Integer(allow_none=True)
    grant_id = fields.Integer(allow_none=True)
    exit_id = fields.Integer(allow_none=True)
    units_delta = fields.Decimal(as_string=True)
    reference = fields.String()
