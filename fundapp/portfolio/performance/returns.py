"""Performance of the fund and its holdings: XIRR, multiples and public-market equivalents.

Pure maths: no Flask, no database. Money is ``Decimal`` in and out; floats live only inside the
root finder, whose answer is turned back into ``Decimal`` and checked by XNPV before anyone sees it.

Conventions (``docs/metrics.md``), written on every report that shows these numbers:

* cash flows are seen from the fund's side: outflows (grants disbursed, investments, fees) are
  negative, inflows (refunds, exit proceeds, dividends) positive, NAV is a positive terminal flow;
* flows on the same date are netted before solving;
* XIRR uses actual/365 fixed, like Excel's XIRR and pyxirr's default;
* a since-inception rate over less than a year is reported but not annualised (GIPS).

Choices the rule book leaves open, made here:

* Multiples (DPI, RVPI, TVPI, PIC) and KS-PME use *gross* flows: a disbursement and a refund on the
  same day count as paid-in and distributed, as ILPA reports them. Only rates net flows by day, which
  cannot change a rate.
* Days whose flows net to zero are kept: a zero flow still marks a date (e.g. the as-of date of a
  holding carried at zero), which fixes the span of the period.
* The not-annualised rate for a span under 365 days is the money-weighted holding-period return:
  the ``r`` solving ``Σ CFᵢ / (1 + r)^((dᵢ − d₀) / span) = 0``, i.e. the XIRR de-annualised over
  the span, ``(1 + XIRR)^(span/365) − 1``.
* When several rates solve XNPV = 0 there is no IRR: the result says so and lists the candidates
  rather than picking whichever one a Newton iteration happens to reach.

How a rate is found (fast, and never by guessing between several roots): ``irr.py``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import numpy_financial as npf

from fundapp.portfolio.performance.irr import (
    _MAX_GROWTH_FACTOR,
    _MIN_RATE,
    _RESIDUAL_TOLERANCE,
    DAYS_PER_YEAR,
    CashFlow,
    IrrResult,
    _changes_sign,
    _discounted,
    _irr,
    _rate_from_log_growth,
    _solve,
    irr_batch,
    net_by_day,
)

__all__ = [
    "DAYS_PER_YEAR",
    "CashFlow",
    "FundMetrics",
    "IrrResult",
    "direct_alpha",
    "dpi",
    "fund_metrics",
    "irr_batch",
    "ks_pme",
    "MirrResult",
    "mirr",
    "mirr_batch",
    "moic",
    "net_by_day",
    "quarterly_irr",
    "periodic_irr",
    "pic",
    "rvpi",
    "since_inception_irr",
    "solve_xirr",
    "tvpi",
    "xirr",
    "xnpv",
]


@dataclass(frozen=True)
class FundMetrics:
    """Since-inception figures of a fund (or of one holding) as of a date."""

    as_of: date
    paid_in_amount: Decimal
    distributed_amount: Decimal
    nav_amount: Decimal
    committed_amount: Decimal
    dpi: Decimal | None
    rvpi: Decimal | None
    tvpi: Decimal | None
    pic: Decimal | None
    irr: IrrResult


def xnpv(rate: Decimal, flows: Iterable[CashFlow]) -> Decimal:
    """Net present value at the earliest flow's date; rate as a decimal fraction per year."""
    netted = net_by_day(flows)
    if not netted:
        return Decimal(0)
    first = netted[0].on
    value, _ = _discounted(
        rate,
        [Decimal((flow.on - first).days) / DAYS_PER_YEAR for flow in netted],
        [flow.amount for flow in netted],
    )
    return value


# --------------------------------------------------------------------------------------------
# Rates


def solve_xirr(flows: Iterable[CashFlow]) -> IrrResult:
    """XIRR (actual/365 fixed) as an annual rate whatever the span, like Excel and pyxirr."""
    return _irr(list(flows), annualise_short_periods=True)


def xirr(flows: Iterable[CashFlow]) -> Decimal | None:
    """XIRR as a decimal fraction per year, or None when there is no single verified rate."""
    return solve_xirr(flows).rate


