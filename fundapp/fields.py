"""The input fields every domain's schemas share: one rule for money, units, days, ids and text.

Money and units travel as decimal **strings** ("1500000.00"): a JSON number has passed through a
binary float before it reaches us, so it is refused with a message that says so (R1). Web forms
send strings anyway, so forms and the API go through the same fields. Each field describes itself
for the OpenAPI document (`openapi_properties`).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, validate
from werkzeug.routing import IntegerConverter

FEN = Decimal("0.01")
# Far above any real amount (10 trillion CNY), far below what a BIGINT of fen holds.
MAX_AMOUNT = Decimal("10000000000000")
# Days the fund's calendar works with: window and deadline sums stay far inside date's range,
# and a year such as 0001 or 9999 is a typing slip, not a date anyone means.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2200, 12, 31)
MAX_ID = 2**31 - 1  # INTEGER primary keys; larger ids name nothing
_DECIMAL_TEXT = re.compile(r"^[+-]?(\d{1,16}(\.\d{0,8})?|\.\d{1,8})$")


def _parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValidationError(str(_l("Enter a number, such as 1500000.00.")))
    if isinstance(value, int | float):
        raise ValidationError(str(_l("Send the amount as a decimal string, such as "
                                     "\"1500000.00\", not as a JSON number.")))
    if not isinstance(value, str):
        raise ValidationError(str(_l("Enter a number, such as 1500000.00.")))
    text = value.strip().replace(",", "").replace("，", "")
    if not _DECIMAL_TEXT.match(text):
        raise ValidationError(str(_l("Enter a number, such as 1500000.00.")))
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already refused it
        raise ValidationError(str(_l("Enter a number, such as 1500000.00."))) from None
    if abs(number) >= MAX_AMOUNT:
        raise ValidationError(str(_l("This amount is too large.")))
    return number


class Money(fields.Field):
    """CNY with at most 2 places (fen), as a decimal string; `positive` refuses 0."""

    openapi_properties = {"type": "string", "format": "decimal",
                          "pattern": r"^\d{1,13}(\.\d{1,2})?$", "example": "1500000.00",
                          "description": "CNY as a decimal string with at most 2 places"}

    def __init__(self, *, positive: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.positive = positive

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(Decimal(value).quantize(FEN))

    def _deserialize(self, value, attr, data, **kwargs):
        amount = _parse_decimal(value)
        if amount != amount.quantize(FEN):
            raise ValidationError(str(_l("At most 2 decimal places (fen).")))
        if amount < 0 or (self.positive and amount == 0):
            raise ValidationError(str(_l("Must be more than 0.") if self.positive
                                      else _l("Must not be negative.")))
        return amount.quantize(FEN)


class Units(fields.Field):
    """Shares or registered-capital units (注册资本), > 0, at most 2 places, as a string."""

    openapi_properties = {"type": "string", "format": "decimal",
                          "pattern": r"^\d{1,13}(\.\d{1,2})?$", "example": "833333.33"}

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)

    def _deserialize(self, value, attr, data, **kwargs):
        units = _parse_decimal(value)
        if units <= 0:
            raise ValidationError(str(_l("Must be more than 0.")))
        if units != units.quantize(FEN):
            raise ValidationError(str(_l("At most 2 decimal places.")))
        return units


class Percent(fields.Field):
    """A fraction or a percentage as a decimal string, between `min` and `max` inclusive."""

    openapi_properties = {"type": "string", "format": "decimal", "example": "0.2000"}

    def __init__(self, *, min: Decimal = Decimal(0), max: Decimal = Decimal(100),
                 places: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min, self.max, self.places = Decimal(min), Decimal(max), places

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)

    def _deserialize(self, value, attr, data, **kwargs):
        number = _parse_decimal(value)
        if not self.min <= number <= self.max:
            raise ValidationError(str(_l("Enter a value between %(min)s and %(max)s.",
                                         min=self.min, max=self.max)))
        if number != number.quantize(Decimal(1).scaleb(-self.places)):
            raise ValidationError(str(_l("At most %(n)s decimal places.", n=self.places)))
        return number


def day_out_of_range(day: date | None) -> str | None:
    """The message for a day outside FIRST_DAY..LAST_DAY, or None when it is within (or none)."""
    if day is None or FIRST_DAY <= day <= LAST_DAY:
        return None
    return str(_l("Enter a date between %(first)s and %(last)s.", first=FIRST_DAY.isoformat(),
                  last=LAST_DAY.isoformat()))


class Day(fields.Date):
    """A calendar day between FIRST_DAY and LAST_DAY, as YYYY-MM-DD."""

    openapi_properties = {"type": "string", "format": "date", "example": "2026-04-01",
                          "description": f"YYYY-MM-DD, {FIRST_DAY.isoformat()} to "
                                         f"{LAST_DAY.isoformat()}"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and len(value) > 40:  # no date is that long
            raise self.make_error("invalid", input=value[:40], obj_type=self.OBJ_TYPE)
        day = super()._deserialize(value, attr, data, **kwargs)
        problem = day_out_of_range(day)
        if problem:
            raise ValidationError(problem)
        return day


class _Id(fields.Integer):
    """fields.Integer that reads only integers of at most 18 digits (an id, never 1e999999999)."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and not (value.is_integer() and abs(value) < 1e18):
            raise self.make_error("invalid", input=value)  # also NaN and the infinities
        if isinstance(value, str) and not re.fullmatch(r"\s*[+-]?\d{1,18}\s*", value):
            raise self.make_error("invalid", input=value[:40])
        return super()._validated(value)


def Id(**kwargs: Any) -> fields.Integer:  # reads like a field class
    """A row id or a small count: a positive integer that fits the database's INTEGER."""
    return _Id(strict=False, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class IdConverter(IntegerConverter):
    """`<int:...>` in a URL is a row id: at most 10 digits and at most MAX_ID, so an id such as
    2**63 is simply not found (404) instead of overflowing the database's INTEGER."""

    regex = r"\d{1,10}"

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class _Text(fields.String):
    """Text trimmed of surrounding blanks, at most `max` characters (its column's length).

    The messages are translated when they are raised: marshmallow's Length validator formats its
    message first ("Longer than maximum length 200."), which no catalogue entry matches.
    """

    def __init__(self, max: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max = max
        self.openapi_properties = {"type": "string", "maxLength": max,
                                   **({"minLength": 1} if self.required else {})}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text and self.required:
            raise self.make_error("required")
        if len(text) > self.max:
            raise ValidationError(str(_l("Longer than maximum length %(max)s.", max=self.max)))
        return text


def Text(max: int, *, required: bool = False, **kwargs: Any) -> fields.String:
    """Text with the length limit of its column; blank counts as missing when required."""
    if "load_default" not in kwargs and not required:
        kwargs["load_default"] = ""
    return _Text(max, required=required, **kwargs)


def openapi_field(converter: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """apispec attribute function: the shared fields describe themselves; decimals are strings."""
    props = getattr(field, "openapi_properties", None)
    if props is not None:
        return dict(props)
    if isinstance(field, fields.Decimal) and field.as_string:
        return {"type": "string", "format": "decimal"}
    return {}
