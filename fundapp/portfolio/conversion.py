"""Grant-to-equity conversion maths (rule book R3-R8), pure and exact.

No Flask, no database, no floats. Every public function runs inside its own ``decimal`` context
(``_EXACT``) that has 100 significant digits and *traps* ``Inexact``: an operation that
would have to round raises instead of silently rounding. A division that may not terminate
goes through ``_div_round`` instead, which uses Decimal integer division (``divmod``, always
exact) and then rounds the way the rule book says for that figure. Prices therefore stay exact rationals: every price in
R5 is "some valuation / U_pre", so we carry the valuation numerator and divide only when a
unit count or a display figure is needed.

Each result carries the clause-by-clause steps (clause id, English and Chinese label,
formula, inputs, result) so that a calculation sheet can show how every number was reached
(R12), and a ``to_dict()`` that is JSON-serialisable (Decimals as plain strings).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime, timedelta
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
from typing import Any, Literal

__all__ = [
    "DEFAULT_POLICY",
    "BuybackFloorPrice",
    "CapTableEntry",
    "CapTableRow",
    "ClauseResult",
    "ConversionError",
    "ConversionPolicy",
    "ConversionResult",
    "Disbursement",
    "FinancingRound",
    "Grant",
    "Investor",
    "InvestorAllocation",
    "NotQualifyingError",
    "PenaltyInterest",
    "PenaltyLine",
    "QualifyingResult",
    "Refund",
    "Step",
    "Appraisal",
    "add_months",
    "check_qualifying",
    "compute_appraisal_conversion",
    "compute_conversion",
    "converting_amount",
    "floor_price_buyback",
    "penalty_interest",
    "rate_in_force",
    "unit_quantum",
]

ConvertBase = Literal["disbursed", "awarded"]
RoundKind = Literal["priced_equity", "debt", "convertible", "secondary"]
LegalForm = Literal["llc", "jsc"]

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

_KIND_LABELS: dict[str, tuple[str, str]] = {
    "priced_equity": ("priced cash equity round", "现金增资"),
    "debt": ("debt round", "债权融资"),
    "convertible": ("convertible round", "可转换融资"),
    "secondary": ("secondary sale", "老股转让"),
}


class ConversionError(ValueError):
    """A calculation the rule book refuses; ``clause`` names the rule (e.g. "R6.b")."""

    def __init__(self, clause: str, message: str) -> None:
        super().__init__(f"{clause}: {message}")
        self.clause = clause


class NotQualifyingError(ConversionError):
    """The round is not a qualifying financing (R3); ``result`` lists every clause."""

    def __init__(self, result: QualifyingResult) -> None:
        failed = "; ".join(c.message_en for c in result.failed_clauses)
        super().__init__("R3", f"not a qualifying financing ({failed})")
        self.result = result


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


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class ConversionPolicy:
    """Policy parameters used by this module, with the rule book defaults.

    Rates and shares are decimal fractions (0.30 = 30 %). The versioned policy store pins one
    of these to each agreement; this module never reads a policy by itself.
    """

    convert_base: ConvertBase = "disbursed"  # R4.a
    pre_money_includes_conversion: bool = False  # R5.b
    discount: Decimal = Decimal("0")  # R5.c
    valuation_cap: Decimal | None = None  # R5.d, CNY
    max_stake: Decimal = Decimal("0.30")  # R6.d
    qf_min_abs: Decimal = Decimal("5000000.00")  # R3.d, CNY
    qf_min_multiple: Decimal = Decimal("1.0")  # R3.d, x converting amount
    min_lead_share: Decimal = Decimal("0.50")  # R3.e, of the new money
    conversion_window_months: int = 36  # R3.b
    grace_days: int = 90  # R3.b
    require_rd_acceptance: bool = True  # R3.c
    registration_days: int = 60  # R6.g, calendar days
    default_par_value: Decimal = Decimal("1.00")  # R1: JSC par unless the round says otherwise
    t1_years: int = 3  # R7.b
    return_cap: Decimal | None = None  # R7.c
    penalty_rate_multiple: Decimal = Decimal("1.5")  # R8.c

    def __post_init__(self) -> None:
        if self.convert_base not in ("disbursed", "awarded"):
            raise ValueError(
                f"convert_base must be 'disbursed' or 'awarded': {self.convert_base!r}"
            )
        one = Decimal(1)
        _set(
            self, "discount", _fraction("discount", self.discount, upper=one, upper_inclusive=False)
        )
        if self.valuation_cap is not None:
            cap = _money("valuation_cap", self.valuation_cap)
            if cap == 0:
                raise ValueError("valuation_cap must be positive (or None for no cap)")
            _set(self, "valuation_cap", cap)
        # max_stake = 0 or 1 would make the R6.d solve divide by zero or be meaningless.
        max_stake = _fraction("max_stake", self.max_stake, upper=one, upper_inclusive=False)
        if max_stake == 0:
            raise ValueError("max_stake must be greater than 0")
        _set(self, "max_stake", max_stake)
        _set(self, "qf_min_abs", _money("qf_min_abs", self.qf_min_abs))
        multiple = _decimal("qf_min_multiple", self.qf_min_multiple)
        if multiple < 0:
            raise ValueError("qf_min_multiple must not be negative")
        _set(self, "qf_min_multiple", multiple)
        _set(
            self,
            "min_lead_share",
            _fraction("min_lead_share", self.min_lead_share, upper=one, upper_inclusive=True),
        )
        for name in ("conversion_window_months", "grace_days", "registration_days", "t1_years"):
            _non_negative_int(name, getattr(self, name))
        par = _money("default_par_value", self.default_par_value)
        if par == 0:
            raise ValueError("default_par_value must be positive")
        _set(self, "default_par_value", par)
        if self.return_cap is not None:
            cap = _decimal("return_cap", self.return_cap)
            if cap < 0:
                raise ValueError("return_cap must not be negative")
            _set(self, "return_cap", cap)
        multiple = _decimal("penalty_rate_multiple", self.penalty_rate_multiple)
        if multiple < 0:
            raise ValueError("penalty_rate_multiple must not be negative")
        _set(self, "penalty_rate_multiple", multiple)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ConversionPolicy:
        """Build from a policy version's values (strings or Decimals); other keys are ignored.

        A policy file holds parameters for every module (grant caps, appraisal validity ...);
        this takes only the ones listed above.
        """
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


DEFAULT_POLICY = ConversionPolicy()


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Disbursement:
    paid_on: date
    amount: Decimal

    def __post_init__(self) -> None:
        _set(self, "paid_on", _day("paid_on", self.paid_on))
        _set(self, "amount", _money("amount", self.amount))


@dataclass(frozen=True)
class Refund:
    refunded_on: date
    amount: Decimal

    def __post_init__(self) -> None:
        _set(self, "refunded_on", _day("refunded_on", self.refunded_on))
        _set(self, "amount", _money("amount", self.amount))


@dataclass(frozen=True)
class Grant:
    signed_on: date
    awarded_amount: Decimal
    disbursements: tuple[Disbursement, ...] = ()
    refunds: tuple[Refund, ...] = ()
    rd_accepted_on: date | None = None

    def __post_init__(self) -> None:
        _set(self, "signed_on", _day("signed_on", self.signed_on))
        _set(self, "awarded_amount", _money("awarded_amount", self.awarded_amount))
        # Plain (date, amount) tuples are accepted for convenience.
        _set(self, "disbursements", tuple(_coerce(Disbursement, d) for d in self.disbursements))
        _set(self, "refunds", tuple(_coerce(Refund, r) for r in self.refunds))
        if self.rd_accepted_on is not None:
            _set(self, "rd_accepted_on", _day("rd_accepted_on", self.rd_accepted_on))
        with localcontext(_EXACT):
            paid = sum((d.amount for d in self.disbursements), Decimal("0.00"))
        if paid > self.awarded_amount:  # R2.b: never more than awarded
            raise ValueError(
                f"R2.b: disbursed {_fmt_money(paid)} exceeds the award "
                f"{_fmt_money(self.awarded_amount)}"
            )


@dataclass(frozen=True)
class Investor:
    name: str
    cash_amount: Decimal
    is_independent: bool
    is_lead: bool = False

    def __post_init__(self) -> None:
        _set(self, "cash_amount", _money("cash_amount", self.cash_amount))


@dataclass(frozen=True)
class FinancingRound:
    kind: RoundKind
    closed_on: date
    pre_money_valuation: Decimal
    units_before: Decimal
    investors: tuple[Investor, ...]
    legal_form: LegalForm = "llc"
    definitive_agreement_signed_on: date | None = None
    par_value: Decimal | None = None  # JSC only; None means the policy's default_par_value

    def __post_init__(self) -> None:
        if self.kind not in _KIND_LABELS:
            raise ValueError(f"unknown round kind {self.kind!r}")
        if self.legal_form not in ("llc", "jsc"):
            raise ValueError(f"legal_form must be 'llc' or 'jsc': {self.legal_form!r}")
        _set(self, "closed_on", _day("closed_on", self.closed_on))
        if self.definitive_agreement_signed_on is not None:
            _set(
                self,
                "definitive_agreement_signed_on",
                _day("definitive_agreement_signed_on", self.definitive_agreement_signed_on),
            )
        _set(self, "pre_money_valuation", _money("pre_money_valuation", self.pre_money_valuation))
        units = _decimal("units_before", self.units_before)
        if units <= 0 or not _is_multiple(units, unit_quantum(self.legal_form)):
            raise ValueError(f"R1: units_before must be positive {_unit_name(self.legal_form)}")
        _set(self, "units_before", units)
        _set(self, "investors", tuple(_coerce(Investor, i) for i in self.investors))
        if self.par_value is not None:
            par = _money("par_value", self.par_value)
            # R1: an LLC's units are CNY of registered capital, so its "par" is 1.00 by definition.
            if par == 0 or (self.legal_form == "llc" and par != 1):
                raise ValueError("par_value must be positive, and 1.00 for an LLC")
            _set(self, "par_value", par)

    @property
    def new_money_amount(self) -> Decimal:
        with localcontext(_EXACT):
            return sum((i.cash_amount for i in self.investors), Decimal("0.00"))


@dataclass(frozen=True)
class CapTableEntry:
    holder: str
    units: Decimal

    def __post_init__(self) -> None:
        units = _decimal("units", self.units)
        if units < 0:
            raise ValueError(f"units of {self.holder} must not be negative")
        _set(self, "units", units)


@dataclass(frozen=True)
class Appraisal:
    """R3.f: a filed independent appraisal (评估备案) of the company's equity, pre-money."""

    appraised_value: Decimal  # the company's equity value before the conversion, CNY
    base_date: date
    filing_number: str
    units_outstanding: Decimal  # U_pre
    filed_on: date | None = None
    legal_form: LegalForm = "llc"
    par_value: Decimal | None = None  # JSC only

    def __post_init__(self) -> None:
        value = _money("appraised_value", self.appraised_value)
        if value == 0:
            raise ValueError("appraised_value must be positive")
        _set(self, "appraised_value", value)
        _set(self, "base_date", _day("base_date", self.base_date))
        if self.filed_on is not None:
            _set(self, "filed_on", _day("filed_on", self.filed_on))
        if not str(self.filing_number).strip():
            raise ValueError("R3.f: the appraisal must be filed (a filing number is required)")
        if self.legal_form not in ("llc", "jsc"):
            raise ValueError(f"legal_form must be 'llc' or 'jsc': {self.legal_form!r}")
        units = _decimal("units_outstanding", self.units_outstanding)
        if units <= 0 or not _is_multiple(units, unit_quantum(self.legal_form)):
            raise ValueError(
                f"R1: units_outstanding must be positive {_unit_name(self.legal_form)}"
            )
        _set(self, "units_outstanding", units)


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


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class ClauseResult:
    clause: str
    passed: bool
    message_en: str
    message_zh: str


