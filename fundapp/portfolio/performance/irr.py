"""The rate solver behind returns.py: XIRR of one or of many groups of dated flows at once.

Pure maths: no Flask, no database. Floats live only inside the root finder, whose answer is turned
back into ``Decimal`` and checked by XNPV before anyone sees it; when several rates solve
XNPV = 0 the result says so instead of picking one.

How a rate is found (fast, without giving up that promise):

1. Newton's method safeguarded by bisection, inside a bracket where XNPV changes sign, for many
   groups of flows at once (numpy; ``irr_batch``); the root is checked by XNPV.
2. Uniqueness is proved, not assumed: by Laguerre's rule of signs for generalised polynomials
   (Norström's criterion in finance, 1972), the number of rates above a pivot rate is at most the
   number of sign changes of the running totals of the flows discounted at the pivot, and the
   number below it at most that of the running totals taken from the last flow backwards. At the
   pivot 0 % this is exact integer/Decimal arithmetic on the flows themselves; when it does not
   settle the question, pivots just either side of the root found are tried.
3. Only when neither settles it (several sign changes of every running total) does the
   exhaustive scan below run, which finds every root in the bracket and reports "several rates".
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
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
_SCAN_BLOCK_TERMS = 1 << 20
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


# --------------------------------------------------------------------------------------------
# Cash flows


def net_by_day(flows: Iterable[CashFlow]) -> list[CashFlow]:
    """Net flows on the same date, sorted by date; days that net to zero are kept."""
    totals: defaultdict[date, Decimal] = defaultdict(Decimal)
    for flow in flows:
        totals[flow.on] += flow.amount
    return [CashFlow(on, totals[on]) for on in sorted(totals)]


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
    if len(netted) < 2 or not _changes_sign(flow.amount for flow in netted):
        return _irr_by_scan(netted, len(flows), annualise_short_periods=annualise_short_periods)
    first = netted[0].on
    nonzero = [flow for flow in netted if flow.amount]
    group = _Group(
        offsets=[(flow.on - first).days for flow in nonzero],
        floats=_normalised([flow.amount for flow in nonzero]),
        span_days=(netted[-1].on - first).days,
        flow_count=len(flows),
        date_count=len(netted),
        total_sign=_sign(sum((flow.amount for flow in nonzero), Decimal(0))),
        unique_at_zero=_running_total_changes(flow.amount for flow in nonzero) == 1,
    )
    return _solve_groups([group], annualise_short_periods, lambda _: netted)[0]


def irr_batch(
    days: np.ndarray,
    amounts: np.ndarray,
    starts: np.ndarray,
    *,
    flow_counts: Sequence[int] | None = None,
    annualise_short_periods: bool = False,
) -> list[IrrResult]:
    """Since-inception rates of many groups of flows at once, each exactly as ``_irr`` would give.

    Group g is ``days[starts[g]:starts[g + 1]]`` (date ordinals, strictly ascending: flows already
    netted per day) with ``amounts`` in whole minor units (e.g. fen, int64; a rate does not
    depend on the unit). ``annualise_short_periods`` False: the rate a report shows (GIPS).
    """
    days = np.asarray(days, dtype=np.int64)
    amounts = np.asarray(amounts, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    count = len(starts)
    if count == 0:
        return []
    ends = np.append(starts[1:], len(days))
    if int(np.abs(amounts).sum(dtype=np.float64)) >= 2**62:  # exact int64 sums impossible
        return [
            _irr(
                [CashFlow(date.fromordinal(int(d)), Decimal(int(a)))
                 for d, a in zip(days[s:e], amounts[s:e], strict=True)],
                annualise_short_periods=annualise_short_periods,
            )
            for s, e in zip(starts, ends, strict=True)
        ]
    counts = list(flow_counts) if flow_counts is not None else list(ends - starts)
    seg = np.repeat(np.arange(count), ends - starts)

    def netted(g: int) -> list[CashFlow]:
        s, e = int(starts[g]), int(ends[g])
        return [CashFlow(date.fromordinal(int(d)), Decimal(int(a)))
                for d, a in zip(days[s:e], amounts[s:e], strict=True)]

    keep = amounts != 0
    k_seg, k_days, k_amounts = seg[keep], days[keep], amounts[keep]
    k_count = np.bincount(k_seg, minlength=count)
    has_pos = np.bincount(k_seg, weights=k_amounts > 0, minlength=count) > 0
    has_neg = np.bincount(k_seg, weights=k_amounts < 0, minlength=count) > 0
    solvable = (ends - starts >= 2) & has_pos & has_neg
    k_starts = np.concatenate(([0], np.cumsum(k_count)[:-1]))
    exact = _exact_running_totals(k_seg, k_amounts, k_starts, k_count, count)
    first_day = days[starts]
    span_days = days[ends - 1] - first_day
    scale = np.zeros(count)
    if len(k_amounts):
        np.maximum.at(scale, k_seg, np.abs(k_amounts).astype(np.float64))
    floats = k_amounts.astype(np.float64) / np.where(scale > 0, scale, 1.0)[k_seg]
    offsets = k_days - first_day[k_seg]

    groups: list[_Group | None] = []
    for g in range(count):
        if not solvable[g]:
            groups.append(None)
            continue
        s, e = int(k_starts[g]), int(k_starts[g] + k_count[g])
        groups.append(_Group(
            offsets=offsets[s:e], floats=floats[s:e], span_days=int(span_days[g]),
            flow_count=int(counts[g]), date_count=int(ends[g] - starts[g]),
            total_sign=int(exact[0][g]), unique_at_zero=bool(exact[1][g]),
        ))
    index = [g for g, group in enumerate(groups) if group is not None]
    solved = _solve_groups([groups[g] for g in index], annualise_short_periods,
                           lambda i: netted(index[i]))
    out: list[IrrResult] = []
    it = iter(solved)
    for g, group in enumerate(groups):
        if group is None:
            out.append(_irr_by_scan(netted(g), int(counts[g]),
                                    annualise_short_periods=annualise_short_periods))
        else:
            out.append(next(it))
    return out


def _irr_by_scan(
    netted: list[CashFlow], flow_count: int, *, annualise_short_periods: bool
) -> IrrResult:
    """The exhaustive path: scan the whole bracket for every root (see ``_solve``)."""
    steps = [f"{flow_count} cash flows netted into {len(netted)} dates"]
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
    # In blocks of about a million terms: a fund's thousands of dates times 4,001 rates at once
    # would take hundreds of megabytes.
    rows = max(1, _SCAN_BLOCK_TERMS // max(1, len(taus)))
    out = np.empty(len(grid))
    for start in range(0, len(grid), rows):
        block = grid[start:start + rows]
        shift = np.maximum(0.0, -block)
        out[start:start + rows] = np.exp(-np.outer(block, taus) - shift[:, None]) @ amounts
    return out


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
# Internals: the fast path (Newton in a bracket, for many groups at once; uniqueness proved)


@dataclass(frozen=True)
class _Group:
    offsets: Sequence[int]  # days from the first netted date, non-zero flows only, ascending
    floats: Sequence[float]  # those amounts scaled to a largest |amount| of 1
    span_days: int  # first to last netted date, days netting to zero included
    flow_count: int
    date_count: int
    total_sign: int  # exact sign of the sum of the flows: XNPV at 0 %
    unique_at_zero: bool  # Norström's criterion at 0 % allows one rate at most


def _sign(value: Decimal | int) -> int:
    return (value > 0) - (value < 0)


def _sign_changes(values: Iterable[Decimal | int]) -> int:
    """Changes of sign along a sequence, zeros skipped (as Descartes and Laguerre count them)."""
    changes, previous = 0, 0
    for value in values:
        sign = _sign(value)
        if sign:
            changes += previous != 0 and sign != previous
            previous = sign
    return changes


def _running_total_changes(amounts: Iterable[Decimal | int]) -> int:
    """Sign changes of the running totals forwards plus those of the totals from the end.

    Laguerre's rule of signs (for Σ aᵢ·x^tᵢ with real exponents; Norström's criterion in
    finance): with x = 1/(1 + r), the roots with r > 0 are at most the sign changes of the
    running totals a₀, a₀+a₁, …; those with r < 0 at most the sign changes of the totals taken
    from the last flow backwards; r = 0 is a root only when the total is zero. The sum, plus one
    for a zero total, bounds the number of rates; 1 means the rate found is the only one.
    """
    values = list(amounts)
    forwards = _sign_changes(itertools.accumulate(values))
    backwards = _sign_changes(itertools.accumulate(reversed(values)))
    return forwards + backwards + (sum(values, 0) == 0)


def _exact_running_totals(
    seg: np.ndarray, amounts: np.ndarray, starts: np.ndarray, counts: np.ndarray, groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """(sign of each group's total, Norström bound == 1) in exact int64 arithmetic."""
    if not len(amounts):
        return np.zeros(groups, dtype=np.int64), np.zeros(groups, dtype=bool)
    running = np.cumsum(amounts)
    base = np.where(starts > 0, running[np.maximum(starts - 1, 0)], 0)
    prefix = running - base[seg]  # running total within the group, exact
    ends = starts + counts - 1
    total = np.where(counts > 0, prefix[np.maximum(ends, 0)], 0)
    # Totals from the last flow backwards: the group's total less the running total before.
    backwards = total[seg] - (prefix - amounts)

    def changes(values: np.ndarray) -> np.ndarray:
        nonzero = values != 0
        signs, owners = np.sign(values[nonzero]), seg[nonzero]
        flips = (signs[1:] != signs[:-1]) & (owners[1:] == owners[:-1])
        return np.bincount(owners[1:][flips], minlength=groups)

    # Backwards totals are read from the end; the count of changes does not depend on direction.
    bound = changes(prefix) + changes(backwards) + (total == 0)
    return np.sign(total), bound == 1


def _solve_groups(
    groups: Sequence[_Group],
    annualise_short_periods: bool,
    netted: Callable[[int], list[CashFlow]],
) -> list[IrrResult]:
    if not groups:
        return []
    lengths = np.array([len(g.offsets) for g in groups], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    first = np.array([g.offsets[0] for g in groups], dtype=np.float64)
    spans = np.array([g.offsets[-1] - g.offsets[0] for g in groups], dtype=np.float64)
    seg = np.repeat(np.arange(len(groups)), lengths)
    offsets = np.concatenate([np.asarray(g.offsets, dtype=np.float64) for g in groups])
    taus = (offsets - first[seg]) / spans[seg]
    amounts = np.concatenate([np.asarray(g.floats, dtype=np.float64) for g in groups])
    bounds = np.maximum(_MIN_SPAN_LOG_GROWTH, math.log(_MAX_DAILY_GROWTH_FACTOR) * spans)
    total_sign = np.array([g.total_sign for g in groups], dtype=np.float64)
    roots, residuals = _fast_roots(taus, amounts, starts, lengths, total_sign, bounds)

    results: list[IrrResult] = []
    for index, group in enumerate(groups):
        u, residual = roots[index], residuals[index]
        result = None
        if math.isfinite(u) and residual <= _RESIDUAL_TOLERANCE:
            if group.unique_at_zero:
                why = ("the running totals of the flows change sign once (Norström's criterion,"
                       " Laguerre's rule of signs): no other rate can solve XNPV = 0")
            else:
                s, e = int(starts[index]), int(starts[index] + lengths[index])
                why = _unique_by_pivot(taus[s:e], amounts[s:e], u)
            if why:
                result = _fast_result(group, u, float(spans[index]), residual, why,
                                      annualise_short_periods)
        if result is None:
            result = _irr_by_scan(netted(index), group.flow_count,
                                  annualise_short_periods=annualise_short_periods)
        results.append(result)
    return results


def _fast_result(
    group: _Group, u: float, span: float, residual: float, why: str, annualise: bool
) -> IrrResult | None:
    annualised = annualise or group.span_days >= DAYS_PER_YEAR
    days_per_period = DAYS_PER_YEAR if annualised else group.span_days
    rate = _rate_from_log_growth(Decimal(u / span) * days_per_period)
    if rate <= _MIN_RATE:
        return None  # the exhaustive path words this case
    steps = (
        f"{group.flow_count} cash flows netted into {group.date_count} dates",
        f"span {group.span_days} day(s) = {Decimal(group.span_days) / DAYS_PER_YEAR:.4f} years"
        " (actual/365 fixed)",
        "solved by Newton's method, falling back to bisection, inside a bracket where XNPV"
        " changes sign",
        f"unique: {why}",
        f"check: |XNPV| at the rate = {residual:.1e} × Σ|discounted flows|",
        "annual rate, actual/365 fixed"
        if annualised
        else "rate over the whole period, not annualised: the period is under one year (GIPS)",
    )
    return IrrResult(rate, None, annualised, group.span_days, (), steps)


def _scaled_terms(u: np.ndarray, seg: np.ndarray, taus: np.ndarray, amounts: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    # aᵢ·exp(−u·τᵢ) divided by exp(max(0, −u)): every exponent <= 0, nothing overflows, and the
    # term at τ = 0 (u >= 0) or τ = 1 (u < 0) keeps its full size, so nothing underflows to a
    # false zero. Dividing by a positive number changes neither the sign nor the root.
    useg = u[seg]
    factors = np.exp(-useg * taus - np.maximum(0.0, -useg))
    return amounts * factors, factors


def _fast_roots(
    taus: np.ndarray,
    amounts: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    total_sign: np.ndarray,
    bounds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(root u, relative |XNPV| there) per group; u = NaN when this path cannot find it.

    u is the log growth over the group's span (first to last non-zero flow), as in ``_solve``.
    The value at u = 0 is the total (sign known exactly); far to the right the first flow
    dominates, far to the left the last: when exactly one side changes sign, the root is
    bracketed there, and a safeguarded Newton iteration (Numerical Recipes' rtsafe) finds it.
    """
    count = len(starts)
    seg = np.repeat(np.arange(count), lengths)

    def value(u: np.ndarray) -> np.ndarray:
        terms, _ = _scaled_terms(u, seg, taus, amounts)
        return np.add.reduceat(terms, starts)

    first = np.sign(amounts[starts])
    last = np.sign(amounts[starts + lengths - 1])
    up = (total_sign != 0) & (total_sign != first) & (total_sign == last)
    down = (total_sign != 0) & (total_sign == first) & (total_sign != last)
    direction = np.where(up, 1.0, np.where(down, -1.0, 0.0))
    roots = np.full(count, np.nan)
    roots[total_sign == 0] = 0.0  # the flows sum to zero: 0 % is the root
    active = up | down
    near, far = np.zeros(count), direction.copy()
    bracketed = np.zeros(count, dtype=bool)
    while (pending := active & ~bracketed).any():
        flipped = np.sign(value(far)) != total_sign
        bracketed |= pending & flipped
        widen = pending & ~flipped
        exhausted = widen & (np.abs(far) >= bounds)
        active &= ~exhausted
        widen &= ~exhausted
        near = np.where(widen, far, near)
        far = np.where(widen, direction * np.minimum(np.abs(far) * 8.0, bounds), far)

    # rtsafe: take the Newton step when it lands inside the bracket and at least halves the
    # previous step, else bisect; the bracket shrinks every time, so it cannot wander off.
    near_sign = total_sign.copy()
    u = np.where(active, 0.5 * (near + far), 0.0)
    previous = np.abs(far - near)
    done = ~active
    for _ in range(_MAX_ITERATIONS):
        if done.all():
            break
        terms, _ = _scaled_terms(u, seg, taus, amounts)
        f = np.add.reduceat(terms, starts)
        slope = -np.add.reduceat(taus * terms, starts)
        at_root = f == 0.0
        same = np.sign(f) == near_sign
        near = np.where(done | ~same, near, u)
        far = np.where(done | same, far, u)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = u - f / slope
        inside = (newton - near) * (newton - far) < 0
        take = inside & (np.abs(newton - u) <= 0.5 * previous)
        u_next = np.where(take, newton, 0.5 * (near + far))
        step = np.abs(u_next - u)
        converged = at_root | (step <= 4 * np.spacing(np.maximum(1.0, np.abs(u)))) | (u_next == u)
        u = np.where(done | at_root, u, u_next)
        previous = np.where(done, previous, step)
        newly = ~done & converged
        roots[newly & active] = u[newly & active]
        done |= converged
    roots[active & ~done] = np.nan
    safe = np.where(np.isfinite(roots), roots, 0.0)
    terms, _ = _scaled_terms(safe, seg, taus, amounts)
    magnitude = np.add.reduceat(np.abs(terms), starts)
    residual = np.abs(np.add.reduceat(terms, starts)) / np.where(magnitude > 0, magnitude, 1.0)
    residual[~np.isfinite(roots) | (magnitude == 0) | (np.abs(safe) > bounds)] = np.inf
    return roots, residual


def _unique_by_pivot(taus: np.ndarray, amounts: np.ndarray, u: float) -> str | None:
    """Laguerre's rule at pivots just either side of the root u: the reason it is the only one,
    or None when the signs there do not prove it."""
    # A partial sum smaller than this (relative to Σ|terms|) might have the wrong sign in floats.
    doubt = max(1e-12, 8 * len(amounts) * np.finfo(float).eps)
    delta = 1e-6 * max(1.0, abs(u))
    seg = np.zeros(len(amounts), dtype=np.int64)
    for pivot in (u - delta, u + delta):
        terms, _ = _scaled_terms(np.array([pivot]), seg, taus, amounts)
        magnitude = float(np.abs(terms).sum())
        forwards = np.cumsum(terms)
        backwards = np.cumsum(terms[::-1])
        smallest = min(np.abs(forwards).min(), np.abs(backwards).min())
        if magnitude == 0 or smallest <= doubt * magnitude:
            continue
        changes = _sign_changes(forwards.tolist()) + _sign_changes(backwards.tolist())
        if changes == 1:
            return ("the running totals of the flows discounted at a rate next to it change"
                    " sign once (Laguerre's rule of signs): no other rate can solve XNPV = 0")
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
