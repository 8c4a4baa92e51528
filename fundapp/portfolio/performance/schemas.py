"""Output schemas of the performance figures and index series; the index upload's input."""

from __future__ import annotations

from marshmallow import Schema, fields

from fundapp.fields import Text
from fundapp.portfolio.fields import Plain


class PerformanceSchema(Schema):
    as_of = fields.Date()
    period_start = fields.Date(allow_none=True)
    conventions = fields.String()
    fund = Plain()
    views = Plain()
    mirr_rates = Plain()
    periodic_irr = Plain()
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


class IndexSeriesSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    levels = fields.Function(lambda s: len(s.levels))
    first_on = fields.Function(lambda s: s.levels[0].on.isoformat() if s.levels else None)
    last_on = fields.Function(lambda s: s.levels[-1].on.isoformat() if s.levels else None)


class IndexSeriesUploadSchema(Schema):
    """The name of an uploaded index series (the CSV itself is the file or the body)."""

    name = Text(max=100, required=True)  # index_series.name String(100)
    name_en = Text(max=100, load_default=None)  # not sent: a replaced series keeps its own