def since_inception_irr(flows: Iterable[CashFlow]) -> IrrResult:
    """The rate a report shows: XIRR, or under 365 days the holding-period return (GIPS)."""
    return _irr(list(flows), annualise_short_periods=False)


def periodic_irr(amounts: Sequence[Decimal]) -> Decimal | None:
    """IRR per period of equally spaced flows (e.g. a quarterly series), or None.

    numpy_financial.irr solves the same equation, but it silently picks the root nearest zero when
    there are several; going through the same solver as XIRR keeps one policy for every rate.
    """
    if len(amounts) < 2 or not _changes_sign(amounts):
        return None
    solution = _solve(range(len(amounts)), amounts, math.log(_MAX_GROWTH_FACTOR))
    if solution.reason is not None:
        return None
    rate = _rate_from_log_growth(Decimal(solution.roots[0]))
    if rate <= _MIN_RATE:
        return None
    _, residual = _discounted(rate, [Decimal(index) for index in range(len(amounts))], amounts)
    return rate if residual <= _RESIDUAL_TOLERANCE else None


def quarterly_irr(amounts: Sequence[Decimal]) -> Decimal | None:
    """IRR per quarter of a quarterly net cash-flow series by ``numpy_financial.irr``: the figure
    supervisors reconcile with a spreadsheet's IRR(); None where it is not one verified rate.

    numpy_financial.irr is fragile where there is no single answer: without a sign change it
    returns nan (or nothing useful), and with several roots it silently returns the one nearest
    zero. So it is asked only when the series changes sign, and its answer is kept only when
    the XIRR solver (which proves a root unique) finds the same rate and NPV at it is nil.
    """
    values = [Decimal(a) for a in amounts]
    if len(values) < 2 or not _changes_sign(values):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        found = npf.irr(np.array([float(v) for v in values]))
    if found is None or not math.isfinite(found) or found <= float(_MIN_RATE):
        return None
    proved = periodic_irr(values)
    if proved is None or abs(float(proved) - found) > 1e-9 * max(1.0, abs(found)):
        return None
    rate = Decimal(repr(found))
    _, residual = _discounted(rate, [Decimal(i) for i in range(len(values))], values)
    return rate if residual <= _RESIDUAL_TOLERANCE else None


# --------------------------------------------------------------------------------------------
# MIRR


@dataclass(frozen=True)
class MirrResult:
    """A modified IRR, or the reason there is none.

    ``rate`` is a decimal fraction: per year when ``annualised``, else over the whole span
    (GIPS: periods under a year are not annualised, like the IRR).
    """

    rate: Decimal | None
    reason: str | None
    annualised: bool
    span_days: int


