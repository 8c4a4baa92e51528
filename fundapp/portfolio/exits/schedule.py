"""The instalment schedule of a deferred exit balance (R9.d, buy-backs): pure, no database.

An annuity: n level payments every m months at the periodic rate i = r x m / 12, where r is the
annual rate as a decimal fraction (the 1-year LPR in force on the transfer day, or the policy's
`instalment_rate`). The level payment is numpy_financial.pmt(i, n, -B), converted to Decimal and
rounded half-up to the fen. Each line's interest is the outstanding principal (the balance less
the principal of the earlier lines, in fen) x i, rounded half-up to the fen, so anyone can check a
line by hand; its principal is the payment less that interest. The last line's principal is what
is still outstanding (it takes the rounding difference), so the principals sum to the balance
exactly. (numpy_financial.ipmt/ppmt split the unrounded annuity; they agree with these lines to
the fen but, computing from an unrounded outstanding, are a fen off the hand check now and then.)
At rate 0 the balance is split in equal principals (the last takes the difference), no interest.
Instalment k is due k x m months after the transfer (clamped to the month end).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
FREQUENCIES = (1, 3, 6, 12)  # months between instalments
MAX_INSTALMENTS = 12


@dataclass(frozen=True)
class Line:
    number: int
    due_on: date
    principal: Decimal
    interest: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest


def _fen(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(FEN, rounding=ROUND_HALF_UP)


def periodic_rate(annual_rate: Decimal, months: int) -> Decimal:
    return annual_rate * months / 12


def due_dates(start_on: date, count: int, months: int) -> list[date]:
    from fundapp.portfolio.conversion.engine import add_months

    return [add_months(start_on, k * months) for k in range(1, count + 1)]


def build_schedule(balance: Decimal, annual_rate: Decimal, count: int, months: int,
                   start_on: date) -> list[Line]:
    """The schedule of `balance` paid in `count` instalments every `months` months from
    `start_on` (the transfer date) at `annual_rate`."""
    if count < 1:
        raise ValueError("at least one instalment")
    if months not in FREQUENCIES:
        raise ValueError(f"months must be one of {FREQUENCIES}")
    if balance < 0 or annual_rate < 0:
        raise ValueError("balance and rate must not be negative")
    dues = due_dates(start_on, count, months)
    rate = periodic_rate(annual_rate, months)
    level = payment(balance, annual_rate, count, months)
    lines = []
    outstanding = balance
    for k in range(1, count + 1):
        interest = (outstanding * rate).quantize(FEN, rounding=ROUND_HALF_UP)
        principal = outstanding if k == count else max(min(level - interest, outstanding), 0)
        lines.append(Line(k, dues[k - 1], principal, interest))
        outstanding -= principal
    return lines


def payment(balance: Decimal, annual_rate: Decimal, count: int, months: int) -> Decimal:
    """The level payment per period (numpy_financial.pmt), rounded half-up to the fen."""
    if annual_rate == 0 or balance == 0:
        return (balance / count).quantize(FEN, rounding=ROUND_HALF_UP)
    import numpy_financial as npf  # floats only inside the call

    return _fen(npf.pmt(float(periodic_rate(annual_rate, months)), count, -float(balance)))
