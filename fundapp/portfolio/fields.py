"""Output fields the portfolio's answers share: JSON text columns and plain data, and the items
envelope of list answers. Input fields (money, units, days, ids, text) are fundapp/fields.py."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from marshmallow import Schema, fields


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
