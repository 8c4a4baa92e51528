"""Performance of the fund and its holdings: XIRR, multiples and public-market equivalents.

Pure maths: no Flask, no database. Money is ``Decimal`` in and out; floats live only inside the
root finder, whose answer is turned back into ``Decimal`` and checked by XNPV before anyone sees it.

Conventions (``shared/domain/metrics.md``), written on every report that shows these numbers:

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
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

import numpy as np

DAYS_PER_YEAR = 365  # actual/365 fixed: leap days count, the year does not get longer

# Below this a rate cannot be written down precisely enough to pass the XNPV check (1 + rate would
# need hundreds of digits) and no report could show it: such a result is "no IRR".
_MIN_RATE = Decimal("-0.999999")
# The root search brackets the growth factor g (per day for dated flows, per period for equally
# spaced ones) between 1/G and G, symmetric in log, and always the growth between the first and
# the last flow between e^-700 and e^700. A millionfold a day covers every annual rate an annual
# bracket (-0.999999, 1e6) would, and also a one-week period or a stake repaid the day after it
# was paid. The scaled evaluation below keeps every exponent <= 0, so width costs no overflow.
_MAX_DAILY_GROWTH_FACTOR = 1e6
_MAX_GROWTH_FACTOR = 1e6 + 1  # per period: 1 + the largest rate per period
_MIN_SPAN_LOG_GROWTH = 700.0
_GRID_POINTS = 4001
_MAX_ITERATIONS = 200
# A rate is accepted only when |XNPV| is this small relative to Σ|discounted flows|.
_RESIDUAL_TOLERANCE = 1e-9
_WORKING_PRECISION = 34  # digits for the Decimal side of the check (IEEE decimal128)
_RATE_DIGITS = 17  # significant digits kept in a returned rate: what a float root carries


@dataclass(frozen=True)
class CashFlow:
    """One dated cash flow from the fund's side: outflows negative, inflows positive."""

    on: date
    amount: Decimal


@dataclass(frozen=True)
class IrrResult:
    """A money-weighted return, or the reason there is none.

    ``rate`` is a decimal fraction: per year when ``annualised``, else over the whole span.
    """

    rate: Decimal | None
    reason: str | None
    annualised: bool
    span_days: int
    # The rates that solve XNPV = 0 when there are several (then ``rate`` is None).
    candidates: tuple[Decimal, ...] = ()
    # How the number was obtained, in words a report can print.
    steps: tuple[str, ...] = ()


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


# --------------------------------------------------------------------------------------------
# Cash flows


def net_by_day(flows: Iterable[CashFlow]) -> list[CashFlow]:
    """Net flows on the same date, sorted by date; days that net to zero are kept."""
    totals: defaultdict[date, Decimal] = defaultdict(Decimal)
    for flow in flows:
        totals[flow.on] += flow.amount
    return [CashFlow(on, totals[on]) for on in sorted(totals)]


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
# Internals: the solver


@dataclass(frozen=True)
class _Solution:
    # Roots as ln(growth factor) per unit of offset: per day for dated flows, per period else.
    roots: tuple[float, ...]
    reason: str | None
    steps: tuple[str, ...]


