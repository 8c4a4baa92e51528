"""Input and output schemas of conversions, previews, R3.f triggers and cap tables."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from fundapp.dates import shanghai_today
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


# Policy what-if: another version and/or drafted values of these parameters (what_if_<name>),
# as texts ("0.25", "25%", "none" for no valuation cap, "yes"/"no", whole numbers).
WHAT_IF_FIELDS = ("discount", "valuation_cap", "max_stake", "pre_money_includes_conversion",
                  "conversion_window_months", "grace_days")


_WhatIfFields = Schema.from_dict({
    f"what_if_{name}": fields.Raw(load_default=None, metadata={
        "description": f"Policy what-if: the value of {name} (a text)"})
    for name in WHAT_IF_FIELDS}, name="WhatIfFields")


class PreviewRequestSchema(_WhatIfFields):  # type: ignore[misc,valid-type]
    basis = fields.String(load_default="round", validate=validate.OneOf(BASES))
    round_id = Id(load_default=None)
    round = fields.Nested(RoundCreateSchema, load_default=None)
    policy_version_id = Id(load_default=None, metadata={
        "description": "Policy what-if: preview also under this policy version"})

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
    # issue 12: a reversed conversion stays, with its reversal
    is_reversed = fields.Boolean()
    reversed_on = fields.Date(allow_none=True)
    reversed_by = fields.String()
    reversal_reason = fields.String()
    reversal_ic_reference = fields.String()

    def get_cancelled(self, conversion):
        if conversion.reversed_at is not None:
            return []  # restored by the reversal
        return [t.position for t in conversion.grant.tranches if t.status.value == "cancelled"]


class ConversionReversalSchema(Schema):
    """Reverse a conversion (issue 12): only by an IC resolution, with the reason."""

    ic_reference = Text(100, required=True, metadata={
        "description": "The IC resolution that decided the reversal"})
    reason = Text(2000, required=True, metadata={"description": "Why the conversion was wrong"})
    on = Day(load_default=shanghai_today, metadata={
        "description": "The day the reversal takes effect (default today in Shanghai)"})


class DisbursementReversalSchema(Schema):
    """Reverse a payment recorded wrongly (issue 12); a refund by the company is a refund."""

    reason = Text(2000, required=True, metadata={"description": "Why the record was wrong"})
    on = Day(load_default=shanghai_today, metadata={
        "description": "The day the reversal takes effect (default today in Shanghai)"})


class WhatIfSheetSchema(Schema):
    """The preview under another policy version or drafted values: its sheet, or the clause
    that refused it."""

    policy_version = fields.String(metadata={"description": "The version it starts from"})
    policy_version_id = fields.Integer()
    changes = fields.Dict(metadata={"description": "The drafted parameters, stored form"})
    name = fields.String()
    refused_clause = fields.String(allow_none=True)
    reason = fields.String()
    sheet = fields.Dict(allow_none=True)


class PreviewSchema(Schema):
    """The calculation sheet (the pure module's to_dict()) plus what the preview used; with a
    policy what-if, the second sheet beside it."""

    grant_id = fields.Integer()
    round_id = fields.Integer(allow_none=True)
    cap_table_before_known = fields.Boolean()
    policy_version = fields.String(metadata={"description": "The pinned policy's name"})
    sheet = fields.Dict()
    what_if = fields.Nested(WhatIfSheetSchema, allow_none=True)


class SensitivityQuerySchema(Schema):
    """The axes of a sensitivity grid, each a list (repeated or comma-separated)."""

    round_id = Id(load_default=None)
    pre_money = fields.List(Text(500), load_default=list)
    discount = fields.List(Text(500), load_default=list)
    closing_on = fields.List(Text(500), load_default=list)


class SensitivityCellSchema(Schema):
    pre_money_valuation = Money()
    discount = fields.Decimal(as_string=True, metadata={"description": "fraction, 0.20 = 20%"})
    closed_on = fields.Date()
    is_base = fields.Boolean(metadata={"description": "The scenario's own cell"})
    fund_units = fields.Decimal(as_string=True, allow_none=True)
    fund_stake = fields.Decimal(as_string=True, allow_none=True,
                                metadata={"description": "percent, 2 decimals (4.00 = 4%)"})
    fund_stake_display = fields.String(allow_none=True)
    conversion_price_display = fields.String(allow_none=True)
    converting_amount = Money(allow_none=True)
    converted_amount = Money(allow_none=True)
    is_stake_capped = fields.Boolean()
    is_valuation_capped = fields.Boolean()
    refused_clause = fields.String(allow_none=True, metadata={
        "description": "The clause that refuses this cell (e.g. R3.b); null when it computes"})
    reason_en = fields.String()
    reason_zh = fields.String()


class SensitivityRowSchema(Schema):
    pre_money_valuation = Money()
    cells = fields.List(fields.Nested(SensitivityCellSchema))


class SensitivityTableSchema(Schema):
    closed_on = fields.Date()
    rows = fields.List(fields.Nested(SensitivityRowSchema))


class SensitivitySchema(Schema):
    """Rows of pre-money valuations x columns of discounts, one table per closing date."""

    grant_id = fields.Integer()
    round_id = fields.Integer(allow_none=True)
    pre_money_values = fields.List(Money())
    discounts = fields.List(fields.Decimal(as_string=True))
    closing_dates = fields.List(fields.Date())
    base_pre_money = Money()
    base_discount = fields.Decimal(as_string=True)
    base_closed_on = fields.Date()
    tables = fields.List(fields.Nested(SensitivityTableSchema))


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
