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


# --------------------------------------------------------------------------- DCF marks


def N_(message: str) -> str:  # Babel's marker: extracted here, translated where it is shown
    return message


DCF_MAX_YEARS = 30
PER_UNIT = Decimal("0.000001")  # valuation_marks.value_per_unit holds 6 places
_MAX_AMOUNT = Decimal("10000000000000")  # fundapp.fields.MAX_AMOUNT: what the columns hold


@dataclass(frozen=True)
class DcfYear:
    year: int
    cash_flow: Decimal
    discount_factor: Decimal  # 1 / (1 + rate)^year, 6 places (shown; not used to sum)
    present_value: Decimal    # cash_flow / (1 + rate)^year, to the fen


@dataclass(frozen=True)
class DcfValue:
    """How a DCF mark's value per unit is reached, every figure as it is shown and stored."""

    years: tuple[DcfYear, ...]
    discount_rate: Decimal
    terminal_value: Decimal
    terminal_present_value: Decimal
    present_value: Decimal        # numpy_financial.npv of the flows (terminal value included)
    net_debt: Decimal
    equity_value: Decimal         # present_value - net_debt, to the fen; may be negative
    units_outstanding: Decimal
    value_per_unit: Decimal       # max(equity_value, 0) / units_outstanding, 6 places

    def to_inputs(self) -> dict[str, Any]:
        """The mark's stored inputs: decimals as strings, so the page shows what was computed."""
        return {
            "cash_flows": [str(y.cash_flow) for y in self.years],
            "discount_rate": str(self.discount_rate),
            "terminal_value": str(self.terminal_value),
            "net_debt": str(self.net_debt),
            "units_outstanding": str(self.units_outstanding),
            "discount_factors": [str(y.discount_factor) for y in self.years],
            "present_values": [str(y.present_value) for y in self.years],
            "terminal_present_value": str(self.terminal_present_value),
            "present_value": str(self.present_value),
            "equity_value": str(self.equity_value),
            "value_per_unit": str(self.value_per_unit),
            "formula": "numpy_financial.npv(discount_rate, [0, cf1, ..., cfN + terminal_value])"
                       " - net_debt",
        }


def _amount(value: Any, field: str, message: str) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InputProblem(field, message) from None
    if not number.is_finite() or abs(number) >= _MAX_AMOUNT:
        raise InputProblem(field, message)
    return number


def _fen(amount: Decimal) -> Decimal:
    return amount.quantize(FEN, rounding=ROUND_HALF_UP) + 0  # + 0: never "-0.00"


def dcf_value(*, cash_flows: Sequence[Decimal], discount_rate: Decimal,
              units_outstanding: Decimal, terminal_value: Decimal = Decimal(0),
              net_debt: Decimal = Decimal(0)) -> DcfValue:
    """The equity value and value per unit of a company from its forecast cash flows to equity.

    cash_flows are years 1..N (at least 1, at most DCF_MAX_YEARS; a year may be negative), the
    terminal value is at year N. numpy_financial.npv discounts index 0 by (1 + rate)^0, so the
    flows are given to it after a 0 for today:
        equity value = npv(rate, [0, cf1, ..., cfN + terminal]) - net debt  (half-up, fen)
        value per unit = max(equity value, 0) / units outstanding          (half-up, 6 places)
    Raises InputProblem naming the field ("cash_flows", "discount_rate", "terminal_value",
    "net_debt", "units_outstanding") with a message to translate (N_).
    """
    import numpy_financial as npf

    if not cash_flows:
        raise InputProblem("cash_flows", N_("Enter at least one year's forecast cash flow."))
    if len(cash_flows) > DCF_MAX_YEARS:
        raise InputProblem("cash_flows", N_("Enter at most 30 years of forecast cash flows."))
    flows = [_amount(cf, "cash_flows", N_("Each forecast cash flow must be an amount in CNY, "
                                          "such as 1500000.00."))
             for cf in cash_flows]
    if any(cf != cf.quantize(FEN) for cf in flows):
        raise InputProblem("cash_flows", N_("At most 2 decimal places (fen)."))
    flows = [cf.quantize(FEN) for cf in flows]
    rate_problem = N_("The discount rate must be above zero and below one hundred per cent.")
    rate = _amount(discount_rate, "discount_rate", rate_problem)
    if not Decimal(0) < rate < Decimal(1):
        raise InputProblem("discount_rate", rate_problem)
    terminal = _amount(terminal_value, "terminal_value",
                       N_("The terminal value must be an amount of 0 or more."))
    if terminal < 0 or terminal != terminal.quantize(FEN):
        raise InputProblem("terminal_value",
                           N_("The terminal value must be an amount of 0 or more."))
    terminal = terminal.quantize(FEN)
    debt = _amount(net_debt, "net_debt", N_("The net debt must be an amount in CNY."))
    if debt != debt.quantize(FEN):
        raise InputProblem("net_debt", N_("At most 2 decimal places (fen)."))
    debt = debt.quantize(FEN)
    units = _amount(units_outstanding, "units_outstanding",
                    N_("The company's units outstanding must be more than 0."))
    if units <= 0:
        raise InputProblem("units_outstanding",
                           N_("The company's units outstanding must be more than 0."))

    found = npf.npv(float(rate), [0.0, *(float(cf) for cf in flows[:-1]),
                                  float(flows[-1] + terminal)])
    present = _fen(Decimal(repr(float(found))))
    equity = present - debt + 0  # + 0: never "-0.00"
    per_unit = (max(equity, Decimal(0)) / units).quantize(PER_UNIT, rounding=ROUND_HALF_UP)
    if per_unit >= _MAX_AMOUNT:
        raise InputProblem("units_outstanding",
                           N_("The value per unit would be too large: check the company's "
                              "units outstanding."))
    growth = 1 + rate
    years = tuple(DcfYear(t, cf, (1 / growth ** t).quantize(PER_UNIT, rounding=ROUND_HALF_UP),
                          _fen(cf / growth ** t))
                  for t, cf in enumerate(flows, start=1))
    terminal_pv = _fen(terminal / growth ** len(flows))
    return DcfValue(years=years, discount_rate=rate, terminal_value=terminal,
                    terminal_present_value=terminal_pv, present_value=present, net_debt=debt,
                    equity_value=equity, units_outstanding=units, value_per_unit=per_unit)