@dataclass(frozen=True)
class QualifyingResult:
    """R3 clause by clause, in the rule book's order (R3.a .. R3.e)."""

    clauses: tuple[ClauseResult, ...]
    converting_amount: Decimal
    new_money_amount: Decimal
    threshold_amount: Decimal  # exact max(qf_min_abs, qf_min_multiple x G)
    window_end_on: date
    grace_end_on: date

    @property
    def qualifies(self) -> bool:
        return all(c.passed for c in self.clauses)

    @property
    def failed_clauses(self) -> tuple[ClauseResult, ...]:
        return tuple(c for c in self.clauses if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        return {**_jsonable(self), "qualifies": self.qualifies}


@dataclass(frozen=True)
class Step:
    """One line of the calculation sheet: which clause, what went in, what came out."""

    clause: str
    label_en: str
    label_zh: str
    formula: str
    inputs: dict[str, str]
    result: dict[str, str]


@dataclass(frozen=True)
class InvestorAllocation:
    name: str
    cash_amount: Decimal
    units: Decimal
    registered_capital_increase: Decimal
    capital_reserve: Decimal


@dataclass(frozen=True)
class CapTableRow:
    holder: str
    units: Decimal
    percent: Decimal  # 4 decimals; the column sums to exactly 100.0000
    is_fund: bool


@dataclass(frozen=True)
class ConversionResult:
    grant: Grant
    financing_round: FinancingRound
    policy: ConversionPolicy
    qualifying: QualifyingResult
    converting_amount: Decimal  # G, R4.a
    round_price: Decimal  # P; exact when the quotient terminates, else 50 significant digits
    round_price_display: str
    conversion_price: Decimal  # Pc
    conversion_price_display: str
    is_valuation_capped: bool  # R5.d applied
    unit_quantum: Decimal
    par_value: Decimal
    investors: tuple[InvestorAllocation, ...]
    uncapped_fund_units: Decimal  # G / Pc rounded down, before R6.d
    fund_units: Decimal  # ΔU_G
    is_stake_capped: bool  # R6.d cut ΔU_G
    converted_amount: Decimal
    remaining_grant_amount: Decimal  # stays grant (R6.d, closed under R8)
    registered_capital_increase: Decimal  # R6.b
    capital_reserve: Decimal  # R6.b
    units_before: Decimal
    post_round_units: Decimal  # R6.c
    fund_stake: Decimal  # fraction; exact when it terminates, else 50 significant digits
    fund_stake_display: str  # "4.0000%"
    becomes_largest_holder: bool | None  # R6.e; None = unknown without a cap table
    needs_ic_resolution: bool  # R6.e: unless we can show the fund is not the largest holder
    registration_due_on: date  # R6.g
    cap_table: tuple[CapTableRow, ...]
    steps: tuple[Step, ...]
    basis: Literal["round", "appraisal"] = "round"  # R3.f: "appraisal"
    appraisal: Appraisal | None = None  # R3.f: the filed appraisal that priced the conversion

    def to_dict(self) -> dict[str, Any]:
        return {**_jsonable(self), "qualifying": self.qualifying.to_dict()}


@dataclass(frozen=True)
class BuybackFloorPrice:
    amount: Decimal
    principal_amount: Decimal
    converted_on: date
    transfer_on: date
    t1_anniversary_on: date
    days_held: int
    lpr_rate: Decimal
    is_interest_applied: bool
    cap_amount: Decimal | None  # R7.c, rounded down to fen so the price never exceeds it
    is_return_capped: bool
    steps: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


@dataclass(frozen=True)
class PenaltyLine:
    paid_on: date
    amount: Decimal
    days: int
    interest_amount: Decimal


@dataclass(frozen=True)
class PenaltyInterest:
    repaid_on: date
    lpr_rate: Decimal
    rate: Decimal  # multiple x LPR, per year
    lines: tuple[PenaltyLine, ...]
    principal_amount: Decimal
    interest_amount: Decimal  # sum of the lines, each rounded half-up to fen
    total_amount: Decimal

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


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


# --------------------------------------------------------------------------- R4


def converting_amount(
    grant: Grant, financing_round: FinancingRound, policy: ConversionPolicy = DEFAULT_POLICY
) -> Decimal:
    """R4.a: what converts: disbursed by the closing date less refunds, or the whole award."""
    if policy.convert_base == "awarded":
        # Undisbursed tranches are paid at closing, so the whole award converts.
        return grant.awarded_amount
    closed_on = financing_round.closed_on
    with localcontext(_EXACT):
        paid = sum(
            (d.amount for d in grant.disbursements if d.paid_on <= closed_on), Decimal("0.00")
        )
        # A refund after the closing date cannot shrink what the company held at closing.
        refunded = sum(
            (r.amount for r in grant.refunds if r.refunded_on <= closed_on), Decimal("0.00")
        )
        if refunded > paid:
            raise ConversionError(
                "R4.a",
                f"refunds {_fmt_money(refunded)} exceed disbursements {_fmt_money(paid)}",
            )
        return paid - refunded


# --------------------------------------------------------------------------- R3


def check_qualifying(
    grant: Grant, financing_round: FinancingRound, policy: ConversionPolicy = DEFAULT_POLICY
) -> QualifyingResult:
    """R3.a-R3.e in order; every clause is evaluated so the user sees all the failures."""
    with localcontext(_EXACT):
        g = converting_amount(grant, financing_round, policy)
        window_end = add_months(grant.signed_on, policy.conversion_window_months)
        grace_end = window_end + timedelta(days=policy.grace_days)
        new_money = financing_round.new_money_amount
        threshold = max(policy.qf_min_abs, policy.qf_min_multiple * g)
        clauses = (
            _check_kind(financing_round),
            _check_window(grant, financing_round, window_end, grace_end),
            _check_acceptance(grant, financing_round, policy),
            _check_size(new_money, threshold),
            _check_lead(financing_round, new_money, policy),
        )
        return QualifyingResult(
            clauses=clauses,
            converting_amount=g,
            new_money_amount=new_money,
            threshold_amount=threshold,
            window_end_on=window_end,
            grace_end_on=grace_end,
        )


def _check_kind(financing_round: FinancingRound) -> ClauseResult:
    en, zh = _KIND_LABELS[financing_round.kind]
    if financing_round.kind == "priced_equity":
        return ClauseResult("R3.a", True, f"R3.a: {en}", f"R3.a：{zh}")
    return ClauseResult(
        "R3.a",
        False,
        f"R3.a: a {en} never qualifies, only a priced cash equity round",
        f"R3.a：{zh}不构成合格融资，仅限现金增资",
    )


def _check_window(
    grant: Grant, financing_round: FinancingRound, window_end: date, grace_end: date
) -> ClauseResult:
    closed, signed = financing_round.closed_on, grant.signed_on
    agreed = financing_round.definitive_agreement_signed_on
    if closed < signed:
        return ClauseResult(
            "R3.b",
            False,
            f"R3.b: closed {closed} before the grant was signed on {signed}",
            f"R3.b：交割日 {closed} 早于拨款协议签署日 {signed}",
        )
    if closed <= window_end:
        return ClauseResult(
            "R3.b",
            True,
            f"R3.b: closed {closed} within the window {signed} to {window_end}",
            f"R3.b：交割日 {closed} 在窗口期 {signed} 至 {window_end} 内",
        )
    # Grace only for a round whose definitive agreement was signed inside the window.
    agreed_inside = agreed is not None and signed <= agreed <= window_end
    if agreed_inside and closed <= grace_end:
        return ClauseResult(
            "R3.b",
            True,
            f"R3.b: closed {closed} within the grace period to {grace_end} "
            f"(definitive agreement signed {agreed}, inside the window ending {window_end})",
            f"R3.b：交割日 {closed} 在宽限期（至 {grace_end}）内"
            f"（正式协议于窗口期内 {agreed} 签署，窗口期至 {window_end}）",
        )
    if agreed_inside:
        return ClauseResult(
            "R3.b",
            False,
            f"R3.b: closed {closed} after the grace period ended on {grace_end}",
            f"R3.b：交割日 {closed} 晚于宽限期截止日 {grace_end}",
        )
    return ClauseResult(
        "R3.b",
        False,
        f"R3.b: closed {closed} after the window ended on {window_end}, "
        f"and no definitive agreement was signed inside the window",
        f"R3.b：交割日 {closed} 晚于窗口期截止日 {window_end}，且正式协议未在窗口期内签署",
    )


def _check_acceptance(
    grant: Grant, financing_round: FinancingRound, policy: ConversionPolicy
) -> ClauseResult:
    if not policy.require_rd_acceptance:
        return ClauseResult(
            "R3.c",
            True,
            "R3.c: R&D acceptance not required by the policy",
            "R3.c：政策不要求研发验收",
        )
    accepted, closed = grant.rd_accepted_on, financing_round.closed_on
    if accepted is None:
        return ClauseResult(
            "R3.c",
            False,
            f"R3.c: closed {closed} but the R&D has not been accepted",
            f"R3.c：交割日 {closed}，但研发任务尚未验收",
        )
    if closed < accepted:
        return ClauseResult(
            "R3.c",
            False,
            f"R3.c: closed {closed} before R&D acceptance on {accepted}",
            f"R3.c：交割日 {closed} 早于研发验收日 {accepted}",
        )
    return ClauseResult(
        "R3.c",
        True,
        f"R3.c: closed {closed} on or after R&D acceptance on {accepted}",
        f"R3.c：交割日 {closed} 不早于研发验收日 {accepted}",
    )


def _check_size(new_money: Decimal, threshold: Decimal) -> ClauseResult:
    # New money is whole fen, so comparing it with the threshold rounded UP to fen gives the
    # same answer as the exact comparison, and the shown figures never contradict the verdict.
    shown = _div_round(threshold, Decimal(1), FEN, ROUND_CEILING)
    money = _fmt_money(new_money)
    if new_money >= threshold:
        return ClauseResult(
            "R3.d",
            True,
            f"R3.d: new money {money} >= {_fmt_money(shown)}",
            f"R3.d：新增资金 {money} >= {_fmt_money(shown)}",
        )
    return ClauseResult(
        "R3.d",
        False,
        f"R3.d: new money {money} < {_fmt_money(shown)}",
        f"R3.d：新增资金 {money} < {_fmt_money(shown)}",
    )


def _check_lead(
    financing_round: FinancingRound, new_money: Decimal, policy: ConversionPolicy
) -> ClauseResult:
    leads = [i for i in financing_round.investors if i.is_lead]
    if not leads:
        return ClauseResult("R3.e", False, "R3.e: no lead investor", "R3.e：无领投方")
    minimum = policy.min_lead_share
    failures: list[tuple[str, str]] = []
    for lead in leads:
        if not lead.is_independent:
            failures.append(
                (
                    f"R3.e: lead investor {lead.name} is not independent of the company, "
                    f"its founders or the fund manager",
                    f"R3.e：领投方 {lead.name} 与公司、创始人或基金管理人不独立",
                )
            )
            continue
        is_enough = new_money > 0 and lead.cash_amount >= minimum * new_money
        # The comparison is exact; the shown share is rounded down and the minimum down on a
        # pass and up on a failure, so the two shown figures always agree with the verdict
        # (never "50.00% < 50.00%").
        share = (
            _percent_of(lead.cash_amount, new_money, FEN, ROUND_DOWN)
            if new_money > 0
            else Decimal("0.00")
        )
        shown_min = _percent_of(
            minimum, Decimal(1), FEN, ROUND_DOWN if is_enough else ROUND_CEILING
        )
        if is_enough:
            return ClauseResult(
                "R3.e",
                True,
                f"R3.e: independent lead investor {lead.name} puts in {share}% of the new "
                f"money >= {shown_min}%",
                f"R3.e：独立领投方 {lead.name} 出资占新增资金 {share}% >= {shown_min}%",
            )
        failures.append(
            (
                f"R3.e: lead investor {lead.name} puts in {share}% of the new money < {shown_min}%",
                f"R3.e：领投方 {lead.name} 出资占新增资金 {share}% < {shown_min}%",
            )
        )
    return ClauseResult(
        "R3.e", False, "; ".join(en for en, _ in failures), "；".join(zh for _, zh in failures)
    )


# --------------------------------------------------------------------------- R5, R6


def compute_conversion(
    grant: Grant,
    financing_round: FinancingRound,
    policy: ConversionPolicy = DEFAULT_POLICY,
    cap_table: Sequence[CapTableEntry | tuple[str, Decimal]] | None = None,
    *,
    fund_holder: str = "fund",
) -> ConversionResult:
    """R4-R6: converting amount, prices, units, stake cap, reserve and the post-round cap table.

    Raises NotQualifyingError when the round fails R3, ConversionError for other refusals.
    ``cap_table`` is the pre-round cap table; when given its units must add up to
    ``units_before``. ``fund_holder`` is the name of the fund's platform in the cap table.
    """
    with localcontext(_EXACT):
        qualifying = check_qualifying(grant, financing_round, policy)
        if not qualifying.qualifies:
            raise NotQualifyingError(qualifying)
        existing = _existing_holdings(financing_round, cap_table, fund_holder)
        return _Conversion(grant, financing_round, policy, qualifying).run(
            existing, cap_table is not None, fund_holder
        )


def compute_appraisal_conversion(
    grant: Grant,
    appraisal: Appraisal,
    policy: ConversionPolicy = DEFAULT_POLICY,
    cap_table: Sequence[CapTableEntry | tuple[str, Decimal]] | None = None,
    *,
    met_on: date,
    condition: str = "",
    validity_months: int = 12,
    fund_holder: str = "fund",
) -> ConversionResult:
    """R3.f: conversion after an agreed condition is met, priced by a filed appraisal.

    ``P = appraised value / units outstanding`` (R5.a), then R5.c/R5.d, R4 at ``met_on``, and
    R6.a-R6.e with no new investors; the R6.g deadline runs from ``met_on``. The appraisal
    may not be older than ``validity_months`` from its base date on ``met_on`` (as R9.a).
    """
    _day("met_on", met_on)
    _non_negative_int("validity_months", validity_months)
    if met_on < grant.signed_on:
        raise ConversionError(
            "R3.f", f"the condition was met on {met_on}, before the grant was signed on "
            f"{grant.signed_on}"
        )
    valid_until = add_months(appraisal.base_date, validity_months)
    if met_on > valid_until:
        raise ConversionError(
            "R9.a",
            f"the appraisal's base date {appraisal.base_date} is older than {validity_months} "
            f"months on {met_on} (valid until {valid_until})",
        )
    with localcontext(_EXACT):
        # The appraisal stands in for the round: its value is V_pre, its units U_pre, the
        # condition-met date the closing date, and nobody else invests.
        spec = FinancingRound(
            kind="priced_equity",
            closed_on=met_on,
            pre_money_valuation=appraisal.appraised_value,
            units_before=appraisal.units_outstanding,
            investors=(),
            legal_form=appraisal.legal_form,
            par_value=appraisal.par_value,
        )
        g = converting_amount(grant, spec, policy)
        window_end = add_months(grant.signed_on, policy.conversion_window_months)
        qualifying = QualifyingResult(
            clauses=(
                ClauseResult(
                    "R3.f",
                    True,
                    f"R3.f: agreed condition met on {met_on}; priced by the filed appraisal "
                    f"{appraisal.filing_number}",
                    f"R3.f：约定条件于 {met_on} 达成；按备案评估 {appraisal.filing_number} 定价",
                ),
            ),
            converting_amount=g,
            new_money_amount=Decimal("0.00"),
            threshold_amount=Decimal("0.00"),
            window_end_on=window_end,
            grace_end_on=window_end + timedelta(days=policy.grace_days),
        )
        existing = _existing_holdings(spec, cap_table, fund_holder)
        conversion = _Conversion(grant, spec, policy, qualifying, appraisal=appraisal)
        conversion._step(  # noqa: SLF001 - the sheet's first line
            "R3.f",
            "Alternative trigger: agreed condition met, price from a filed appraisal",
            "约定条件达成，按备案评估值定价",
            "condition met; appraisal base date + appraisal_validity_months >= met_on",
            {
                "condition": condition,
                "met_on": met_on.isoformat(),
                "appraised_value": appraisal.appraised_value,
                "base_date": appraisal.base_date.isoformat(),
                "filing_number": appraisal.filing_number,
                "filed_on": appraisal.filed_on.isoformat() if appraisal.filed_on else "",
                "appraisal_validity_months": str(validity_months),
            },
            {"basis": "appraisal", "appraisal_valid_until": valid_until.isoformat()},
        )
        return conversion.run(existing, cap_table is not None, fund_holder)


def _existing_holdings(
    financing_round: FinancingRound,
    cap_table: Sequence[CapTableEntry | tuple[str, Decimal]] | None,
    fund_holder: str,
) -> dict[str, Decimal]:
    quantum = unit_quantum(financing_round.legal_form)
    names = {i.name for i in financing_round.investors}
    names.update(_coerce(CapTableEntry, e).holder for e in cap_table or ())
    if fund_holder in names:
        # Merging would make the R6.c stake and the R6.e test describe different holdings.
        raise ConversionError(
            "R6.c",
            f"{fund_holder!r} already holds units or invests in the round; "
            "pass a distinct fund_holder name",
        )
    if cap_table is None:
        return {"existing holders": financing_round.units_before}
    holdings: dict[str, Decimal] = {}
    for entry in (_coerce(CapTableEntry, e) for e in cap_table):
        if not _is_multiple(entry.units, quantum):
            raise ConversionError(
                "R1",
                f"{entry.holder} holds {entry.units}, not {_unit_name(financing_round.legal_form)}",
            )
        holdings[entry.holder] = holdings.get(entry.holder, Decimal(0)) + entry.units
    total = sum(holdings.values(), Decimal(0))
    if total != financing_round.units_before:
        raise ConversionError(
            "R6.c",
            f"the cap table holds {_fmt_units(total, quantum)} units but the round states "
            f"{_fmt_units(financing_round.units_before, quantum)} units before the round",
        )
    return holdings


class _Conversion:
    """One R5/R6 calculation; a class only so the steps list is not threaded through calls."""

    def __init__(
        self,
        grant: Grant,
        financing_round: FinancingRound,
        policy: ConversionPolicy,
        qualifying: QualifyingResult,
        appraisal: Appraisal | None = None,
    ) -> None:
        self.grant = grant
        self.appraisal = appraisal  # R3.f: the round is the appraisal standing in for one
        self.round = financing_round
        self.policy = policy
        self.qualifying = qualifying
        self.steps: list[Step] = []
        self.quantum = unit_quantum(financing_round.legal_form)
        self.par = (
            Decimal("1.00")
            if financing_round.legal_form == "llc"
            else financing_round.par_value or policy.default_par_value
        )

    def _step(
        self,
        clause: str,
        label_en: str,
        label_zh: str,
        formula: str,
        inputs: Mapping[str, Decimal | str],
        result: Mapping[str, Decimal | str],
    ) -> None:
        def text(v: Decimal | str) -> str:
            return _plain(v) if isinstance(v, Decimal) else v

        self.steps.append(
            Step(
                clause,
                label_en,
                label_zh,
                formula,
                {k: text(v) for k, v in inputs.items()},
                {k: text(v) for k, v in result.items()},
            )
        )

    def _units(self, amount: Decimal, valuation: Decimal) -> Decimal:
        # amount / (valuation / U_pre), rounded down to whole units (R6.a).
        return _div_round(amount * self.round.units_before, valuation, self.quantum, ROUND_DOWN)

    def _price_display(self, valuation: Decimal) -> str:
        return _plain(_div_round(valuation, self.round.units_before, PRICE_PLACES, ROUND_HALF_UP))

    def run(
        self, existing: dict[str, Decimal], has_cap_table: bool, fund_holder: str
    ) -> ConversionResult:
        r, policy = self.round, self.policy
        u_pre = r.units_before
        g = self.qualifying.converting_amount
        by_appraisal = self.appraisal is not None
        on = "met_on" if by_appraisal else "closed_on"
        self._step(
            "R4.a",
            "Converting amount",
            "转股金额",
            f"G = disbursed on or before {'the condition-met date' if by_appraisal else 'closing'}"
            " - refunds"
            if policy.convert_base == "disbursed"
            else "G = awarded amount",
            {
                "convert_base": policy.convert_base,
                on: r.closed_on.isoformat(),
                "awarded_amount": self.grant.awarded_amount,
                "disbursed_by_closing": sum(
                    (d.amount for d in self.grant.disbursements if d.paid_on <= r.closed_on),
                    Decimal("0.00"),
                ),
                "refunded_by_closing": sum(
                    (x.amount for x in self.grant.refunds if x.refunded_on <= r.closed_on),
                    Decimal("0.00"),
                ),
            },
            {"converting_amount": g},
        )

        # R5.a / R5.b: every price is (a valuation) / U_pre; we keep the valuation exact.
        if by_appraisal:
            # R3.f: the filed appraisal is the valuation; R5.b concerns a negotiated round only.
            round_valuation = r.pre_money_valuation
            self._step(
                "R5.a",
                "Price from the filed appraisal (same share, same price)",
                "评估价格（同股同价）",
                "P = appraised value / U_pre",
                {"appraised_value": r.pre_money_valuation, "U_pre": u_pre},
                {"P": self._price_display(round_valuation)},
            )
        elif policy.pre_money_includes_conversion:
            round_valuation = r.pre_money_valuation - g
            if round_valuation <= 0:
                raise ConversionError(
                    "R5.b", "the pre-money valuation does not exceed the converting amount"
                )
            self._step(
                "R5.b",
                "Round price (pre-money includes the converting grant)",
                "本轮价格（投前估值已含转股金额）",
                "P = (V_pre - G) / U_pre",
                {"V_pre": r.pre_money_valuation, "G": g, "U_pre": u_pre},
                {"P": self._price_display(round_valuation)},
            )
        else:
            round_valuation = r.pre_money_valuation
            if round_valuation == 0:
                raise ConversionError("R5.a", "the pre-money valuation is zero")
            self._step(
                "R5.a",
                "Round price (same share, same price)",
                "本轮价格（同股同价）",
                "P = V_pre / U_pre",
                {"V_pre": r.pre_money_valuation, "U_pre": u_pre},
                {"P": self._price_display(round_valuation)},
            )

        conversion_valuation = round_valuation * (1 - policy.discount)
        if policy.discount:
            self._step(
                "R5.c",
                "Conversion price after discount",
                "折扣后转股价格",
                "Pc = P x (1 - discount)",
                {"P": self._price_display(round_valuation), "discount": policy.discount},
                {"Pc": self._price_display(conversion_valuation)},
            )
        is_valuation_capped = False
        if policy.valuation_cap is not None:
            is_valuation_capped = policy.valuation_cap < conversion_valuation
            before = conversion_valuation
            conversion_valuation = min(conversion_valuation, policy.valuation_cap)
            self._step(
                "R5.d",
                "Valuation cap",
                "估值上限",
                "Pc = min(Pc, valuation_cap / U_pre)",
                {
                    "Pc": self._price_display(before),
                    "valuation_cap": policy.valuation_cap,
                    "U_pre": u_pre,
                },
                {"Pc": self._price_display(conversion_valuation)},
            )
        if not policy.discount and policy.valuation_cap is None:
            self._step(
                "R5.a",
                "Conversion price",
                "转股价格",
                "Pc = P",
                {},
                {"Pc": self._price_display(conversion_valuation)},
            )
        # Issuing below par is not allowed (the reserve of R6.b would be negative).
        if conversion_valuation < self.par * u_pre:
            raise ConversionError(
                "R6.b",
                f"conversion price {self._price_display(conversion_valuation)} is below the par "
                f"value {_fmt_money(self.par)}",
            )

        # R6.a: new investors buy at P (also under R5.b).
        allocations: list[InvestorAllocation] = []
        for investor in r.investors:
            units = self._units(investor.cash_amount, round_valuation)
            capital = _to_fen(units * self.par)
            allocations.append(
                InvestorAllocation(
                    investor.name,
                    investor.cash_amount,
                    units,
                    capital,
                    investor.cash_amount - capital,
                )
            )
            self._step(
                "R6.a",
                f"Units to investor {investor.name}",
                f"投资人 {investor.name} 认购单位",
                "units = cash / P, rounded down",
                {"cash": investor.cash_amount, "P": self._price_display(round_valuation)},
                {"units": units},
            )
        investor_units = sum((a.units for a in allocations), Decimal(0))

        uncapped = self._units(g, conversion_valuation)
        self._step(
            "R6.a",
            "Units to the fund",
            "基金转股单位",
            "ΔU_G = G / Pc, rounded down",
            {"G": g, "Pc": self._price_display(conversion_valuation)},
            {"ΔU_G": uncapped},
        )

        fund_units, is_stake_capped = self._apply_stake_cap(uncapped, u_pre + investor_units)
        if is_stake_capped:
            # R6.d: only what buys the capped units converts; the rest stays grant.
            converted = _div_round(fund_units * conversion_valuation, u_pre, FEN, ROUND_HALF_UP)
        else:
            converted = g
        remaining = g - converted
        if is_stake_capped:
            self._step(
                "R6.d",
                "Converted amount after the stake cap",
                "持股上限后的转股金额",
                "converted = ΔU_G x Pc, rounded half-up to fen; remainder stays grant",
                {"ΔU_G": fund_units, "Pc": self._price_display(conversion_valuation)},
                {"converted_amount": converted, "remaining_grant_amount": remaining},
            )

        capital_increase = _to_fen(fund_units * self.par)
        reserve = converted - capital_increase
        self._step(
            "R6.b",
            "Registered capital increase and capital reserve",
            "新增注册资本与资本公积",
            "RC increase = ΔU_G x par; capital reserve = converted - RC increase",
            {"ΔU_G": fund_units, "par": self.par, "converted_amount": converted},
            {"registered_capital_increase": capital_increase, "capital_reserve": reserve},
        )

        post_units = u_pre + investor_units + fund_units
        stake_percent = _percent_of(fund_units, post_units, PERCENT_PLACES, ROUND_HALF_UP)
        stake_display = f"{_plain(stake_percent)}%"
        self._step(
            "R6.c",
            "Post-round units and the fund's stake",
            "投后总单位与基金持股比例",
            "post = U_pre + investors' units + ΔU_G; stake = ΔU_G / post",
            {"U_pre": u_pre, "investors_units": investor_units, "ΔU_G": fund_units},
            {"post_round_units": post_units, "fund_stake": stake_display},
        )

        holdings = dict(existing)
        for allocation in allocations:
            # An existing holder who invests again holds one combined position.
            holdings[allocation.name] = holdings.get(allocation.name, Decimal(0)) + allocation.units
        # Without a cap table the pre-round holders are one opaque block, not one holder.
        known = {h: u for h, u in holdings.items() if has_cap_table or h not in existing}
        largest = _becomes_largest_holder(fund_units, known, has_cap_table)
        self._step(
            "R6.e",
            "Would the fund become the largest holder?",
            "基金是否成为第一大股东",
            "ΔU_G >= every other holder's post-round units",
            {
                "ΔU_G": fund_units,
                "largest_known_other_holding": max(known.values(), default=Decimal(0)),
                "cap_table_supplied": str(has_cap_table).lower(),
            },
            {
                "becomes_largest_holder": "unknown" if largest is None else str(largest).lower(),
                "needs_ic_resolution": str(largest is not False).lower(),
            },
        )

        registration_due = r.closed_on + timedelta(days=policy.registration_days)
        self._step(
            "R6.g",
            "Registration deadline",
            "工商变更登记期限",
            f"{on} + registration_days",
            {
                on: r.closed_on.isoformat(),
                "registration_days": str(policy.registration_days),
            },
            {"registration_due_on": registration_due.isoformat()},
        )

        rows = _cap_table_rows(holdings, fund_holder, fund_units, post_units, stake_percent)
        return ConversionResult(
            grant=self.grant,
            financing_round=r,
            policy=policy,
            qualifying=self.qualifying,
            converting_amount=g,
            round_price=_quotient(round_valuation, u_pre),
            round_price_display=self._price_display(round_valuation),
            conversion_price=_quotient(conversion_valuation, u_pre),
            conversion_price_display=self._price_display(conversion_valuation),
            is_valuation_capped=is_valuation_capped,
            unit_quantum=self.quantum,
            par_value=self.par,
            investors=tuple(allocations),
            uncapped_fund_units=uncapped,
            fund_units=fund_units,
            is_stake_capped=is_stake_capped,
            converted_amount=converted,
            remaining_grant_amount=remaining,
            registered_capital_increase=capital_increase,
            capital_reserve=reserve,
            units_before=u_pre,
            post_round_units=post_units,
            fund_stake=_quotient(fund_units, post_units),
            fund_stake_display=stake_display,
            becomes_largest_holder=largest,
            needs_ic_resolution=largest is not False,
            registration_due_on=registration_due,
            cap_table=rows,
            steps=tuple(self.steps),
            basis="appraisal" if by_appraisal else "round",
            appraisal=self.appraisal,
        )

    def _apply_stake_cap(self, uncapped: Decimal, others: Decimal) -> tuple[Decimal, bool]:
        """R6.d: the largest ΔU_G <= uncapped with ΔU_G / (others + ΔU_G) <= max_stake."""
        m, q = self.policy.max_stake, self.quantum

        def within(units: Decimal) -> bool:
            return units <= m * (others + units)  # exact: no division

        # ΔU <= m (others + ΔU)  <=>  ΔU <= m x others / (1 - m); rounded down to a unit.
        bound = _div_round(m * others, 1 - m, q, ROUND_DOWN)
        if uncapped <= bound:
            return uncapped, False
        units = bound
        # The algebra above is exact; this re-check by one unit step guards against a slip in
        # it, because an over-cap stake would breach R6.d silently.
        if not within(units):
            units -= q
        elif within(units + q):
            units += q
        if not within(units) or within(units + q):
            raise ConversionError("R6.d", "could not solve the stake cap")  # pragma: no cover
        self._step(
            "R6.d",
            "Stake cap",
            "持股比例上限",
            "largest ΔU_G with ΔU_G / (U_pre + investors' units + ΔU_G) <= max_stake",
            {"ΔU_G_uncapped": uncapped, "max_stake": m, "U_pre_plus_investors": others},
            {"ΔU_G": units},
        )
        return units, True


def _becomes_largest_holder(
    fund_units: Decimal, others: Mapping[str, Decimal], has_cap_table: bool
) -> bool | None:
    """R6.e; ``others`` are the holdings we know individually."""
    # A tie counts as "largest": a joint-largest holder has the position R6.e guards against.
    if any(units > fund_units for units in others.values()):
        return False
    # Without the pre-round cap table some existing holder (who may also invest in the round)
    # might still hold more than the fund: we cannot tell, and the caller asks the IC.
    return True if has_cap_table else None


def _cap_table_rows(
    holdings: Mapping[str, Decimal],
    fund_holder: str,
    fund_units: Decimal,
    post_units: Decimal,
    fund_percent: Decimal,
) -> tuple[CapTableRow, ...]:
    """Rows with 4-decimal percentages that sum to exactly 100.0000.

    The fund's row shows its R6.c figure (half-up). The others share the rest by largest
    remainder: each is rounded down, and the missing 0.0001s go to the largest remainders
    (ties to the earlier row). Their count is never negative nor more than the rows with a
    remainder, because the fund's figure is within half a step of its exact share.
    """
    step = PERCENT_PLACES * post_units
    floors: list[tuple[str, Decimal, Decimal, Decimal]] = []
    for holder, units in holdings.items():
        whole, remainder = divmod(units * _HUNDRED, step)
        floors.append((holder, units, whole * PERCENT_PLACES, remainder))
    missing = (_HUNDRED - fund_percent - sum((f[2] for f in floors), Decimal(0))) / PERCENT_PLACES
    by_remainder = sorted(range(len(floors)), key=lambda i: -floors[i][3])
    bumped = set(by_remainder[: int(missing)])
    rows = [
        CapTableRow(holder, units, percent + (PERCENT_PLACES if i in bumped else 0), False)
        for i, (holder, units, percent, _) in enumerate(floors)
    ]
    rows.append(CapTableRow(fund_holder, fund_units, fund_percent, True))
    return tuple(rows)


# --------------------------------------------------------------------------- R7, R8


def rate_in_force(published: Iterable[tuple[date, Decimal]], on: date) -> Decimal:
    """R7.b/R8.c: the rate last published on or before ``on`` from (published_on, rate) pairs."""
    candidates = [(d, rate) for d, rate in published if d <= on]
    if not candidates:
        raise ConversionError("R7.b", f"no reference rate published on or before {on}")
    return max(candidates, key=lambda pair: pair[0])[1]


def floor_price_buyback(
    principal: Decimal,
    converted_on: date,
    transfer_on: date,
    lpr_rate: Decimal,
    t1_years: int = 3,
    return_cap: Decimal | None = None,
) -> BuybackFloorPrice:
    """R7.b floor price for the team buy-back, with the optional R7.c return cap.

    ``principal`` is the converted amount attributable to the units sold; ``lpr_rate`` the
    1-year LPR as a decimal fraction per year (see ``rate_in_force``).
    """
    principal = _money("principal", principal)
    lpr_rate = _decimal("lpr_rate", lpr_rate)
    _day("converted_on", converted_on)
    _day("transfer_on", transfer_on)
    _non_negative_int("t1_years", t1_years)
    if transfer_on < converted_on:
        raise ConversionError("R7.b", f"transfer {transfer_on} precedes conversion {converted_on}")
    with localcontext(_EXACT):
        anniversary = add_months(converted_on, 12 * t1_years)
        days = (transfer_on - converted_on).days
        steps: list[Step] = []
        is_interest_applied = transfer_on > anniversary
        if is_interest_applied:
            price = principal + _div_round(
                principal * lpr_rate * days, _DAYS_PER_YEAR, FEN, ROUND_HALF_UP
            )
            formula = "principal x (1 + r x days / 365), rounded half-up to fen"
        else:
            price = principal
            formula = "transfer on or before the t1 anniversary: the principal"
        steps.append(
            Step(
                "R7.b",
                "Buy-back floor price",
                "回购底价",
                formula,
                {
                    "principal": _plain(principal),
                    "converted_on": converted_on.isoformat(),
                    "transfer_on": transfer_on.isoformat(),
                    "t1_anniversary_on": anniversary.isoformat(),
                    "days_held": str(days),
                    "r": _plain(lpr_rate),
                },
                {"floor_price": _plain(price)},
            )
        )
        cap_amount: Decimal | None = None
        is_return_capped = False
        if return_cap is not None:
            return_cap = _decimal("return_cap", return_cap)
            if return_cap < 0:
                raise ValueError("return_cap must not be negative")
            # Rounded down so the price "never exceeds" the cap, even by a fraction of a fen.
            cap_amount = _div_round(principal * (1 + return_cap), Decimal(1), FEN, ROUND_DOWN)
            is_return_capped = cap_amount < price
            price = min(price, cap_amount)
            steps.append(
                Step(
                    "R7.c",
                    "Return cap",
                    "收益上限",
                    "price = min(price, principal x (1 + return_cap))",
                    {"principal": _plain(principal), "return_cap": _plain(return_cap)},
                    {"cap_amount": _plain(cap_amount), "floor_price": _plain(price)},
                )
            )
        return BuybackFloorPrice(
            amount=price,
            principal_amount=principal,
            converted_on=converted_on,
            transfer_on=transfer_on,
            t1_anniversary_on=anniversary,
            days_held=days,
            lpr_rate=lpr_rate,
            is_interest_applied=is_interest_applied,
            cap_amount=cap_amount,
            is_return_capped=is_return_capped,
            steps=tuple(steps),
        )


def penalty_interest(
    disbursements: Iterable[Disbursement | tuple[date, Decimal]],
    repaid_on: date,
    lpr_rate: Decimal,
    multiple: Decimal = Decimal("1.5"),
) -> PenaltyInterest:
    """R8.c: simple interest at multiple x LPR, actual/365, from each disbursement to repayment.

    Each line is rounded half-up to fen and the total is the sum of the lines, so the
    statement the company receives adds up.
    """
    _day("repaid_on", repaid_on)
    lpr_rate = _decimal("lpr_rate", lpr_rate)
    multiple = _decimal("multiple", multiple)
    with localcontext(_EXACT):
        rate = multiple * lpr_rate
        lines: list[PenaltyLine] = []
        for item in disbursements:
            d = _coerce(Disbursement, item)
            days = (repaid_on - d.paid_on).days
            if days < 0:
                raise ConversionError(
                    "R8.c", f"repayment {repaid_on} precedes disbursement {d.paid_on}"
                )
            interest = _div_round(d.amount * rate * days, _DAYS_PER_YEAR, FEN, ROUND_HALF_UP)
            lines.append(PenaltyLine(d.paid_on, d.amount, days, interest))
        principal = sum((line.amount for line in lines), Decimal("0.00"))
        interest_total = sum((line.interest_amount for line in lines), Decimal("0.00"))
        return PenaltyInterest(
            repaid_on=repaid_on,
            lpr_rate=lpr_rate,
            rate=rate,
            lines=tuple(lines),
            principal_amount=principal,
            interest_amount=interest_total,
            total_amount=principal + interest_total,
        )
