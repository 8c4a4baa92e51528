"""API schemas of the investment committee: input and output kept separate."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundapp.ic.models import VoteChoice

FRACTION = validate.Regexp(r"^\d{1,3}/\d{1,3}$", error="Enter a fraction such as 2/3.")


class MeetingCreateSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    held_on = fields.Date(required=True)
    location = fields.String(load_default="", validate=validate.Length(max=200))
    chair_id = fields.Integer(required=True)
    member_ids = fields.List(fields.Integer(), required=True,
                             validate=validate.Length(min=1, max=50))
    deal_ids = fields.List(fields.Integer(), required=True,
                           validate=validate.Length(min=1, max=100))
    quorum = fields.String(load_default="2/3", validate=FRACTION,
                           metadata={"description": "share of members present needed"})
    decision_rule = fields.String(load_default="1/2", validate=FRACTION, metadata={
        "description": "approving votes must be more than this share of the non-recused "
                       "members present"})


class MemberSchema(Schema):
    user_id = fields.Integer()
    name = fields.String(attribute="user.display_name")
    is_present = fields.Boolean()


class RecusalSchema(Schema):
    user_id = fields.Integer()
    reason = fields.String(attribute="reason.value")
    note = fields.String()


class VoteSchema(Schema):
    deal_id = fields.Integer(attribute="item.deal_id")
    user_id = fields.Integer()
    voter = fields.String(attribute="user.display_name")
    choice = fields.String(attribute="choice.value")
    conditions = fields.String()
    pack_version = fields.Integer()
    cast_at = fields.DateTime()


class AgendaItemSchema(Schema):
    position = fields.Integer()
    deal_id = fields.Integer()
    company = fields.String(attribute="deal.company.legal_name")
    project_name = fields.String(attribute="deal.project_name")
    stage = fields.String(attribute="deal.stage.value")
    outcome = fields.String(attribute="outcome.value")
    decision_ref = fields.String()
    conditions = fields.String()
    recusals = fields.List(fields.Nested(RecusalSchema))


class PackSchema(Schema):
    version = fields.Integer()
    language = fields.String()
    is_final = fields.Boolean()
    generated_at = fields.DateTime()
    generated_by = fields.String()
    sha256 = fields.String()
    size_bytes = fields.Integer()


class MinutesSchema(Schema):
    version = fields.Integer()
    signed_at = fields.DateTime()
    signed_by = fields.String()
    sha256 = fields.String()
    reason = fields.String()


class MeetingSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    held_on = fields.Date()
    location = fields.String()
    chair_id = fields.Integer()
    quorum = fields.String()
    decision_rule = fields.String()
    members = fields.List(fields.Nested(MemberSchema))
    items = fields.List(fields.Nested(AgendaItemSchema), data_key="agenda")
    packs = fields.List(fields.Nested(PackSchema))
    minutes = fields.List(fields.Nested(MinutesSchema))


class MeetingListSchema(Schema):
    items = fields.List(fields.Nested(MeetingSchema))


class VoteCreateSchema(Schema):
    deal_id = fields.Integer(required=True)
    choice = fields.String(required=True,
                           validate=validate.OneOf([c.value for c in VoteChoice]))
    conditions = fields.String(load_default="", validate=validate.Length(max=5000))


class VoteListSchema(Schema):
    items = fields.List(fields.Nested(VoteSchema))


class DecisionCreateSchema(Schema):
    deal_id = fields.Integer(required=True)


class PackCreateSchema(Schema):
    language = fields.String(load_default="both", validate=validate.OneOf(["zh", "en", "both"]))
    is_final = fields.Boolean(load_default=False)
