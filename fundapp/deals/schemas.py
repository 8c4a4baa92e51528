"""API schemas of the pipeline: input and output kept separate (no mass assignment).

Amounts travel as strings ("1500000.00"): JSON numbers would pass through binary floats (R1).
The operations re-check everything (one code path for web, API and import).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundapp.api.schemas import PageSchema
from fundapp.deals.models import DealStage, LegalForm, RoadshowFormat
from fundapp.deals.sectors import SECTORS

AMOUNT = {"pattern": r"^\d{1,11}(\.\d{1,2})?$", "example": "1500000.00"}


def amount_field(required: bool = False, **kwargs):
    return fields.String(required=required, validate=validate.Regexp(
        AMOUNT["pattern"], error="Enter an amount in yuan, such as 1500000.00."),
        metadata={"description": "CNY as a decimal string with at most 2 places",
                  "example": AMOUNT["example"]}, **kwargs)


class PersonSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    title = fields.String(load_default="", validate=validate.Length(max=100))
    phone = fields.String(load_default="", validate=validate.Length(max=40))
    email = fields.String(load_default="", validate=validate.Length(max=320))


class CompanyCreateSchema(Schema):
    legal_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    name_en = fields.String(load_default="", validate=validate.Length(max=200))
    uscc = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=30),
                         metadata={"description": "unified social credit code (GB 32100-2015)"})
    district = fields.String(load_default="", validate=validate.Length(max=100))
    legal_form = fields.String(load_default="llc",
                               validate=validate.OneOf([f.value for f in LegalForm]))
    registered_capital_amount = amount_field(load_default=None, allow_none=True)
    share_count = fields.Integer(load_default=None, allow_none=True,
                                 validate=validate.Range(min=1))
    par_value_amount = fields.String(load_default=None, allow_none=True)
    sector = fields.String(required=True, validate=validate.OneOf(list(SECTORS)))
    founded_on = fields.Date(load_default=None, allow_none=True)
    website = fields.String(load_default="", validate=validate.Length(max=300))
    description = fields.String(load_default="", validate=validate.Length(max=20000))
    founders = fields.List(fields.Nested(PersonSchema), load_default=list)
    contacts = fields.List(fields.Nested(PersonSchema), load_default=list)


class CompanyUpdateSchema(CompanyCreateSchema):
    class Meta:
        partial = True


class CompanySchema(Schema):
    id = fields.Integer()
    legal_name = fields.String()
    name_en = fields.String()
    uscc = fields.String(allow_none=True)
    district = fields.String()
    legal_form = fields.Function(lambda c: c.legal_form.value)
    registered_capital_amount = fields.Decimal(as_string=True, allow_none=True)
    share_count = fields.Integer(allow_none=True)
    par_value_amount = fields.Decimal(as_string=True)
    sector = fields.String()
    founded_on = fields.Date(allow_none=True)
    website = fields.String()
    description = fields.String()
    founders = fields.Function(lambda c: [{"name": f.name, "title": f.title} for f in c.founders])
    contacts = fields.Function(lambda c: [{"name": p.name, "phone": p.phone, "email": p.email}
                                          for p in c.contacts])
    created_at = fields.DateTime()


class CompanyRowSchema(Schema):
    id = fields.Integer()
    legal_name = fields.String()
    name_en = fields.String()
    uscc = fields.String(allow_none=True)
    sector = fields.String()
    district = fields.String()


class CompanyPageSchema(PageSchema):
    items = fields.List(fields.Nested(CompanyRowSchema))


class DealCreateSchema(Schema):
    company_id = fields.Integer(required=True)
    project_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    requested_grant_amount = amount_field(required=True)
    approved_budget_amount = amount_field(required=True)
    project_summary = fields.String(load_default="", validate=validate.Length(max=20000))
    milestone_plan = fields.String(load_default="", validate=validate.Length(max=20000))
    manager_id = fields.Integer(load_default=None, allow_none=True)
    roadshow_id = fields.Integer(load_default=None, allow_none=True)


class DealRowSchema(Schema):
    id = fields.Integer()
    company_id = fields.Integer()
    company_name = fields.String()
    uscc = fields.String(allow_none=True)
    sector = fields.String()
    project_name = fields.String()
    stage = fields.Function(lambda d: str(d["stage"].value if hasattr(d["stage"], "value")
                                          else d["stage"]))
    requested_grant_amount = fields.Decimal(as_string=True)
    approved_budget_amount = fields.Decimal(as_string=True)
    manager_id = fields.Integer(allow_none=True)
    manager_name = fields.String(allow_none=True)
    roadshow_id = fields.Integer(allow_none=True)
    roadshow_name = fields.String(allow_none=True)
    stage_entered_at = fields.DateTime()


class DealSchema(DealRowSchema):
    project_summary = fields.String()
    milestone_plan = fields.String()
    ic_decision_ref = fields.String()
    public_notice_started_on = fields.Date(allow_none=True)
    held_from_stage = fields.String(allow_none=True)
    expert_quorum = fields.Dict()


class DealPageSchema(PageSchema):
    items = fields.List(fields.Nested(DealRowSchema))


class TransitionCreateSchema(Schema):
    to_stage = fields.String(required=True, validate=validate.OneOf([s.value for s in DealStage]))
    reason = fields.String(load_default="", validate=validate.Length(max=5000))
    expected_stage = fields.String(load_default=None, allow_none=True,
                                   validate=validate.OneOf([s.value for s in DealStage]))


class TransitionSchema(Schema):
    from_stage = fields.Function(lambda c: c.from_stage.value if c.from_stage else None)
    to_stage = fields.Function(lambda c: c.to_stage.value)
    actor = fields.String()
    reason = fields.String()
    changed_at = fields.DateTime()


class TransitionListSchema(Schema):
    items = fields.List(fields.Nested(TransitionSchema))


class CriterionSchema(Schema):
    code = fields.String(validate=validate.Length(max=40))
    label = fields.String(required=True, validate=validate.Length(min=1, max=100))
    weight_pct = fields.String(required=True, metadata={"description": "percent, e.g. \"20\""})


class PanelMemberCreateSchema(Schema):
    user_id = fields.Integer(load_default=None, allow_none=True)
    name = fields.String(load_default="", validate=validate.Length(max=200))
    affiliation = fields.String(load_default="", validate=validate.Length(max=200))


class RoadshowCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    held_on = fields.Date(required=True)
    venue = fields.String(load_default="", validate=validate.Length(max=200))
    organiser = fields.String(load_default="", validate=validate.Length(max=200))
    format = fields.String(load_default="offline",
                           validate=validate.OneOf([f.value for f in RoadshowFormat]))
    criteria = fields.List(fields.Nested(CriterionSchema), load_default=None)
    panel = fields.List(fields.Nested(PanelMemberCreateSchema), load_default=list)
    company_ids = fields.List(fields.Integer(), load_default=list,
                              metadata={"description": "companies in slot order"})


class RoadshowSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    held_on = fields.Date()
    venue = fields.String()
    organiser = fields.String()
    format = fields.Function(lambda r: r.format.value)
    criteria = fields.Function(lambda r: [{"code": c.code, "label": c.label,
                                           "weight_pct": str(c.weight_pct)} for c in r.criteria])
    panel = fields.Function(lambda r: [{"id": m.id, "name": m.name, "user_id": m.user_id,
                                        "affiliation": m.affiliation} for m in r.panel])
    slots = fields.Function(lambda r: [{"position": s.position, "company_id": s.company_id,
                                        "company": s.company.legal_name} for s in r.slots])


class RoadshowPageSchema(PageSchema):
    items = fields.List(fields.Nested(RoadshowSchema))


class ScoreSheetCreateSchema(Schema):
    panel_member_id = fields.Integer(required=True)
    company_id = fields.Integer(required=True)
    has_conflict = fields.Boolean(load_default=False)
    scores = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=dict,
                         metadata={"description": "criterion code -> score 0-10 (string)"})
    comment = fields.String(load_default="", validate=validate.Length(max=5000))


class RankingRowSchema(Schema):
    rank = fields.Integer(allow_none=True)
    company_id = fields.Integer()
    company_name = fields.String()
    mean = fields.Decimal(as_string=True, allow_none=True)
    spread = fields.Decimal(as_string=True, allow_none=True)
    count = fields.Integer()
    conflicts = fields.Integer()
    is_disputed = fields.Boolean()


class RoadshowScoresSchema(Schema):
    roadshow_id = fields.Integer()
    criteria = fields.List(fields.Dict())
    ranking = fields.List(fields.Nested(RankingRowSchema))


class ImportResultSchema(Schema):
    preview = fields.Boolean()
    rows = fields.Integer()
    companies_created = fields.Integer()
    companies_matched = fields.Integer()
    deals_created = fields.Integer()
    deals_existing = fields.Integer()
    problems = fields.List(fields.Dict())
