"""Input and output schemas of policy versions and grant agreements (kept separate).

The pages post the same data in a flatter shape (numbered tranche rows, one input per policy
value, a parameter and its value): their form schemas extend the API's input schemas and gather
those inputs into the API's shape before the API's fields check them.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from fundapp.fields import Day, Id, Money, Text
from fundapp.fund.policies import PARAMETERS, clean_values
from fundapp.portfolio.conversion.schemas import AlternativeTriggerSchema

TRANCHE_ROWS = 4  # tranche rows on the new-grant page


def as_text(value: Any) -> str:
    """A policy value as the pages' text input shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def from_text(kind: str, text: str) -> Any:
    """A policy value typed into a text input, in the form `clean_values` checks."""
    if kind == "bool":
        return {"true": True, "false": False}.get(text.lower(), text)
    if kind == "int":
        return int(text) if text.isdigit() else text
    if kind == "split":
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind.endswith("_or_null") and not text:
        return None
    return text


# --------------------------------------------------------------------------- policies


class PolicyCreateSchema(Schema):
    version = Text(40, load_default=None)
    effective_on = Day(required=True)
    values = fields.Dict(keys=fields.String(), required=True)
    approved_by = Text(200, required=True)
    ic_resolution_ref = Text(100, required=True)
    note = Text(2000)


class PolicyFormSchema(PolicyCreateSchema, Schema.from_dict(
        {f"value_{name}": fields.String(load_only=True) for name in PARAMETERS})):
    """The new-version page: one text input per parameter (value_<name>), checked by name."""

    @pre_load
    def _values(self, data, **kwargs):
        data = dict(data)
        data["values"] = {name: from_text(kind, str(data.pop(f"value_{name}", "")).strip())
                          for name, (kind, _clause) in PARAMETERS.items()}
        return data

    @validates_schema
    def _clean(self, data, **kwargs):
        _clean, errors = clean_values(data.get("values") or {})
        if errors:
            raise ValidationError({f"value_{name}": messages
                                   for name, messages in errors.items()})


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
    amount = Money(required=True, positive=True)
    milestone = Text(2000)


class GrantCreateSchema(Schema):
    deal_id = Id(required=True)
    awarded_amount = Money(required=True, positive=True)
    approved_budget_amount = Money(load_default=None, positive=True)
    signed_on = Day(required=True)
    holder_entity = Text(200, required=True)
    agreement_no = Text(60)
    tranches = fields.List(fields.Nested(TrancheInSchema), load_default=None,
                           validate=validate.Length(min=1, max=20))
    exit_filing_no = Text(100)
    exit_filed_on = Day(load_default=None)
    alternative_conditions = Text(4000)
    policy_override = fields.Dict(keys=fields.String(), load_default=None)
    override_ic_ref = Text(100)
    r10_ic_ref = Text(100)


class GrantFormSchema(GrantCreateSchema, Schema.from_dict(
        {f"tranche_{n}_{column}": fields.String(load_only=True)
         for n in range(1, TRANCHE_ROWS + 1) for column in ("amount", "milestone")})):
    """The new-grant page: numbered tranche rows (tranche_<n>_amount, _milestone); a row with an
    amount is a tranche, none at all means the policy's default split."""

    @pre_load
    def _tranches(self, data, **kwargs):
        data = dict(data)
        tranches = []
        for n in range(1, TRANCHE_ROWS + 1):
            amount = data.pop(f"tranche_{n}_amount", "")
            milestone = data.pop(f"tranche_{n}_milestone", "")
            if amount:
                tranches.append({"amount": amount, "milestone": milestone})
        if tranches:
            data["tranches"] = tranches
        return data


class TrancheSchema(Schema):
    position = fields.Integer()
    amount = Money()
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
    amount = Money()
    paid_on = fields.Date()
    recorded_by = fields.String()
    # issue 12: a payment recorded wrongly is reversed, never edited
    is_reversed = fields.Boolean()
    reversed_on = fields.Date(allow_none=True)
    reversal_reason = fields.String()


class RefundSchema(Schema):
    id = fields.Integer()
    amount = Money()
    refunded_on = fields.Date()
    reason = fields.String()


