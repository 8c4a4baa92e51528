"""Input and output schemas of grants, rounds, conversions and policies (kept separate)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from fundapp.portfolio.models import RoundKind

FEN = Decimal("0.01")
# Far above any real amount (10 trillion CNY), far below what a BIGINT of fen holds.
MAX_AMOUNT = Decimal("10000000000000")
FIRST_DAY, LAST_DAY = date(1990, 1, 1), date(2199, 12, 31)


class Day(fields.Date):
    """A date the fund's calendar can work with (window and deadline sums stay in range)."""

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValidationError(str(_l("Enter a date between 1990 and 2199.")))
        return day


def Id(**kwargs) -> fields.Integer:  # noqa: N802 - reads like a field class
    """A row id or a small count: a positive integer that fits the database's INTEGER."""
    return fields.Integer(validate=validate.Range(min=1, max=2**31 - 1), **kwargs)


def _check_size(number: Decimal) -> None:
    if abs(number) >= MAX_AMOUNT:
        raise ValidationError(str(_l("This amount is too large.")))


class MoneyField(fields.Decimal):
    """CNY as a string or number with at most 2 decimals; dumped as a string ("1234.50")."""

    def __init__(self, *, positive: bool = False, **kwargs) -> None:
        super().__init__(as_string=True, allow_nan=False, **kwargs)
        self.positive = positive

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, float):
            # JSON numbers arrive as floats; their text form is what the client wrote.
            value = repr(value)
        amount = super()._deserialize(value, attr, data, **kwargs)
        _check_size(amount)
        if amount != amount.quantize(FEN):
            raise ValidationError(str(_l("At most 2 decimal places (fen).")))
        if amount < 0 or (self.positive and amount == 0):
            raise ValidationError(str(_l("Must be more than 0.") if self.positive
                                      else _l("Must not be negative.")))
        return amount


class UnitsField(fields.Decimal):
    def __init__(self, **kwargs) -> None:
        super().__init__(as_string=True, allow_nan=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, float):
            value = repr(value)
        units = super()._deserialize(value, attr, data, **kwargs)
        _check_size(units)
        if units <= 0:
            raise ValidationError(str(_l("Must be more than 0.")))
        if units != units.quantize(FEN):
            raise ValidationError(str(_l("At most 2 decimal places.")))
        return units


