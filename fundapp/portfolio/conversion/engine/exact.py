"""Exact arithmetic, input checks and the JSON form shared by the conversion engine (R1).

``_EXACT`` has 100 significant digits and traps ``Inexact``: an operation that would have to
round raises instead of silently rounding. ``_div_round`` divides exactly (Decimal integer
division) and rounds the way the rule book says for that figure.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Any

# Exact arithmetic: 100 digits is far beyond any realistic product of three money amounts
# (3 x 17 digits); if it is ever not enough, Inexact is trapped and we fail loudly.
_EXACT = Context(
    prec=100,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)
# Only for the informational "exact" price/stake values (a quotient such as 1/3 has no exact
# decimal form). Unit counts, comparisons and shown figures never depend on this context.
_QUOTIENT = Context(prec=50, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero])

FEN = Decimal("0.01")
PRICE_PLACES = Decimal("0.000001")  # R5: prices shown half-up to 6 decimal places
PERCENT_PLACES = Decimal("0.0001")  # R6.c: stake shown as a percentage with 4 decimals
_HUNDRED = Decimal(100)
_DAYS_PER_YEAR = Decimal(365)  # R1: actual/365 fixed


class ConversionError(ValueError):
    """A calculation the rule book refuses; ``clause`` names the rule (e.g. "R6.b")."""

    def __init__(self, clause: str, message: str) -> None:
        super().__init__(f"{clause}: {message}")
        self.clause = clause


# --------------------------------------------------------------------------- validation


def _decimal(name: str, value: object) -> Decimal:
    # Floats are refused outright (R1): 0.1 as a float is not 0.1, and accepting it here would
    # smuggle binary rounding into money. Strings are accepted for values read from a file.
    if isinstance(value, bool | float) or not isinstance(value, int | str | Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name} is not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{name} must be finite: {value!r}")
    return number


def _is_multiple(value: Decimal, quantum: Decimal) -> bool:
    with localcontext(_EXACT):
        return value % quantum == 0


def _money(name: str, value: object) -> Decimal:
    amount = _decimal(name, value)
    if amount < 0:
        raise ValueError(f"{name} must not be negative: {amount}")
    if not _is_multiple(amount, FEN):
        raise ValueError(f"{name} must be a whole number of fen (2 decimals): {amount}")
    return amount


def _fraction(name: str, value: object, *, upper: Decimal, upper_inclusive: bool) -> Decimal:
    rate = _decimal(name, value)
    too_high = rate > upper if upper_inclusive else rate >= upper
    if rate < 0 or too_high:
        bound = "<=" if upper_inclusive else "<"
        raise ValueError(f"{name} must be a decimal fraction with 0 <= x {bound} {upper}: {rate}")
    return rate


def _day(name: str, value: object) -> date:
    # datetime is a subclass of date but compares badly with it; dates only.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a datetime.date")
    return value


def _non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer: {value!r}")
    return value


def _set(obj: object, name: str, value: object) -> None:
    # Normalising a field of a frozen dataclass in __post_init__.
    object.__setattr__(obj, name, value)


# --------------------------------------------------------------------------- exact helpers


def _div_round(num: Decimal, den: Decimal, quantum: Decimal, rounding: str) -> Decimal:
    """num / den rounded to a multiple of quantum, exactly (num >= 0, den > 0)."""
    if num < 0 or den <= 0:
        raise ValueError(f"_div_round needs num >= 0 and den > 0, got {num} / {den}")
    with localcontext(_EXACT):
        # divmod on Decimals is integer division: exact, or it raises.
        step = den * quantum
        whole, remainder = divmod(num, step)
        if rounding == ROUND_HALF_UP:
            if 2 * remainder >= step:
                whole += 1
        elif rounding == ROUND_CEILING:
            if remainder:
                whole += 1
        elif rounding != ROUND_DOWN:
            raise ValueError(f"unsupported rounding {rounding}")
        return whole * quantum


def _to_fen(amount: Decimal) -> Decimal:
    """Show an amount that is already whole fen with 2 decimals (raises if it is not)."""
    with localcontext(_EXACT):
        return amount.quantize(FEN)


def _quotient(num: Decimal, den: Decimal) -> Decimal:
    """num / den to 50 significant digits: exact whenever the quotient terminates."""
    return _QUOTIENT.divide(num, den)


def _fmt_money(amount: Decimal) -> str:
    """'3,000,000.00'. The amount is rounded half-up to fen first, so formatting never rounds."""
    return f"{_div_round(amount, Decimal(1), FEN, ROUND_HALF_UP):,.2f}"


def _fmt_units(units: Decimal, quantum: Decimal) -> str:
    return f"{units:,.2f}" if quantum == FEN else f"{units:,.0f}"


def _plain(value: Decimal) -> str:
    # 'f' keeps '1E+7' out of JSON and calculation sheets.
    return format(value, "f")


def _percent_of(part: Decimal, whole: Decimal, quantum: Decimal, rounding: str) -> Decimal:
    with localcontext(_EXACT):
        return _div_round(part * _HUNDRED, whole, quantum, rounding)


def add_months(day: date, months: int) -> date:
    """Calendar month addition, clamped to the month end (2024-02-29 + 12 -> 2025-02-28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --------------------------------------------------------------------------- units, JSON


def _coerce(cls: type, value: object) -> Any:
    if isinstance(value, cls):
        return value
    if isinstance(value, tuple | list):
        return cls(*value)
    raise TypeError(f"expected {cls.__name__} or a tuple, got {type(value).__name__}")


def unit_quantum(legal_form: str) -> Decimal:
    """R1/R6.a: LLC units are CNY of registered capital to the fen; JSC units are whole shares."""
    return FEN if legal_form == "llc" else Decimal(1)


def _unit_name(legal_form: str) -> str:
    return "CNY of registered capital (2 decimals)" if legal_form == "llc" else "whole shares"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
