"""Input schema of a KPI answer."""

from __future__ import annotations

from marshmallow import Schema, fields

from fundapp.portfolio.fields import Day


class KpiAnswerSchema(Schema):
    answered_on = Day(required=True)
    revenue_amount = fields.Raw(required=True)
    rd_spend_amount = fields.Raw(required=True)
    headcount = fields.Raw(required=True)
    pct_applications = fields.Raw(required=True)
    value_added_amount = fields.Raw(required=True)
