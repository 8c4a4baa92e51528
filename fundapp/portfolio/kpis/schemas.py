"""Input schemas of a KPI answer: the API's body, the KPI page's form and each row of a KPI CSV.

Amounts are decimal strings (a JSON number is refused); value added may be negative (a loss);
headcount and PCT applications are whole numbers.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate

from fundapp.fields import Day, Money

MAX_COUNT = 10_000_000


class SignedMoney(Money):
    """CNY that may be negative ("-1500.00"): a quarter's value added can be a loss."""

    openapi_properties = {**Money.openapi_properties, "pattern": r"^-?\d{1,13}(\.\d{1,2})?$",
                          "description": "CNY as a decimal string with at most 2 places; "
                                         "may be negative"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value.strip().startswith("-"):
            magnitude = value.strip()[1:]
            if magnitude.lstrip().startswith(("-", "+")):
                raise ValidationError(str(_l("Enter a number, such as 1500000.00.")))
            return -super()._deserialize(magnitude, attr, data, **kwargs)
        return super()._deserialize(value, attr, data, **kwargs)


def Count(**kwargs) -> fields.Integer:  # noqa: N802 - reads like a field class
    """A whole number of people or applications, 0 or more."""
    return fields.Integer(strict=False, validate=validate.Range(min=0, max=MAX_COUNT), **kwargs)


class KpiValuesSchema(Schema):
    """The five figures of a quarter's answer."""

    revenue_amount = Money(required=True)
    rd_spend_amount = Money(required=True)
    headcount = Count(required=True)
    pct_applications = Count(required=True)
    value_added_amount = SignedMoney(required=True)


class KpiAnswerSchema(KpiValuesSchema):
    answered_on = Day(required=True)


class KpiAnswerFormSchema(KpiValuesSchema):
    """The KPI page's form: the answer date defaults to today."""

    answered_on = Day(load_default=None)