class GrantSchema(Schema):
    id = fields.Integer()
    deal_id = fields.Integer()
    company_id = fields.Integer()
    company_name = fields.Function(lambda g: g.company.legal_name)
    project_name = fields.Function(lambda g: g.deal.project_name)
    agreement_no = fields.String()
    status = fields.Function(lambda g: g.status.value)
    awarded_amount = Money()
    approved_budget_amount = Money()
    disbursed_amount = Money()
    refunded_amount = Money()
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
    recovery_principal_amount = Money()
    recovery_interest_amount = Money()
    tranches = fields.List(fields.Nested(TrancheSchema))
    disbursements = fields.List(fields.Nested(DisbursementSchema))
    refunds = fields.List(fields.Nested(RefundSchema))
    conversion_id = fields.Function(lambda g: g.conversion.id if g.conversion else None)


class DisbursementCreateSchema(Schema):
    tranche = Id(required=True)
    paid_on = Day(required=True)
    amount = Money(load_default=None, positive=True)


class ReviewCreateSchema(Schema):
    tranche = Id(required=True)
    is_passed = fields.Boolean(required=True)
    reviewer = Text(200, required=True)
    reviewed_on = Day(required=True)
    evidence = Text(4000)


class RefundCreateSchema(Schema):
    amount = Money(required=True, positive=True)
    refunded_on = Day(required=True)
    reason = Text(2000)


class AcceptanceCreateSchema(Schema):
    accepted_on = Day(required=True)
    reference = Text(100, required=True)


class BreachCreateSchema(Schema):
    breach_on = Day(required=True)
    reason = Text(4000, required=True)
    repaid_on = Day(required=True)


class ToleranceClosureSchema(Schema):
    closed_on = Day(required=True)
    ic_resolution_ref = Text(100, required=True)
    note = Text(4000)


class OverrideCreateSchema(Schema):
    values = fields.Dict(keys=fields.String(), required=True)
    ic_resolution_ref = Text(100, required=True)


class OverrideFormSchema(OverrideCreateSchema):
    """The grant page's override form: one parameter and its value as typed."""

    parameter = fields.String(load_only=True, required=True,
                              validate=validate.OneOf(list(PARAMETERS)))
    value = Text(200, load_only=True, load_default=None)
    values = fields.Dict(keys=fields.String(), load_default=dict)

    @post_load
    def _values(self, data, **kwargs):
        name, value = data.pop("parameter"), data.pop("value")
        data["values"] = {name: None if value is None else from_text(PARAMETERS[name][0], value)}
        return data


class DisbursementListSchema(Schema):
    items = fields.List(fields.Nested(lambda: DisbursementSchema()))


# --------------------------------------------------------------------------- corrections (issue 12)


def _reason() -> fields.String:
    return Text(2000, required=True, error_messages={
        "required": _l("Give the reason for this correction.")},
        metadata={"description": "why the recorded value was wrong (kept in the ledger)"})


class TrancheCorrectionSchema(Schema):
    position = fields.Integer(required=True, validate=validate.Range(min=1, max=20))
    amount = Money(required=True, positive=True)
    milestone = Text(2000)


class GrantCorrectionSchema(Schema):
    """A grant agreement corrected before its first disbursement (PATCH: the fields sent)."""

    agreement_no = Text(60)
    awarded_amount = Money(required=True, positive=True)
    approved_budget_amount = Money(required=True, positive=True)
    signed_on = Day(required=True)
    holder_entity = Text(200, required=True)
    exit_filing_no = Text(100)
    exit_filed_on = Day(load_default=None, allow_none=True)
    alternative_conditions = Text(4000)
    tranches = fields.List(fields.Nested(TrancheCorrectionSchema), load_default=None,
                           validate=validate.Length(min=1, max=20), metadata={
                               "description": "the new schedule by position (default: the "
                                              "schedule's shares of the corrected award)"})
    reason = _reason()


class TrancheScheduleCorrectionSchema(Schema):
    """The tranches not yet paid, corrected by position; the sum stays the award (R2.b)."""

    tranches = fields.List(fields.Nested(TrancheCorrectionSchema), required=True,
                           validate=validate.Length(min=1, max=20))
    reason = _reason()
