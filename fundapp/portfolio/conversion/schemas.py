"""Input and output schemas of conversions, previews, R3.f triggers and cap tables."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from fundapp.fields import Day, Id, Money, Text, Units
from fundapp.portfolio.fields import JsonText
from fundapp.portfolio.rounds.schemas import RoundCreateSchema


class AlternativeConditionCreateSchema(Schema):
    """R3.f: the agreed condition met, and the filed appraisal that prices the conversion."""

    condition = Text(4000, required=True)
    met_on = Day(required=True)
    reference = Text(200, required=True)
    appraised_value_amount = Money(required=True, positive=True)
    base_on = Day(required=True)
    units_outstanding = Units(load_default=None)
    filing_no = Text(100, required=True)
    filed_on = Day(required=True)


class AlternativeTriggerSchema(Schema):
    condition = fields.String()
    met_on = fields.Date()
    reference = fields.String()
    appraised_value_amount = Money()
    base_on = fields.Date()
    units_outstanding = fields.Decimal(as_string=True)
    filing_no = fields.String()
    filed_on = fields.Date()
    recorded_by = fields.String()


# --------------------------------------------------------------------------- conversion


BASES = ("round", "appraisal")  # R3.f: "appraisal" prices by the filed appraisal


class PreviewRequestSchema(Schema):
    basis = fields.String(load_default="round", validate=validate.OneOf(BASES))
    round_id = Id(load_default=None)
    round = fields.Nested(RoundCreateSchema, load_default=None)

    @validates_schema
    def _one(self, data, **kwargs):
        if data.get("basis") == "appraisal":
            if data.get("round_id") is not None or data.get("round") is not None:
                raise ValidationError(str(_l("The appraisal basis takes no round.")), "basis")
        elif (data.get("round_id") is None) == (data.get("round") is None):
            raise ValidationError(str(_l("Give either round_id or round, not both.")), "round_id")


class ConversionCreateSchema(Schema):
    basis = fields.String(load_default="round", validate=validate.OneOf(BASES))
    round_id = Id(load_default=None)
    ic_resolution_ref = Text(100)
    keep_undisbursed_ref = Text(100)

    @validates_schema
    def _round(self, data, **kwargs):
        if (data.get("basis") == "appraisal") != (data.get("round_id") is None):
            raise ValidationError(str(_l("Give a round_id, or the appraisal basis without one.")),
                                  "round_id")


class ConversionFormSchema(ConversionCreateSchema):
    """The grant page's conversion form: its round select offers "appraisal" (R3.f) too."""

    @pre_load
    def _appraisal(self, data, **kwargs):
        if data.get("round_id") == "appraisal":
            data = {k: v for k, v in data.items() if k != "round_id"}
            data["basis"] = "appraisal"
        return data


class RegistrationCreateSchema(Schema):
    """R6.g: the day the company registered the change of its registered capital."""

    registered_on = Day(required=True)


class ConversionSchema(Schema):
    id = fields.Integer()
    grant_id = fields.Integer()
    basis = fields.String()
    round_id = fields.Integer(allow_none=True)
    converted_on = fields.Date()
    converting_amount = Money()
    converted_amount = Money()
    remaining_grant_amount = Money()
    round_price = fields.Decimal(as_string=True)
    conversion_price = fields.Decimal(as_string=True)
    fund_units = fields.Decimal(as_string=True)
    post_round_units = fields.Decimal(as_string=True)
    stake_percent = fields.Decimal(as_string=True)
    registered_capital_increase_amount = Money()
    capital_reserve_amount = Money()
    is_stake_capped = fields.Boolean()
    ic_resolution_ref = fields.String()
    registration_due_on = fields.Date()
    registered_on = fields.Date()
    cancelled_tranches = fields.Method("get_cancelled")
    sheet = JsonText(attribute="sheet_json")

    def get_cancelled(self, conversion):
        return [t.position for t in conversion.grant.tranches if t.status.value == "cancelled"]


class PreviewSchema(Schema):
    """The calculation sheet (the pure module's to_dict()) plus what the preview used."""

    grant_id = fields.Integer()
    round_id = fields.Integer(allow_none=True)
    cap_table_before_known = fields.Boolean()
    sheet = fields.Dict()


class CapTableRowSchema(Schema):
    holder = fields.String()
    units = fields.Decimal(as_string=True)
    percent = fields.Decimal(as_string=True, allow_none=True)
    is_fund = fields.Boolean()


class CapTableSchema(Schema):
    company_id = fields.Integer()
    as_of = fields.Date(allow_none=True)
    rows = fields.List(fields.Nested(CapTableRowSchema))
    history = fields.List(fields.Dict())
