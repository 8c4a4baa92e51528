"""Input and output schemas of the fund (set-up, correction, reading)."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validates

from fundapp.dates import shanghai_today
from fundapp.fields import Day, Money, Text

# Form and API labels, in both languages through the catalogue.
FUND_LABELS = {
    "name": _l("Fund name (Chinese)"),
    "name_en": _l("Fund name (English)"),
    "committed_amount": _l("Committed capital (CNY)"),
    "established_on": _l("Inception date"),
    "platform_name": _l("Holding platform entity"),
    "reason": _l("Reason for the change"),
}


class FundCreateSchema(Schema):
    name = Text(200, required=True)
    name_en = Text(200)
    committed_amount = Money(positive=True, required=True)
    established_on = Day(required=True)
    platform_name = Text(200, required=True)

    @validates("established_on")
    def _not_in_the_future(self, day: date, **_kwargs) -> None:
        # Also checked by create_fund; here too, so the form names every problem at once.
        if day > shanghai_today():
            raise ValidationError(str(_l("The date %(day)s is in the future.",
                                         day=day.isoformat())))


class FundUpdateSchema(Schema):
    """A correction, loaded with partial=True: only the fields sent change (a name sent blank is
    refused, not erased); a change of committed capital needs a reason."""

    name = Text(200, required=True)
    name_en = Text(200)
    platform_name = Text(200, required=True)
    committed_amount = Money(positive=True)
    reason = Text(1000)


class FundSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String()
    name_en = fields.String()
    committed_amount = Money()
    established_on = fields.Date()
    platform_name = fields.String()
    policy_version = fields.String(allow_none=True)