def mirr_batch(days: np.ndarray, amounts: np.ndarray, starts: np.ndarray,
               finance_rate: Decimal, reinvest_rate: Decimal) -> list[MirrResult]:
    """MIRR of many groups of dated flows at once (actual/365, like XIRR).

    Group g is ``days[starts[g]:starts[g + 1]]`` (date ordinals, ascending, netted per day; the
    last day is the terminal date, NAV included) with ``amounts`` in any one unit. Outflows are
    discounted to the first day at the finance rate, inflows compounded to the last day at the
    reinvestment rate (rates as decimal fractions per year):

        MIRR = (FV of inflows / PV of outflows) ^ (365 / days) - 1

    exactly what ``numpy_financial.mirr`` gives on the group's daily series at the daily rates
    (1 + rate)^(1/365) - 1, annualised; one closed form, so never several answers. It is
    computed here for every group in one pass because calling numpy_financial.mirr on thousands
    of daily series takes longer than the whole performance summary (tests check the two agree).
    """
    days = np.asarray(days, dtype=np.int64)
    count = len(starts)
    if count == 0:
        return []
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.append(starts[1:], len(days))
    seg = np.repeat(np.arange(count), ends - starts)
    first, last = days[starts], days[ends - 1]
    values = np.asarray(amounts, dtype=np.float64)
    f, r = float(finance_rate), float(reinvest_rate)
    from_first = (days - first[seg]) / DAYS_PER_YEAR
    to_last = (last[seg] - days) / DAYS_PER_YEAR
    with np.errstate(all="ignore"):
        present = np.bincount(seg, weights=np.where(values < 0, -values * (1 + f) ** -from_first,
                                                    0.0), minlength=count)
        future = np.bincount(seg, weights=np.where(values > 0, values * (1 + r) ** to_last, 0.0),
                             minlength=count)
    span = last - first
    out = []
    for g in range(count):
        if present[g] <= 0 or future[g] <= 0:
            out.append(MirrResult(None, "no MIRR: the flows do not change sign", False,
                                  int(span[g])))
            continue
        if span[g] <= 0:
            out.append(MirrResult(None, "no MIRR: every flow is on one day", False, 0))
            continue
        growth = future[g] / present[g]
        annualised = bool(span[g] >= DAYS_PER_YEAR)
        with np.errstate(all="ignore"):
            rate = growth ** (DAYS_PER_YEAR / span[g]) - 1 if annualised else growth - 1
        if not math.isfinite(rate):
            out.append(MirrResult(None, "no MIRR: beyond what can be shown", annualised,
                                  int(span[g])))
            continue
        out.append(MirrResult(Decimal(repr(float(rate))), None, annualised, int(span[g])))
    return out


def mirr(flows: Iterable[CashFlow], finance_rate: Decimal, reinvest_rate: Decimal) -> MirrResult:
    """MIRR of one group of dated flows (NAV included as the last flow); see ``mirr_batch``."""
    netted = net_by_day(flows)
    if not netted:
        return MirrResult(None, "no MIRR: no cash flows yet", False, 0)
    return mirr_batch(np.array([f.on.toordinal() for f in netted]),
                      np.array([float(f.amount) for f in netted]), np.array([0]),
                      finance_rate, reinvest_rate)[0]


# --------------------------------------------------------------------------------------------
# Multiples


def dpi(distributed: Decimal, paid_in: Decimal) -> Decimal | None:
    """Distributions to paid-in, D / C; None before anything is paid in."""
    return _ratio(distributed, paid_in, "distributed", "paid_in")


def rvpi(nav: Decimal, paid_in: Decimal) -> Decimal | None:
    """Residual value to paid-in, NAV / C."""
    return _ratio(nav, paid_in, "nav", "paid_in")


def tvpi(distributed: Decimal, nav: Decimal, paid_in: Decimal) -> Decimal | None:
    """Total value to paid-in, (D + NAV) / C."""
    _require_non_negative(distributed=distributed, nav=nav)
    return _ratio(distributed + nav, paid_in, "distributed + nav", "paid_in")


def pic(paid_in: Decimal, committed: Decimal) -> Decimal | None:
    """Paid-in to committed capital, C / K."""
    return _ratio(paid_in, committed, "paid_in", "committed")


def moic(realised: Decimal, unrealised: Decimal, invested: Decimal) -> Decimal | None:
    """Multiple on invested capital of a holding: (realised + unrealised) / invested."""
    _require_non_negative(realised=realised, unrealised=unrealised)
    return _ratio(realised + unrealised, invested, "realised + unrealised", "invested")


def fund_metrics(
    flows: Iterable[CashFlow],
    nav: Decimal,
    committed: Decimal,
    *,
    as_of: date | None = None,
) -> FundMetrics:
    """Paid-in, distributions, NAV, the multiples and the since-inception IRR.

    ``flows`` exclude NAV; NAV enters the IRR as a terminal inflow on ``as_of`` (default: the
    latest flow's date).
    """
    flow_list = list(flows)
    as_of = _as_of(flow_list, as_of)
    _require_non_negative(nav=nav, committed=committed)
    paid_in = -sum((flow.amount for flow in flow_list if flow.amount < 0), Decimal(0))
    distributed = sum((flow.amount for flow in flow_list if flow.amount > 0), Decimal(0))
    return FundMetrics(
        as_of=as_of,
        paid_in_amount=paid_in,
        distributed_amount=distributed,
        nav_amount=nav,
        committed_amount=committed,
        dpi=dpi(distributed, paid_in),
        rvpi=rvpi(nav, paid_in),
        tvpi=tvpi(distributed, nav, paid_in),
        pic=pic(paid_in, committed),
        irr=since_inception_irr([*flow_list, CashFlow(as_of, nav)]),
    )


