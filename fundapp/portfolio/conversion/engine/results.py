"""What the engine answers: clause results, calculation-sheet steps and results, each with a
JSON-serialisable ``to_dict()`` (Decimals as plain strings, R12)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from fundapp.portfolio.conversion.engine.exact import ConversionError, _jsonable
from fundapp.portfolio.conversion.engine.inputs import Appraisal, FinancingRound, Grant
from fundapp.portfolio.conversion.engine.policy import ConversionPolicy


class NotQualifyingError(ConversionError):
    """The round is not a qualifying financing (R3); ``result`` lists every clause."""

    def __init__(self, result: QualifyingResult) -> None:
        failed = "; ".join(c.message_en for c in result.failed_clauses)
        super().__init__("R3", f"not a qualifying financing ({failed})")
        self.result = result


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
