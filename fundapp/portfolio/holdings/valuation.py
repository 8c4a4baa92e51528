"""Pure calculations of marks, exits and index series: no Flask, no database.

* Index series (PME): a CSV of (date, level); levels must be positive and dates strictly
  ascending without gaps. A gap is an interval longer than the series' own rhythm allows: the
  median interval says whether it is daily (≤ 7 days: gaps over 14 days, which lets the Spring
  Festival and National Day closures through), weekly (≤ 10: over 21), monthly (≤ 45: over 45)
  or quarterly (over 100). Errors name the row (1-based, header included) and the field.
* A flow date between two levels takes the last level published on or before it.
* R9 (exchange exit) and R7 (buy-back) checks return the clause that refuses, with the numbers.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from fundapp.portfolio.performance import returns
from fundapp.textfiles import NotText, decode_csv

FEN = Decimal("0.01")


class InputProblem(ValueError):
    """Bad input: `field` names the field (or "row N: field"), `message` says what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RuleProblem(ValueError):
    def __init__(self, rule: str, field: str, message: str, **numbers: Any) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.field = field
        self.message = message
        self.numbers = numbers


# --------------------------------------------------------------------------- index series


def _max_gap(median_days: float) -> int:
    if median_days <= 7:
        return 14
    if median_days <= 10:
        return 21
    if median_days <= 45:
        return 45
    return 100


def parse_index_csv(content: bytes) -> list[tuple[date, Decimal]]:
    """Rows of "date,level" (a header row is optional) in UTF-8 or GBK; InputProblem names the
    first bad row."""
    try:
        text = decode_csv(content)
    except NotText as exc:
        raise InputProblem("file", str(exc.message)) from None
    rows = [r for r in csv.reader(io.StringIO(text))]
    points: list[tuple[date, Decimal, int]] = []
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if number == 1 and cells and not cells[0][:1].isdigit():
            continue  # header
        if len(cells) < 2:
            raise InputProblem(f"row {number}: level", "the row needs a date and a level")
        try:
            day = date.fromisoformat(cells[0])
        except ValueError:
            raise InputProblem(f"row {number}: date",
                               f"{cells[0]!r} is not a date (YYYY-MM-DD)") from None
        if not cells[1]:
            raise InputProblem(f"row {number}: level", "the level is missing (a gap)")
        try:
            level = Decimal(cells[1].replace(",", ""))
        except InvalidOperation:
            raise InputProblem(f"row {number}: level",
                               f"{cells[1]!r} is not a number") from None
        if not level.is_finite() or level <= 0:
            raise InputProblem(f"row {number}: level",
                               f"the level must be positive, got {cells[1]}")
        if level != level.quantize(Decimal("0.000001")):
            level = level.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
        if points and day <= points[-1][0]:
            raise InputProblem(f"row {number}: date",
                               f"{day} is not after the previous row's {points[-1][0]}")
        points.append((day, level, number))
    if len(points) < 2:
        raise InputProblem("file", "the series needs at least two levels")
    intervals = [(b[0] - a[0]).days for a, b in zip(points, points[1:], strict=False)]
    limit = _max_gap(statistics.median(intervals))
    for (before, _, _), (day, _, number) in zip(points, points[1:], strict=False):
        if (day - before).days > limit:
            raise InputProblem(f"row {number}: date",
                               f"{(day - before).days} days after the previous level "
                               f"({before}): a gap longer than {limit} days in this series")
    return [(d, lv) for d, lv, _ in points]


def level_on(points: Sequence[tuple[date, Decimal]], on: date) -> Decimal:
    """The last level on or before `on` (points sorted by date)."""
    import bisect

    index = bisect.bisect_right(points, (on, Decimal("Infinity")))
    if index == 0:
        raise InputProblem("index", f"the index starts on {points[0][0]}, after {on}")
    return points[index - 1][1]