class JsonText(fields.Field):
    """Dumps a model's JSON text column as the JSON value it holds."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else json.loads(value)


# --------------------------------------------------------------------------- policies


class PolicyCreateSchema(Schema):
    version = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    effective_on = Day(required=True)
    values = fields.Dict(keys=fields.String(), required=True)
    approved_by = fields.String(required=True, validate=validate.Length(min=1, max=200))
    ic_resolution_ref = fields.String(required=True, validate=validate.Length(min=1, max=100))
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class PolicyListSchema(Schema):
    items = fields.List(fields.Nested(lambda: PolicySchema()))


class PolicySchema(Schema):
    id = fields.Integer()
    version = fields.String()
    effective_on = fields.Date()
    values = fields.Dict()
    approved_by = fields.String()
    ic_resolution_ref = fields.String()
    note = fields.String()
    created_by = fields.String()
    created_at = fields.DateTime()


# --------------------------------------------------------------------------- grants


class TrancheInSchema(Schema):
    amount = MoneyField(required=True, positive=True)
    milestone = fields.String(load_default="", validate=validate.Length(max=2000))


class GrantCreateSchema(Schema):
    deal_id = Id(required=True)
    awarded_amount = MoneyField(required=True, positive=True)
    approved_budget_amount = MoneyField(load_default=None, positive=True)
    signed_on = Day(required=True)
    holder_entity = fields.String(required=True, validate=validate.Length(min=1, max=200))
    agreement_no = fields.String(load_default="", validate=validate.Length(max=60))
    tranches = fields.List(fields.Nested(TrancheInSchema), load_default=None,
                           validate=validate.Length(min=1, max=20))
    exit_filing_no = fields.String(load_default="", validate=validate.Length(max=100))
    exit_filed_on = Day(load_default=None)
    alternative_conditions = fields.String(load_default="", validate=validate.Length(max=4000))
    policy_override = fields.Dict(keys=fields.String(), load_default=None)
    override_ic_ref = fields.String(load_default="", validate=validate.Length(max=100))
    r10_ic_ref = fields.String(load_default="", validate=validate.Length(max=100))


class TrancheSchema(Schema):
    position = fields.Integer()
    amount = MoneyField()
    milestone = fields.String()
    status = fields.Function(lambda t: t.status.value)
    reviews = fields.Method("get_reviews")

    def get_reviews(self, tranche):
        return [{"is_passed": r.is_passed, "reviewer": r.reviewer,
                 "reviewed_on": r.reviewed_on.isoformat(), "evidence": r.evidence}
                for r in tranche.reviews]


class DisbursementSchema(Schema):
    id = fields.Integer()
    tranche = fields.Function(lambda d: d.tranche.position)
    amount = MoneyField()
    paid_on = fields.Date()
    recorded_by = fields.String()


class RefundSchema(Schema):
    id = fields.Integer()
    amount = MoneyField()
    refunded_on = fields.Date()
    reason = fields.String()


class AlternativeConditionCreateSchema(Schema):
    """R3.f: the agreed condition met, and the filed appraisal that prices the conversion."""

    condition = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    met_on = Day(required=True)
    reference = fields.String(required=True, validate=validate.Length(min=1, max=200))
    appraised_value_amount = MoneyField(required=True, positive=True)
    base_on = Day(required=True)
    units_outstanding = UnitsField(load_default=None)
    filing_no = fields.String(required=True, validate=validate.Length(min=1, max=100))
    filed_on = Day(required=True)


class AlternativeTriggerSchema(Schema):
    condition = fields.String()
    met_on = fields.Date()
    reference = fields.String()
    appraised_value_amount = MoneyField()
    base_on = fields.Date()
    units_outstanding = fields.Decimal(as_string=True)
    filing_no = fields.String()
    filed_on = fields.Date()
    recorded_by = fields.String()


class GrantSchema(Schema):
    id = fields.Integer()
    deal_id = fields.Integer()
    company_id = fields.Integer()
    company_name = fields.Function(lambda g: g.company.legal_name)
    project_name = fields.Function(lambda g: g.deal.project_name)
    agreement_no = fields.String()
    status = fields.Function(lambda g: g.status.value)
    awarded_amount = MoneyField()
    approved_budget_amount = MoneyField()
    disbursed_amount = MoneyField()
    refunded_amount = MoneyField()
    signed_on = fields.Date()
    holder_entity = fields.String()
    exit_filing_no = fields.String()
    exit_filed_on = fields.Date()
    alternative_conditions = fields.String()
    alternative_trigger = fields.Nested(AlternativeTriggerSchema, allow_none=True)
    policy_version = fields.Function(lambda g: g.policy_version.version)
    policy_override = fields.Function(lambda g: g.policy_override)
    override_ic_ref = fields.String()
    rd_due_on = fields.Date()
    rd_accepted_on = fields.Date()
    window_end_on = fields.Date()
    grace_end_on = fields.Date()
    closed_on = fields.Date()
    closure_ref = fields.String()
    breach_on = fields.Date()
    breach_reason = fields.String()
    recovery_due_on = fields.Date()
    recovery_principal_amount = MoneyField()
    recovery_interest_amount = MoneyField()
    tranches = fields.List(fields.Nested(TrancheSchema))
    disbursements = fields.List(fields.Nested(DisbursementSchema))
    refunds = fields.List(fields.Nested(RefundSchema))
    conversion_id = fields.Function(lambda g: g.conversion.id if g.conversion else None)


class DisbursementCreateSchema(Schema):
    tranche = Id(required=True)
    paid_on = Day(required=True)
    amount = MoneyField(load_default=None, positive=True)


class ReviewCreateSchema(Schema):
    tranche = Id(required=True)
    is_passed = fields.Boolean(required=True)
    reviewer = fields.String(required=True, validate=validate.Length(min=1, max=200))
    reviewed_on = Day(required=True)
    evidence = fields.String(load_default="", validate=validate.Length(max=4000))


class RefundCreateSchema(Schema):
    amount = MoneyField(required=True, positive=True)
    refunded_on = Day(required=True)
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class AcceptanceCreateSchema(Schema):
    accepted_on = Day(required=True)
    reference = fields.String(required=True, validate=validate.Length(min=1, max=100))


class BreachCreateSchema(Schema):
    breach_on = Day(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    repaid_on = Day(required=True)


class ToleranceClosureSchema(Schema):
    closed_on = Day(required=True)
    ic_resolution_ref = fields.String(required=True, validate=validate.Length(min=1, max=100))
    note = fields.String(load_default="", validate=validate.Length(max=4000))


class OverrideCreateSchema(Schema):
    values = fields.Dict(keys=fields.String(), required=True)
    ic_resolution_ref = fields.String(required=True, validate=validate.Length(min=1, max=100))


# --------------------------------------------------------------------------- rounds


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


class DisbursementListSchema(Schema):
    items = fields.List(fields.Nested(lambda: DisbursementSchema()))


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

    @validates_schema
    def _round(self, data, **kwargs):
        if (data.get("basis") == "appraisal") != (data.get("round_id") is None):
            raise ValidationError(str(_l("Give a round_id, or the appraisal basis without one.")),
                                  "round_id")

    ic_resolution_ref = fields.String(load_default="", validate=validate.Length(max=100))
    keep_undisbursed_ref = fields.String(load_default="", validate=validate.Length(max=100))


class ConversionSchema(Schema):
    id = fields.Integer()
    grant_id = fields.Integer()
    basis = fields.String()
    round_id = fields.Integer(allow_none=True)
    converted_on = fields.Date()
    converting_amount = MoneyField()
    converted_amount = MoneyField()
    remaining_grant_amount = MoneyField()
    round_price = fields.Decimal(as_string=True)
    conversion_price = fields.Decimal(as_string=True)
    fund_units = fields.Decimal(as_string=True)
    post_round_units = fields.Decimal(as_string=True)
    stake_percent = fields.Decimal(as_string=True)
    registered_capital_increase_amount = MoneyField()
    capital_reserve_amount = MoneyField()
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


# --------------------------------------------------------------------------- portfolio (issue 5)


class Plain(fields.Field):
    """Plain data (Decimal, date, tuples) as JSON: decimals as exact strings, dates ISO."""

    def _serialize(self, value, attr, obj, **kwargs):
        return to_json(value)


def to_json(value):
    # Dispatch on the exact type first: a performance summary has tens of thousands of values.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None or kind is float:
        return value
    if kind is Decimal:
        return format(value, "f")
    if kind is dict:
        return {str(k): to_json(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [to_json(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


class PerformanceSchema(Schema):
    as_of = fields.Date()
    period_start = fields.Date(allow_none=True)
    conventions = fields.String()
    fund = Plain()
    views = Plain()
    by_vintage = Plain()
    by_sector = Plain()
    holdings = Plain()
    cash_flows = Plain()
    valuation_changes = Plain()
    conversions = Plain()
    exits = Plain()
    policy_figures = Plain()
    kpis = Plain()
    stale_marks = Plain()
    pme = Plain()
    series = Plain()


class ItemsSchema(Schema):
    as_of = fields.Date()
    items = Plain()


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


class ExitCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(
        ["buyback", "exchange", "trade_sale", "ipo_sale", "liquidation"]))
    transfer_on = Day(required=True)
    units = UnitsField(required=True)
    price_amount = MoneyField(required=True)
    buyer = fields.String(load_default="", validate=validate.Length(max=200))
    is_company_buyer = fields.Boolean(load_default=False)
    # R9 (exchange)
    appraisal_id = Id(load_default=None)
    reserve_price_amount = MoneyField(load_default=None)
    disclosure_start_on = Day(load_default=None)
    disclosure_end_on = Day(load_default=None)
    is_relisting = fields.Boolean(load_default=False)
    relisting_approval_ref = fields.String(load_default="", validate=validate.Length(max=100))
    down_payment_amount = MoneyField(load_default=None)
    balance_due_on = Day(load_default=None)


class ExitSchema(Schema):
    id = fields.Integer()
    holding_id = fields.Integer()
    kind = fields.Function(lambda e: e.kind.value)
    transfer_on = fields.Date()
    units = fields.Decimal(as_string=True)
    price_amount = fields.Decimal(as_string=True)
    cost_amount = fields.Decimal(as_string=True)
    balance_amount = fields.Decimal(as_string=True)
    balance_due_on = fields.Date(allow_none=True)
    balance_paid_on = fields.Date(allow_none=True)
    buyer = fields.String()
    is_closing = fields.Boolean()
    details = fields.Function(lambda e: e.details)


class BalanceCreateSchema(Schema):
    paid_on = Day(required=True)


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


class IndexSeriesSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    levels = fields.Function(lambda s: len(s.levels))
    first_on = fields.Function(lambda s: s.levels[0].on.isoformat() if s.levels else None)
    last_on = fields.Function(lambda s: s.levels[-1].on.isoformat() if s.levels else None)


class KpiAnswerSchema(Schema):
    answered_on = Day(required=True)
    revenue_amount = fields.Raw(required=True)
    rd_spend_amount = fields.Raw(required=True)
    headcount = fields.Raw(required=True)
    pct_applications = fields.Raw(required=True)
    value_added_amount = fields.Raw(required=True)
