"""Input and output schemas of policy versions and grant agreements (kept separate)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundapp.portfolio.conversion.schemas import AlternativeTriggerSchema
from fundapp.portfolio.fields import Day, Id, MoneyField

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


class DisbursementListSchema(Schema):
    items = fields.List(fields.Nested(lambda: DisbursementSchema()))
