"""Input and output schemas of valuation marks, appraisals and cash flows.

The input schemas serve the API (`load_json`) and the holding page's forms (`load_form`) alike:
amounts, units and values per unit are decimal strings, every text is held to its column's
length. What needs the database (the holding's dates and units, four eyes) stays in the
operations.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from fundapp.fields import MAX_AMOUNT, Day, Id, Money, Percent, Text, Units

MARK_METHODS = ["recent_round", "multiples", "dcf", "net_assets", "quoted", "write_off"]
FLOW_KINDS = ["follow_on", "dividend", "recovery", "fee"]


class PerUnit(Percent):
    """A value per unit in CNY (0 for a write-off), as a decimal string with at most 6 places."""

    openapi_properties = {"type": "string", "format": "decimal", "example": "20.000000",
                          "description": "CNY per unit as a decimal string, at most 6 places"}

    def __init__(self, **kwargs) -> None:
        super().__init__(min=-MAX_AMOUNT, max=MAX_AMOUNT, places=6, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        number = super()._deserialize(value, attr, data, **kwargs)
        if number < 0:
            raise ValidationError(str(_l("Must not be negative.")))
        return number


class MarkCreateSchema(Schema):
    measured_on = Day(required=True)
    method = fields.String(required=True, validate=validate.OneOf(MARK_METHODS))
    value_per_unit = PerUnit(required=True)
    inputs = fields.Dict(keys=fields.String(), load_default=dict)
    note = Text(max=2000)


class MarkFinaliseFormSchema(Schema):
    """The holding page's finalise button names the draft mark."""

    mark_id = Id(required=True)


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
    units = Units(required=True)
    value_amount = Money(required=True)
    filing_no = Text(max=100, required=True)  # appraisals.filing_no String(100)
    filed_on = Day(required=True)
    appraiser = Text(max=200)  # appraisals.appraiser String(200)


class AppraisalSchema(Schema):
    id = fields.Integer()
    holding_id = fields.Integer()
    base_on = fields.Date()
    units = fields.Decimal(as_string=True)
    value_amount = fields.Decimal(as_string=True)
    filing_no = fields.String()
    filed_on = fields.Date()


class CashFlowCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(FLOW_KINDS))
    on = Day(required=True)
    amount = Money(required=True, positive=True)
    units = Units(load_default=None)
    holding_id = Id(load_default=None)
    company_id = Id(load_default=None)
    grant_id = Id(load_default=None)
    reference = Text(max=200)  # cash_flows.reference String(200)
    note = Text(max=2000)

    @validates_schema
    def _units_of_a_follow_on(self, data, **kwargs):
        if data.get("kind") == "follow_on" and data.get("units") is None:
            raise ValidationError({"units": [str(_l("Missing data for required field."))]})


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

