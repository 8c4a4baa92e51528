"""Input schemas of the reference data pages: a calendar day and a 1-year LPR."""

from __future__ import annotations

from decimal import Decimal

from marshmallow import Schema, fields, pre_load

from fundapp.fields import Day, Percent, Text


class CalendarDaySchema(Schema):
    on = Day(required=True)
    is_working_day = fields.Boolean(load_default=False)
    name = Text(max=100)


class LprRateSchema(Schema):
    published_on = Day(required=True)
    # In percent per year (3.10 = 3.10%), as published; stored as a fraction.
    rate_pct = Percent(required=True, min=Decimal("0.0001"), max=Decimal(20), places=4)

    @pre_load
    def _percent_sign(self, data, **kwargs):
        rate = data.get("rate_pct")
        if isinstance(rate, str) and rate.strip().endswith("%"):
            data = {**data, "rate_pct": rate.strip().rstrip("%").strip()}
        return data