def _irr(flows: list[CashFlow], *, annualise_short_periods: bool) -> IrrResult:
    netted = net_by_day(flows)
    steps = [f"{len(flows)} cash flows netted into {len(netted)} dates"]
    span_days = (netted[-1].on - netted[0].on).days if netted else 0
    annualised = annualise_short_periods or span_days >= DAYS_PER_YEAR

    def no_irr(reason: str, candidates: tuple[Decimal, ...] = ()) -> IrrResult:
        return IrrResult(None, reason, annualised, span_days, candidates, (*steps, reason))

    if len(netted) < 2:
        return no_irr("no IRR: needs cash flows on at least two dates")
    amounts = [flow.amount for flow in netted]
    if not _changes_sign(amounts):
        return no_irr("no IRR: the cash flows do not change sign")

    steps.append(
        f"span {span_days} day(s) = {Decimal(span_days) / DAYS_PER_YEAR:.4f} years"
        " (actual/365 fixed)"
    )
    offsets = [(flow.on - netted[0].on).days for flow in netted]
    solution = _solve(offsets, amounts, math.log(_MAX_DAILY_GROWTH_FACTOR))
    steps.extend(solution.steps)

    # A rate per year or over the whole span: the exponent of each flow's discount factor differs.
    days_per_period = DAYS_PER_YEAR if annualised else span_days
    exponents = [Decimal(offset) / days_per_period for offset in offsets]
    rates = tuple(_rate_from_log_growth(Decimal(root) * days_per_period) for root in solution.roots)
    if solution.reason is not None:
        return no_irr(solution.reason, rates if len(rates) > 1 else ())

    rate = rates[0]
    if rate <= _MIN_RATE and annualised:
        return no_irr(
            f"no IRR: the annualised rate is below {_MIN_RATE:.4%} and not meaningful;"
            " the return over the whole period is "
            f"{_rate_from_log_growth(Decimal(solution.roots[0]) * span_days):.4%}"
        )
    if rate <= _MIN_RATE:
        return no_irr(f"no IRR: the return is below {_MIN_RATE:.4%}, a total loss")
    _, residual = _discounted(rate, exponents, amounts)
    if residual > _RESIDUAL_TOLERANCE:
        return no_irr(f"no IRR: the solver's rate fails the XNPV check (residual {residual:.1e})")
    steps.append(f"check: |XNPV| at the rate = {residual:.1e} × Σ|discounted flows|")
    steps.append(
        "annual rate, actual/365 fixed"
        if annualised
        else "rate over the whole period, not annualised: the period is under one year (GIPS)"
    )
    return IrrResult(rate, None, annualised, span_days, (), tuple(steps))


def _solve(
    offsets: Iterable[int], amounts: Sequence[Decimal], max_log_growth_per_unit: float
) -> _Solution:
    """Roots of Σ cᵢ·g^(−offsetᵢ) = 0 as ln g, the log growth per unit of offset (day or period).

    ``offsets`` ascend; the amounts change sign.
    """
    # Zero flows add nothing, and leaving them out lets the scaling below put a non-zero flow at
    # each end of the span, so the scaled sum cannot underflow to a false zero.
    pairs = [(offset, amount) for offset, amount in zip(offsets, amounts, strict=True) if amount]
    start, span = pairs[0][0], pairs[-1][0] - pairs[0][0]
    taus = [(offset - start) / span for offset, _ in pairs]
    normalised = _normalised([amount for _, amount in pairs])
    # Scan first, then refine each bracket: a scan is what lets us say "no IRR" or "several IRRs"
    # instead of returning whichever root a Newton iteration from a guess happens to reach.
    # Working in u (log growth over the span) makes the bracket independent of the span's length.
    bound = max(_MIN_SPAN_LOG_GROWTH, max_log_growth_per_unit * span)
    tau_array = np.asarray(taus, dtype=float)
    amount_array = np.asarray(normalised, dtype=float)
    # sinh spacing: steps under 0.01 in u near zero, where real funds' rates and any pair of
    # close roots live, widening in proportion to |u| far out; the middle point is exactly 0.
    edge = math.asinh(bound)
    grid = np.sinh(np.linspace(-edge, edge, _GRID_POINTS))
    signs = np.sign(_scaled_npv_on_grid(grid, tau_array, amount_array))

    roots: list[float] = []
    for index in range(_GRID_POINTS):
        if signs[index] == 0:
            roots.append(float(grid[index]))
        elif index + 1 < _GRID_POINTS and signs[index] * signs[index + 1] < 0:
            root = _refine(float(grid[index]), float(grid[index + 1]), taus, normalised)
            if root is None:
                return _Solution((), "no IRR: the solver did not converge", ())
            roots.append(root)
    steps = (
        f"scanned {_GRID_POINTS} rates (growth from the first to the last non-zero flow between"
        f" e^-{bound:.0f} and e^{bound:.0f}) for a change of sign of XNPV: {len(roots)} found",
        "refined by Newton's method, falling back to bisection when a step leaves the bracket",
    )
    if not roots:
        return _Solution((), "no IRR: no rate in the searched range makes XNPV zero", steps)
    per_unit = tuple(root / span for root in roots)
    if len(roots) > 1:
        return _Solution(per_unit, "no IRR: several rates make XNPV zero", steps)
    _, _, residual = _scaled_npv(roots[0], taus, normalised)
    if residual > _RESIDUAL_TOLERANCE:
        return _Solution((), "no IRR: the solver's root fails the XNPV check", steps)
    return _Solution(per_unit, None, steps)


