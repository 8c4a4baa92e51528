"""Fields the portfolio's schemas share: dates the calendar can work with, ids, money and units
as exact decimals, JSON text columns and plain data; and the items envelope of list answers."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate

FEN = Decimal("0.01")
# Far above any real amount (10 trillion CNY), far below what a BIGINT of fen holds.
MAX_AMOUNT = Decimal("10000000000000")
FIRST_DAY, LAST_DAY = date(1990, 1, 1), date(2199, 12, 31)


class Day(fields.Date):
    """A date the fund's calendar can work with (window and deadline sums stay in range)."""

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValidationError(str(_l("Enter a date between 1990 and 2199.")))
        return day


def Id(**kwargs) -> fields.Integer:  # reads like a field class
    """A row id or a small count: a positive integer that fits the database's INTEGER."""
    return fields.Integer(validate=validate.Range(min=1, max=2**31 - 1), **kwargs)


def _check_size(number: Decimal) -> None:
    if abs(number) >= MAX_AMOUNT:
        raise ValidationError(str(_l("This amount is too large.")))


class MoneyField(fields.Decimal):
    """CNY as a string or number with at most 2 decimals; dumped as a string ("1234.50")."""

    def __init__(self, *, positive: bool = False, **kwargs) -> None:
        super().__init__(as_string=True, allow_nan=False, **kwargs)
        self.positive = positive

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, float):
            # JSON numbers arrive as floats; their text form is what the client wrote.
            value = repr(value)
        amount = super()._deserialize(value, attr, data, **kwargs)
        _check_size(amount)
        if amount != amount.quantize(FEN):
            raise ValidationError(str(_l("At most 2 decimal places (fen).")))
        if amount < 0 or (self.positive and amount == 0):
            raise ValidationError(str(_l("Must be more than 0.") if self.positive
                                      else _l("Must not be negative.")))
        return amount


class UnitsField(fields.Decimal):
    def __init__(self, **kwargs) -> None:
        super().__init__(as_string=True, allow_nan=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, float):
            value = repr(value)
        units = super()._deserialize(value, attr, data, **kwargs)
        _check_size(units)
        if units <= 0:
            raise ValidationError(str(_l("Must be more than 0.")))
        if units != units.quantize(FEN):
            raise ValidationError(str(_l("At most 2 decimal places.")))
        return units


class JsonText(fields.Field):
    """Dumps a model's JSON text column as the JSON value it holds."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else json.loads(value)


class Plain(fields.Field):
    """Plain data (Decimal, date, tuples) as JSON: decimals as exact strings, dates ISO."""

    def _serialize(self, value, attr, obj, **kwargs):
        return to_json(value)


def to_json(value):
    # Dispatch on the exact type first: a performance summary has tens of thousands of values.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None or kind is float:
        return value
    if kind is Decimal:
        return format(value, "f")
    if kind is dict:
        return {str(k): to_json(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [to_json(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


class ItemsSchema(Schema):
    as_of = fields.Date()
    items = Plain()
