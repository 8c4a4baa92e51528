"""Schemas of the investment committee: input (for the API and the pages' forms alike) and
output kept separate."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, missing, pre_load, validate

from fundapp.api.schemas import PageSchema
from fundapp.dates import SHANGHAI
from fundapp.fields import Day, Id, Text
from fundapp.ic.models import VoteChoice

# Fractions are kept as text of at most 10 characters (ic_meetings.quorum, .decision_rule).
FRACTION = validate.Regexp(r"^\d{1,3}/\d{1,3}$", error="Enter a fraction such as 2/3.")
# The limits of the text columns (String(n)) and of the operations (Text columns).
TITLE_LENGTH = LOCATION_LENGTH = 200
NOTES_LENGTH = 20000
NOTE_LENGTH = 2000
CONDITIONS_LENGTH = REASON_LENGTH = 5000


class BeijingTime(fields.Field):
    """A moment: ISO 8601 in, with its zone, or without one (then Beijing time, as the page's
    date-and-time inputs send it); out as ISO 8601 in Beijing time."""

    openapi_properties = {"type": "string", "format": "date-time"}

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.astimezone(SHANGHAI).isoformat()

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or len(value) > 40:
            raise ValidationError(str(_l("Enter a date and time such as 2026-03-20 09:30.")))
        try:
            moment = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
        except ValueError:
            raise ValidationError(str(_l("Enter a date and time such as 2026-03-20 09:30."))
                                  ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=SHANGHAI)
        return moment.astimezone(UTC)


class MeetingCreateSchema(Schema):
    title = Text(max=TITLE_LENGTH, required=True)
    title_en = Text(max=TITLE_LENGTH, metadata={"description": "the title in English documents"})
    held_on = Day(required=True)
    location = Text(max=LOCATION_LENGTH)
    location_en = Text(max=LOCATION_LENGTH)
    chair_id = Id(required=True)
    member_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=50))
    deal_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=100))
    quorum = fields.String(load_default="2/3", validate=FRACTION,
                           metadata={"description": "share of members present needed"})
    decision_rule = fields.String(load_default="1/2", validate=FRACTION, metadata={
        "description": "approving votes must be more than this share of the non-recused "
                       "members present"})


class MemberSchema(Schema):
    user_id = fields.Integer()
    name = fields.String(attribute="user.display_name")
    name_en = fields.String(attribute="user.name_en")
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
    discussion = fields.String()


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
    title_en = fields.String()
    held_on = fields.Date()
    location = fields.String()
    location_en = fields.String()
    chair_id = fields.Integer()
    quorum = fields.String()
    decision_rule = fields.String()
    started_at = BeijingTime()
    ended_at = BeijingTime()
    recorder_id = fields.Integer(allow_none=True)
    recorder = fields.String(attribute="recorder_label")
    recorder_en = fields.String(attribute="recorder_label_en")
    members = fields.List(fields.Nested(MemberSchema))
    items = fields.List(fields.Nested(AgendaItemSchema), data_key="agenda")
    packs = fields.List(fields.Nested(PackSchema))
    minutes = fields.List(fields.Nested(MinutesSchema))


class MeetingListSchema(PageSchema):
    items = fields.List(fields.Nested(MeetingSchema))


class VoteCreateSchema(Schema):
    deal_id = Id(required=True)
    choice = fields.String(required=True,
                           validate=validate.OneOf([c.value for c in VoteChoice]))
    conditions = Text(max=CONDITIONS_LENGTH)
    voted_on = Day(load_default=None, allow_none=True, metadata={
        "description": "day the vote was cast (default today; not after today, not before the "
                       "meeting's day)"})


class VoteListSchema(Schema):
    items = fields.List(fields.Nested(VoteSchema))


class DecisionCreateSchema(Schema):
    deal_id = Id(required=True)
    decided_on = Day(load_default=None, allow_none=True, metadata={
        "description": "day the committee decided (default today; not after today, not before "
                       "the meeting's day nor a vote's day); the public notice starts on it"})


class PackCreateSchema(Schema):
    language = fields.String(load_default="both", validate=validate.OneOf(["zh", "en", "both"]))
    is_final = fields.Boolean(load_default=False)


# ---- the meeting page's other forms


class AttendanceSchema(Schema):
    present_ids = fields.List(Id(), load_default=list)


class AgendaNotesSchema(Schema):
    dd_summary = Text(max=NOTES_LENGTH)
    risks = Text(max=NOTES_LENGTH)


class ConflictSchema(Schema):
    note = Text(max=NOTE_LENGTH)


class DiscussionSchema(Schema):
    deal_id = Id(required=True)
    discussion = Text(max=NOTES_LENGTH, load_default="")


class MinutesDetailsSchema(Schema):
    """The minutes' times, recorder and discussions (PATCH: only the keys given change; null
    clears a time). The recorder is a user (recorder_id) or, without one, a name."""

    started_at = BeijingTime(allow_none=True, metadata={
        "description": "ISO 8601; without a zone, Beijing time"})
    ended_at = BeijingTime(allow_none=True)
    recorder_id = Id(allow_none=True)
    recorder_name = Text(max=TITLE_LENGTH, load_default=missing)
    recorder_name_en = Text(max=TITLE_LENGTH, load_default=missing)
    discussions = fields.List(fields.Nested(DiscussionSchema), validate=validate.Length(max=100))


class MinutesReopenSchema(Schema):
    reason = Text(max=REASON_LENGTH, required=True)


def _quarter(value: str) -> None:
    if not re.fullmatch(r"\d{4}Q[1-4]", value):
        raise ValidationError(str(_l("Enter a quarter such as 2026Q3.")))


class QuarterSchema(Schema):
    quarter = fields.String(required=True, validate=[validate.Length(max=6), _quarter])

    @pre_load
    def _upper(self, data, **kwargs):
        quarter = data.get("quarter")
        if isinstance(quarter, str):
            data = {**data, "quarter": quarter.strip().upper()}
        return data