def _scaled_npv_on_grid(grid: np.ndarray, taus: np.ndarray, amounts: np.ndarray) -> np.ndarray:
    # Σ cᵢ·exp(−u·τᵢ), divided by the largest discount factor exp(max(0, −u)) so that nothing
    # overflows; dividing by a positive number keeps the sign, which is all the scan needs.
    shift = np.maximum(0.0, -grid)
    return np.exp(-np.outer(grid, taus) - shift[:, None]) @ amounts


def _scaled_npv(
    u: float, taus: Sequence[float], amounts: Sequence[float]
) -> tuple[float, float, float]:
    """(value, slope, |value| / Σ|terms|) of the scaled XNPV in u; fsum for the cancellation."""
    shift = max(0.0, -u)
    terms = [amount * math.exp(-u * tau - shift) for tau, amount in zip(taus, amounts, strict=True)]
    value = math.fsum(terms)
    slope = -math.fsum(tau * term for tau, term in zip(taus, terms, strict=True))
    magnitude = math.fsum(abs(term) for term in terms)
    return value, slope, abs(value) / magnitude if magnitude else math.inf


def _refine(
    low: float, high: float, taus: Sequence[float], amounts: Sequence[float]
) -> float | None:
    # Newton safeguarded by bisection (Numerical Recipes' rtsafe): take the Newton step when it
    # lands inside the bracket and at least halves the previous step, else bisect. The bracket
    # shrinks every iteration, so this cannot wander off to another root or diverge.
    low_value = _scaled_npv(low, taus, amounts)[0]
    u = 0.5 * (low + high)
    previous_step = abs(high - low)
    for _ in range(_MAX_ITERATIONS):
        value, slope, _ = _scaled_npv(u, taus, amounts)
        if value == 0.0:
            return u
        if (value < 0) == (low_value < 0):
            low, low_value = u, value
        else:
            high = u
        newton = u - value / slope if slope != 0.0 else math.nan
        inside = min(low, high) < newton < max(low, high)
        if inside and abs(newton - u) <= 0.5 * previous_step:
            step = abs(newton - u)
            u_next = newton
        else:
            u_next = 0.5 * (low + high)
            step = abs(u_next - u)
        if step <= 4 * math.ulp(max(1.0, abs(u))) or u_next == u:
            return u_next
        previous_step, u = step, u_next
    return None


# --------------------------------------------------------------------------------------------
# Internals: Decimal side


def _discounted(
    rate: Decimal, exponents: Sequence[Decimal], amounts: Sequence[Decimal]
) -> tuple[Decimal, Decimal]:
    """(Σ cᵢ / (1 + rate)^eᵢ, |that| / Σ |cᵢ| / (1 + rate)^eᵢ) in Decimal."""
    if rate <= -1:
        raise ValueError(f"rate must be above -1 (-100 %), got {rate}")
    with localcontext() as context:
        context.prec = _WORKING_PRECISION
        factor = 1 + rate
        discounted = [
            amount / factor**exponent for exponent, amount in zip(exponents, amounts, strict=True)
        ]
        value = sum(discounted, Decimal(0))
        magnitude = sum((abs(term) for term in discounted), Decimal(0))
        residual = abs(value) / magnitude if magnitude else Decimal(0)
    return +value, residual


def _rate_from_log_growth(log_growth: Decimal) -> Decimal:
    # exp in Decimal, not float: a rate near -1 or beyond 1e308 stays exact enough to check.
    with localcontext() as context:
        context.prec = _WORKING_PRECISION
        rate = log_growth.exp() - 1
        context.prec = _RATE_DIGITS
        return +rate


def _normalised(amounts: Sequence[Decimal]) -> list[float]:
    # Scale so the largest flow is ±1 before leaving Decimal: the roots do not change, and no
    # amount overflows or loses its sign as a float.
    scale = max(abs(amount) for amount in amounts)
    with localcontext() as context:
        context.prec = _WORKING_PRECISION
        return [float(amount / scale) for amount in amounts]


def _changes_sign(amounts: Iterable[Decimal]) -> bool:
    amounts = list(amounts)
    return any(amount < 0 for amount in amounts) and any(amount > 0 for amount in amounts)


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