def pme_figures(name: str, points: Sequence[tuple[date, Decimal]],
                flows: Sequence[returns.CashFlow], nav: Decimal, as_of: date) -> dict[str, Any]:
    """Kaplan–Schoar PME and Direct Alpha of `flows` against the index, or the reason not."""
    out: dict[str, Any] = {"index": name, "ks_pme": None, "direct_alpha": None,
                           "direct_alpha_note": "", "problem": ""}
    if not flows:
        out["problem"] = "no cash flows yet"
        return out
    try:
        needed = {f.on for f in flows} | {as_of}
        levels = {on: level_on(points, on) for on in needed}
        if points[-1][0] < as_of:
            out["index_last_on"] = points[-1][0]
        ks = returns.ks_pme(flows, nav, levels, as_of=as_of)
        alpha = returns.direct_alpha(flows, nav, levels, as_of=as_of)
    except ValueError as exc:
        out["problem"] = str(exc)
        return out
    out["ks_pme"] = None if ks is None else ks.quantize(Decimal("0.0001"))
    out["direct_alpha"] = None if alpha.rate is None else alpha.rate.quantize(
        Decimal("0.0000000001"))
    out["direct_alpha_note"] = alpha.reason or "annual rate"
    return out


# --------------------------------------------------------------------------- marks


def is_stale(measured_on: date | None, as_of: date, months: int = 6) -> bool:
    from fundapp.portfolio.conversion.engine import add_months

    return measured_on is None or measured_on < add_months(as_of, -months)


# --------------------------------------------------------------------------- exits


def pro_rata(amount: Decimal, units: Decimal, of_units: Decimal) -> Decimal:
    """`amount` × units / of_units, rounded half-up to fen (the principal or cost of a part)."""
    if units == of_units:
        return amount
    return (amount * units / of_units).quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ExchangeCheck:
    appraisal_value_amount: Decimal
    appraisal_base_on: date
    appraisal_valid_until: date
    reserve_price_amount: Decimal
    disclosure_working_days: int
    required_working_days: int
    is_relisting_below_90: bool
    down_payment_amount: Decimal
    balance_amount: Decimal
    balance_due_on: date | None

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, (Decimal, date)) else v)
                for k, v in self.__dict__.items()}


def check_exchange(*, transfer_on: date, price: Decimal, appraisal_value: Decimal | None,
                   appraisal_base_on: date | None, validity_months: int, reserve_price: Decimal,
                   disclosure_working_days: int, required_working_days: int,
                   is_relisting: bool, relisting_approval_ref: str,
                   down_payment: Decimal, balance_due_on: date | None) -> ExchangeCheck:
    """R9.a-d; raises RuleProblem naming the clause and the field."""
    from fundapp.portfolio.conversion.engine import add_months

    if appraisal_value is None or appraisal_base_on is None:
        raise RuleProblem("R9.a", "appraisal_id", "a filed appraisal of these units is needed")
    valid_until = add_months(appraisal_base_on, validity_months)
    if transfer_on > valid_until:
        raise RuleProblem("R9.a", "appraisal_id",
                          f"the appraisal (base date {appraisal_base_on}) was valid until "
                          f"{valid_until}", valid_until=valid_until)
    below_90 = reserve_price < (appraisal_value * Decimal("0.9"))
    if reserve_price < appraisal_value:
        if not is_relisting:
            raise RuleProblem("R9.b", "reserve_price_amount",
                              f"the reserve price {reserve_price:,} is below the filed "
                              f"appraisal {appraisal_value:,}")
        if below_90 and not relisting_approval_ref.strip():
            raise RuleProblem("R9.c", "relisting_approval_ref",
                              "relisting below 90% of the appraisal needs a written approval "
                              "reference")
    if disclosure_working_days < required_working_days:
        raise RuleProblem("R9.b", "disclosure_end_on",
                          f"disclosure lasted {disclosure_working_days} working days; at least "
                          f"{required_working_days} are required")
    if price < reserve_price:
        raise RuleProblem("R9.b", "price_amount",
                          f"the price {price:,} is below the reserve price {reserve_price:,}")
    if down_payment > price:
        raise RuleProblem("R9.d", "down_payment_amount", "the down payment exceeds the price")
    balance = price - down_payment
    if balance:
        if down_payment * 10 < price * 3:
            raise RuleProblem("R9.d", "down_payment_amount",
                              f"the down payment {down_payment:,} is below 30% of the price "
                              f"{price:,}")
        if balance_due_on is None or balance_due_on > add_months(transfer_on, 12):
            raise RuleProblem("R9.d", "balance_due_on",
                              "the balance must be due within one year of the transfer")
    return ExchangeCheck(appraisal_value, appraisal_base_on, valid_until, reserve_price,
                         disclosure_working_days, required_working_days, below_90,
                         down_payment, balance, balance_due_on if balance else None)