# --------------------------------------------------------------------------------------------
# Public-market equivalents


def ks_pme(
    flows: Iterable[CashFlow],
    nav: Decimal,
    index_levels: Mapping[date, Decimal],
    *,
    as_of: date | None = None,
) -> Decimal | None:
    """Kaplan–Schoar PME: (Σ Dₜ·I_T/Iₜ + NAV_T) / Σ Cₜ·I_T/Iₜ; None without contributions.

    Above 1 the fund beat the index. ``as_of`` (T) defaults to the latest flow's date; the index
    needs a positive level on every flow date and on T.
    """
    flow_list = list(flows)
    as_of = _as_of(flow_list, as_of)
    _require_non_negative(nav=nav)
    growth = _growth_to(as_of, flow_list, index_levels)
    contributed = -sum((f.amount * growth[f.on] for f in flow_list if f.amount < 0), Decimal(0))
    distributed = sum((f.amount * growth[f.on] for f in flow_list if f.amount > 0), Decimal(0))
    if contributed == 0:
        return None
    return (distributed + nav) / contributed


def direct_alpha(
    flows: Iterable[CashFlow],
    nav: Decimal,
    index_levels: Mapping[date, Decimal],
    *,
    as_of: date | None = None,
) -> IrrResult:
    """Direct Alpha (Gredil–Griffiths–Stucke): XIRR of the flows compounded to T by the index,
    with NAV added at T; an annual rate of out- (positive) or under-performance.
    """
    flow_list = list(flows)
    as_of = _as_of(flow_list, as_of)
    _require_non_negative(nav=nav)
    growth = _growth_to(as_of, flow_list, index_levels)
    compounded = [CashFlow(flow.on, flow.amount * growth[flow.on]) for flow in flow_list]
    return solve_xirr([*compounded, CashFlow(as_of, nav)])


# --------------------------------------------------------------------------------------------
# Internals: validation


def _ratio(
    numerator: Decimal, denominator: Decimal, numerator_name: str, denominator_name: str
) -> Decimal | None:
    _require_non_negative(**{numerator_name: numerator, denominator_name: denominator})
    if denominator == 0:
        return None
    return numerator / denominator


def _require_non_negative(**amounts: Decimal) -> None:
    # Multiples take magnitudes; a negative one is almost always a flow passed with its sign.
    for name, amount in amounts.items():
        if amount < 0:
            raise ValueError(f"{name} must not be negative, got {amount}")


def _as_of(flows: Sequence[CashFlow], as_of: date | None) -> date:
    if as_of is None:
        if not flows:
            raise ValueError("as_of is required when there are no cash flows")
        return max(flow.on for flow in flows)
    late = [flow.on for flow in flows if flow.on > as_of]
    if late:
        raise ValueError(f"cash flow on {min(late).isoformat()} is after as_of {as_of.isoformat()}")
    return as_of


def _growth_to(
    as_of: date, flows: Sequence[CashFlow], index_levels: Mapping[date, Decimal]
) -> dict[date, Decimal]:
    """I_T / Iₜ for every flow date t, checking each level the calculation uses."""
    final = _index_level(index_levels, as_of)
    return {flow.on: final / _index_level(index_levels, flow.on) for flow in flows}


def _index_level(index_levels: Mapping[date, Decimal], on: date) -> Decimal:
    try:
        level = index_levels[on]
    except KeyError:
        raise ValueError(f"index has no level for {on.isoformat()}") from None
    if level <= 0:
        raise ValueError(f"index level for {on.isoformat()} must be positive, got {level}")
    return level
