"""R7 and R8: amounts that accrue at a reference rate: the team buy-back floor price (R7.b) with
its optional return cap (R7.c), and the penalty interest of a recovery (R8.c)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from fundapp.portfolio.conversion.engine.exact import (
    _DAYS_PER_YEAR,
    _EXACT,
    FEN,
    ConversionError,
    _coerce,
    _day,
    _decimal,
    _div_round,
    _money,
    _non_negative_int,
    _plain,
    add_months,
)
from fundapp.portfolio.conversion.engine.inputs import Disbursement
from fundapp.portfolio.conversion.engine.results import (
    BuybackFloorPrice,
    PenaltyInterest,
    PenaltyLine,
    Step,
)


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
