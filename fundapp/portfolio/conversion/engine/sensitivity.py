"""Conversion sensitivity: the fund's units and stake over a grid of pre-money valuations x
discounts (x closing dates), each cell a full ``compute_conversion`` run (R3-R6).

A cell replaces the round's pre-money valuation (R5.a), the policy's discount (R5.c) and, when
closing dates are given, the round's closing date, which moves the round inside or outside the
conversion window and its grace period (R3.b) and changes what was disbursed by closing (R4.a).
A cell the rule book refuses carries the refused clause and the reason instead of figures.

Pure and exact like the rest of the engine: Decimals only, no floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, Inexact, localcontext
from typing import Any

from fundapp.portfolio.conversion.engine.exact import (
    _EXACT,
    FEN,
    ConversionError,
    _day,
    _decimal,
    _jsonable,
    _percent_of,
)
from fundapp.portfolio.conversion.engine.inputs import CapTableEntry, FinancingRound, Grant
from fundapp.portfolio.conversion.engine.policy import ConversionPolicy
from fundapp.portfolio.conversion.engine.results import NotQualifyingError
from fundapp.portfolio.conversion.engine.units import compute_conversion

# The largest grid: pre-money values x discounts x closing dates.
MAX_PRE_MONEY_VALUES = 12
MAX_DISCOUNTS = 8
MAX_CLOSING_DATES = 6
# Default axes: these shares of the scenario's pre-money, and these discounts (plus the
# policy's own discount).
DEFAULT_PRE_MONEY_FACTORS = tuple(
    Decimal(f) for f in ("0.50", "0.75", "1.00", "1.25", "1.50", "2.00")
)
DEFAULT_DISCOUNTS = tuple(Decimal(d) for d in ("0", "0.10", "0.20", "0.30"))


class SensitivityError(ValueError):
    """A grid the module will not compute; ``field`` names the axis (``pre_money``,
    ``discount`` or ``closing_on``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class SensitivityCell:
    pre_money_valuation: Decimal
    discount: Decimal
    closed_on: date
    is_base: bool  # the scenario's own pre-money, discount and closing date
    fund_units: Decimal | None = None
    fund_stake: Decimal | None = None  # percent, 2 decimals, half-up (4.00 = 4 %)
    fund_stake_display: str | None = None  # the engine's R6.c figure, "4.0000%"
    conversion_price_display: str | None = None
    converting_amount: Decimal | None = None
    converted_amount: Decimal | None = None
    is_stake_capped: bool = False
    is_valuation_capped: bool = False
    refused_clause: str | None = None  # e.g. "R3.b"; None when the cell computes
    reason_en: str = ""
    reason_zh: str = ""

    @property
    def refused(self) -> bool:
        return self.refused_clause is not None


@dataclass(frozen=True)
class SensitivityTable:
    """One closing date: rows are pre-money valuations, columns discounts."""

    closed_on: date
    rows: tuple[tuple[SensitivityCell, ...], ...]


@dataclass(frozen=True)
class SensitivityGrid:
    pre_money_values: tuple[Decimal, ...]
    discounts: tuple[Decimal, ...]
    closing_dates: tuple[date, ...]
    base_pre_money: Decimal
    base_discount: Decimal
    base_closed_on: date
    tables: tuple[SensitivityTable, ...]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


def default_pre_money_values(financing_round: FinancingRound) -> tuple[Decimal, ...]:
    """50 %, 75 %, 100 %, 125 %, 150 % and 200 % of the round's pre-money, to the fen."""
    with localcontext(_EXACT) as ctx:
        ctx.traps[Inexact] = False  # the product is exact; only the rounding to fen is not
        return tuple(
            (financing_round.pre_money_valuation * f).quantize(FEN, rounding=ROUND_HALF_UP)
            for f in DEFAULT_PRE_MONEY_FACTORS
        )


def default_discounts(policy: ConversionPolicy) -> tuple[Decimal, ...]:
    """0 %, 10 %, 20 %, 30 % and the policy's own discount, ascending."""
    return _ascending({*DEFAULT_DISCOUNTS, policy.discount})


def _ascending(values: Any) -> tuple[Any, ...]:
    # Equal Decimals (0.1, 0.10) are one column; the first spelling met is kept.
    seen: dict[Any, Any] = {}
    for v in values:
        seen.setdefault(v, v)
    return tuple(sorted(seen.values()))


def _check_axes(
    pre_money_values: Sequence[Decimal],
    discounts: Sequence[Decimal],
    closing_dates: Sequence[date],
) -> tuple[tuple[Decimal, ...], tuple[Decimal, ...], tuple[date, ...]]:
    pre = []
    for value in pre_money_values:
        try:
            amount = _decimal("pre_money", value)
        except (TypeError, ValueError) as exc:
            raise SensitivityError("pre_money", str(exc)) from None
        if amount <= 0 or amount != amount.quantize(FEN):
            raise SensitivityError(
                "pre_money", f"{value} is not a positive amount with at most 2 decimals"
            )
        pre.append(amount)
    rates = []
    for value in discounts:
        try:
            rate = _decimal("discount", value)
        except (TypeError, ValueError) as exc:
            raise SensitivityError("discount", str(exc)) from None
        if not 0 <= rate < 1:
            raise SensitivityError("discount", f"{value} is not from 0 to below 1 (100%)")
        rates.append(rate)
    days = []
    for value in closing_dates:
        try:
            days.append(_day("closing_on", value))
        except (TypeError, ValueError) as exc:
            raise SensitivityError("closing_on", str(exc)) from None
    axes = (_ascending(pre), _ascending(rates), _ascending(days))
    for field, values, most in zip(
        ("pre_money", "discount", "closing_on"),
        axes,
        (MAX_PRE_MONEY_VALUES, MAX_DISCOUNTS, MAX_CLOSING_DATES),
        strict=True,
    ):
        if not values:
            raise SensitivityError(field, "give at least one value")
        if len(values) > most:
            raise SensitivityError(field, f"at most {most} values ({len(values)} given)")
    return axes


def sensitivity_grid(
    grant: Grant,
    financing_round: FinancingRound,
    policy: ConversionPolicy,
    cap_table: Sequence[CapTableEntry | tuple[str, Decimal]] | None,
    *,
    pre_money_values: Sequence[Decimal] | None = None,
    discounts: Sequence[Decimal] | None = None,
    closing_dates: Sequence[date] | None = None,
    fund_holder: str = "fund",
) -> SensitivityGrid:
    """Every cell of pre-money values x discounts (x closing dates) through the engine.

    ``None`` (or empty) axes take the defaults: ``default_pre_money_values(round)``,
    ``default_discounts(policy)`` and the round's own closing date. Axes are sorted and
    deduplicated; more than 12 pre-money values, 8 discounts or 6 closing dates raise
    ``SensitivityError``. The cap table is the pre-round table, as for ``compute_conversion``.
    """
    pre, rates, days = _check_axes(
        pre_money_values or default_pre_money_values(financing_round),
        discounts or default_discounts(policy),
        closing_dates or (financing_round.closed_on,),
    )
    tables = []
    for day in days:
        rows = []
        for value in pre:
            cells = []
            for rate in rates:
                cells.append(
                    _cell(
                        grant,
                        replace(financing_round, pre_money_valuation=value, closed_on=day),
                        replace(policy, discount=rate),
                        cap_table,
                        fund_holder,
                        is_base=(
                            value == financing_round.pre_money_valuation
                            and rate == policy.discount
                            and day == financing_round.closed_on
                        ),
                    )
                )
            rows.append(tuple(cells))
        tables.append(SensitivityTable(day, tuple(rows)))
    return SensitivityGrid(
        pre_money_values=pre,
        discounts=rates,
        closing_dates=days,
        base_pre_money=financing_round.pre_money_valuation,
        base_discount=policy.discount,
        base_closed_on=financing_round.closed_on,
        tables=tuple(tables),
    )


def _cell(
    grant: Grant,
    financing_round: FinancingRound,
    policy: ConversionPolicy,
    cap_table: Sequence[CapTableEntry | tuple[str, Decimal]] | None,
    fund_holder: str,
    *,
    is_base: bool,
) -> SensitivityCell:
    where = {
        "pre_money_valuation": financing_round.pre_money_valuation,
        "discount": policy.discount,
        "closed_on": financing_round.closed_on,
        "is_base": is_base,
    }
    try:
        result = compute_conversion(
            grant, financing_round, policy, cap_table, fund_holder=fund_holder
        )
    except NotQualifyingError as exc:
        failed = exc.result.failed_clauses
        return SensitivityCell(
            **where,
            refused_clause=failed[0].clause,
            reason_en="; ".join(c.message_en for c in failed),
            reason_zh="；".join(c.message_zh for c in failed),
        )
    except ConversionError as exc:
        return SensitivityCell(
            **where, refused_clause=exc.clause, reason_en=str(exc), reason_zh=str(exc)
        )
    with localcontext(_EXACT):
        stake = _percent_of(result.fund_units, result.post_round_units, FEN, ROUND_HALF_UP)
    return SensitivityCell(
        **where,
        fund_units=result.fund_units,
        fund_stake=stake,
        fund_stake_display=result.fund_stake_display,
        conversion_price_display=result.conversion_price_display,
        converting_amount=result.converting_amount,
        converted_amount=result.converted_amount,
        is_stake_capped=result.is_stake_capped,
        is_valuation_capped=result.is_valuation_capped,
    )
