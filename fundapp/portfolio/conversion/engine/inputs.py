"""What a conversion is computed from: the grant, the round (or the filed appraisal standing in
for one, R3.f) and the cap table before it. Each checks its values on construction (R1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from typing import Literal

from fundapp.portfolio.conversion.engine.exact import (
    _EXACT,
    _coerce,
    _day,
    _decimal,
    _fmt_money,
    _is_multiple,
    _money,
    _set,
    _unit_name,
    unit_quantum,
)

RoundKind = Literal["priced_equity", "debt", "convertible", "secondary"]
LegalForm = Literal["llc", "jsc"]

_KIND_LABELS: dict[str, tuple[str, str]] = {
    "priced_equity": ("priced cash equity round", "现金增资"),
    "debt": ("debt round", "债权融资"),
    "convertible": ("convertible round", "可转换融资"),
    "secondary": ("secondary sale", "老股转让"),
}


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
