"""Portfolio performance as of any date, as plain data for pages, the API and the PDF reports.

`performance_summary(session, as_of)` reads only the flows and final marks dated on or before
`as_of` and returns str / Decimal / date / int / list / dict values only (no ORM objects), so a
template, a JSON encoder and reports/render.py can all take it as it is.

Conventions (docs/metrics.md), printed as "conventions" on everything that shows them:
* flows from the fund's side: grant disbursements, follow-ons and fees negative; refunds,
  buy-back and exit proceeds, dividends and recoveries positive; NAV a terminal inflow on as_of;
* XIRR, actual/365 fixed, flows netted per day; under one year not annualised (GIPS);
* NAV of a holding = units held × value per unit of the latest *final* mark measured on or
  before as_of; without one, its cost basis;
* a grant counts as paid-in from its disbursement; an open unconverted grant is carried at the
  policy's `unconverted_grant_carrying` ("zero", the default, or "cost"); a grant closed or in
  breach at zero; a converted grant through its holding;
* multiples use gross flows (returns.py); MOIC of a holding = (distributions + NAV) / paid-in;
* three labelled views: all-in (every grant and holding, the fund's fees), equity (every
  holding), converted-only (holdings from conversions; none yet: no figures);
* a converted holding's flows are its converted share of each disbursement (book.py); the rest
  of the grant (the R6.d remainder, refunds) is a grant closed on the conversion date, all-in
  only; a deferred exit balance (R9.d) is a receivable in NAV at face value until paid;
* MIRR next to the XIRR (finance rate: the 1-year LPR in force; reinvestment: the policy's
  `mirr_reinvestment_rate`, else the LPR) and the quarterly periodic IRR (numpy_financial.irr).

How the book is read, fast: book.py.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.book_cache import cached
from fundapp.dates import shanghai_today
from fundapp.deals.models import Company
from fundapp.errors import ValidationFailed
from fundapp.fund.models import Fund
from fundapp.pagination import PER_PAGE, Page, _positive
from fundapp.portfolio.conversion.models import Conversion
from fundapp.portfolio.exits.models import Exit
from fundapp.portfolio.grants.models import Grant
from fundapp.portfolio.holdings.models import Holding, MarkMethod, MarkStatus, ValuationMark
from fundapp.portfolio.performance import returns
from fundapp.portfolio.performance.book import (
    DAY_BITS,
    Book,
    collector_paused,
    from_fen,
    latest_on,
    load_book,
    navs_on,
    receivables_on,
    running_totals,
)
from fundapp.portfolio.performance.notes import note_text
from fundapp.portfolio.rounds.models import FinancingRound, RoundInvestor
from fundapp.ui import reader_name

ZERO = Decimal("0.00")
FEN = Decimal("0.01")
RATIO_PLACES = Decimal("0.0001")
RATE_PLACES = Decimal("0.0000000001")
SHANGHAI = ZoneInfo("Asia/Shanghai")
STALE_MONTHS = 6  # IPEV: a mark older than two quarters is flagged


def check_as_of(as_of: date | None, *, today: date | None = None) -> date:
    """The as-of date, or a field error: figures of the future do not exist yet."""
    today = today or shanghai_today()
    if as_of is None:
        return today
    if as_of > today:
        raise ValidationFailed(_l("Some fields are not valid."), details={"as_of": [str(_l(
            "The as-of date %(day)s is in the future; choose %(today)s or earlier.",
            day=as_of.isoformat(), today=today.isoformat()))]})
    return as_of


def conventions(as_of: date) -> str:
    """How every figure is computed, in the reader's language (the module's docstring)."""
    return str(_l(
        "XIRR, actual/365 fixed, cash flows netted per day, NAV as of %(day)s; periods under "
        "one year not annualised (the period return (1 + XIRR)^(days/365) - 1; "
        "the annualised figure is the XIRR); NAV = units × latest final mark on or before the "
        "date, else cost; open unconverted grants at the policy's carrying value; multiples on "
        "gross flows; deferred exit balances (R9.d) are receivables in NAV at face value until "
        "paid, then distributions on the day paid; a converted holding's cost is its converted "
        "amount, dated pro rata over the grant's disbursements, and the R6.d remainder is a "
        "grant closed on the conversion date (all-in view only); views: all-in = every grant "
        "and holding and the fund's fees, equity = every holding, converted-only = holdings "
        "from conversions; MIRR (next to the XIRR: one closed form, so never several rates, "
        "and an explicit reinvestment assumption): outflows discounted to the first flow at "
        "the finance rate (the 1-year LPR in force on the as-of date), inflows and NAV "
        "compounded to the as-of date at the reinvestment rate (policy "
        "MIRR reinvestment rate, else the LPR), actual/365; periodic IRR: the IRR of equal "
        "periods (numpy-financial) on the all-in net cash flow per calendar quarter, NAV in the "
        "last quarter",
        day=as_of.isoformat()))


VIEW_LABELS = {
    "all_in": _l("All-in (grants and every holding)"),
    "equity": _l("Equity (every holding)"),
    "converted_only": _l("Converted only (holdings from conversions)"),
}


def _view(name: str, figures: dict[str, Any], holdings: int) -> dict[str, Any]:
    """One labelled view; a view of holdings with none yet has no figures, and says so."""
    if name != "all_in" and not holdings:
        figures = {key: None for key in figures}
        none_yet = note_text("no holdings yet")
        figures.update(irr_note=none_yet, mirr_note=none_yet, note=none_yet)
    return {"label": str(VIEW_LABELS[name]), "holdings_count": holdings, **figures}


# --------------------------------------------------------------------------- the IRR


def irr_of(flows: Sequence[returns.CashFlow]) -> returns.IrrResult:
    """The since-inception rate of `flows` (NAV included), verified by XNPV (returns.py)."""
    return returns.since_inception_irr(flows)


def irr_note(result: returns.IrrResult) -> str:
    """Why there is no IRR, or how to read it, in the reader's language (notes.py)."""
    if result.rate is None:
        return note_text(result.reason or "no IRR")
    if not result.annualised:
        return note_text(f"over {result.span_days} days, not annualised (under one year)")
    return note_text("annual rate (XIRR)")


# --------------------------------------------------------------------------- metrics


def _ratio(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(RATIO_PLACES)


def _rate(result: returns.IrrResult) -> Decimal | None:
    return None if result.rate is None else result.rate.quantize(RATE_PLACES)


_NO_FLOWS = returns.IrrResult(None, "no IRR: no cash flows yet", False, 0)
_NO_MIRR_FLOWS = returns.MirrResult(None, "no MIRR: no cash flows yet", False, 0)
_NO_MIRR_RATES = returns.MirrResult(None, "no MIRR: no 1-year LPR published on or before the "
                                          "as-of date", False, 0)


def mirr_note(result: returns.MirrResult) -> str:
    if result.rate is None:
        return note_text(result.reason or "no MIRR")
    if not result.annualised:
        return note_text(f"over {result.span_days} days, not annualised (under one year)")
    return note_text("annual rate (MIRR)")


def _metrics(paid_in: Decimal, distributed: Decimal, nav: Decimal, result: returns.IrrResult,
             committed: Decimal | None = None,
             mirr: returns.MirrResult | None = None) -> dict[str, Any]:
    """The one dict of a group's figures: amounts, DPI/RVPI/TVPI/PIC, the IRR and the MIRR with
    their notes."""
    mirr = mirr or _NO_MIRR_RATES
    return {
        "paid_in_amount": paid_in,
        "distributed_amount": distributed,
        "nav_amount": nav,
        "dpi": _ratio(returns.dpi(distributed, paid_in)),
        "rvpi": _ratio(returns.rvpi(nav, paid_in)),
        "tvpi": _ratio(returns.tvpi(distributed, nav, paid_in)),
        "pic": _ratio(returns.pic(paid_in, committed)) if committed else None,
        "irr": _rate(result),
        "irr_is_annualised": result.rate is not None and result.annualised,
        "irr_annualised": _annualised(result),
        "irr_note": irr_note(result),
        "mirr": None if mirr.rate is None else mirr.rate.quantize(RATE_PLACES),
        "mirr_is_annualised": mirr.rate is not None and mirr.annualised,
        "mirr_note": mirr_note(mirr),
    }


def _annualised(result: returns.IrrResult) -> Decimal | None:
    """The XIRR per year behind a rate (the same rate when it is already annual)."""
    if result.rate is None:
        return None
    if result.annualised:
        return _rate(result)
    if result.span_days <= 0:
        return None
    try:
        growth = (1 + result.rate) ** (Decimal(returns.DAYS_PER_YEAR) / result.span_days)
        return (growth - 1).quantize(RATE_PLACES)
    except ArithmeticError:  # a few days' return compounded to a year beyond any report
        return None


def _figures(paid_fen: int, distributed_fen: int, nav_fen: int, result: returns.IrrResult,
             mirr: returns.MirrResult, committed: Decimal | None = None) -> dict[str, Any]:
    """The figures of one group of `_group_figures` (amounts in fen)."""
    return _metrics(from_fen(paid_fen), from_fen(distributed_fen), from_fen(nav_fen), result,
                    committed, mirr)


def metrics(flows: Iterable[returns.CashFlow], nav: Decimal, as_of: date,
            committed: Decimal | None = None) -> dict[str, Any]:
    """Paid-in, distributed, NAV, DPI/RVPI/TVPI/PIC and the IRR of one group of flows."""
    flow_list = list(flows)
    paid_in = -sum((f.amount for f in flow_list if f.amount < 0), ZERO)
    distributed = sum((f.amount for f in flow_list if f.amount > 0), ZERO)
    result = irr_of([*flow_list, returns.CashFlow(as_of, nav)]) if flow_list else _NO_FLOWS
    return _metrics(paid_in.quantize(FEN), distributed.quantize(FEN), nav.quantize(FEN), result,
                    committed)


def _group_figures(book: Book, partitions: Sequence[tuple[np.ndarray, int]], navs: np.ndarray,
                   as_of: int, mirr_rates: tuple[Decimal, Decimal] | None = None,
                   ) -> list[list[tuple[int, int, int, returns.IrrResult, returns.MirrResult]]]:
    """(paid-in, distributed, NAV, IRR, MIRR) of every group of every partition of the positions.

    A partition maps each position to a group number below its size (-1: left out). Every group's flows are
    netted per day with its NAV added on as_of, and all the groups' rates are solved in one
    `returns.irr_batch` call.
    """
    keys_all, amounts_all, counts_all = [], [], []
    sizes, offsets, gross = [], [], []
    base = 0
    for groups_of, size in partitions:
        group = groups_of[book.flow_pos]
        member = group >= 0
        g, day, fen = group[member], book.flow_day[member], book.flow_fen[member]
        paid = np.zeros(size, dtype=np.int64)
        np.add.at(paid, g, np.minimum(fen, 0))
        distributed = np.zeros(size, dtype=np.int64)
        np.add.at(distributed, g, np.maximum(fen, 0))
        flow_counts = np.bincount(g, minlength=size)
        nav = np.zeros(size, dtype=np.int64)
        np.add.at(nav, groups_of[groups_of >= 0], navs[groups_of >= 0])
        with_flows = np.flatnonzero(flow_counts > 0)
        keys = np.concatenate((((g + base) << DAY_BITS) | day,
                               ((with_flows + base) << DAY_BITS) | as_of))
        amounts = np.concatenate((fen, nav[with_flows]))
        keys_all.append(keys)
        amounts_all.append(amounts)
        counts_all.append(flow_counts)
        gross.append((-paid, distributed, nav, flow_counts))
        sizes.append(size)
        offsets.append(base)
        base += size
    keys = np.concatenate(keys_all) if keys_all else np.zeros(0, dtype=np.int64)
    amounts = np.concatenate(amounts_all) if amounts_all else np.zeros(0, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    keys, amounts = keys[order], amounts[order]
    firsts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else keys
    netted = np.add.reduceat(amounts, firsts) if len(keys) else amounts
    netted_keys = keys[firsts]
    owner = netted_keys >> DAY_BITS
    days = netted_keys & ((1 << DAY_BITS) - 1)
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner
    solved_groups = owner[starts].tolist()
    all_counts = np.concatenate(counts_all) if counts_all else np.zeros(0, dtype=np.int64)
    results = returns.irr_batch(days, netted, starts,
                                flow_counts=[int(all_counts[g]) + 1 for g in solved_groups])
    by_group = dict(zip(solved_groups, results, strict=True))
    mirrs = (returns.mirr_batch(days, netted, starts, *mirr_rates) if mirr_rates
             else [_NO_MIRR_RATES] * len(solved_groups))
    mirr_by_group = dict(zip(solved_groups, mirrs, strict=True))
    out = []
    for size, offset, (paid, distributed, nav, _) in zip(sizes, offsets, gross, strict=True):
        out.append([(int(paid[i]), int(distributed[i]), int(nav[i]),
                     by_group.get(offset + i, _NO_FLOWS),
                     mirr_by_group.get(offset + i, _NO_MIRR_FLOWS)) for i in range(size)])
    return out


def quarter_ends(start: date, end: date) -> list[date]:
    """Quarter ends after `start` up to `end`, and `end` itself."""
    out = []
    year, month = start.year, (start.month - 1) // 3 * 3 + 3
    while True:
        last = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1))
        if last >= end:
            break
        out.append(last)
        month += 3
        if month > 12:
            year, month = year + 1, 3
    out.append(end)
    return out


def add_months(day: date, months: int) -> date:
    from fundapp.portfolio.conversion.engine import add_months as _add

    return _add(day, months)


def performance_summary(session: Session, as_of: date, *, period_start: date | None = None,
                        index_series: str | None = None, today: date | None = None,
                        detail: bool = True) -> dict[str, Any]:
    """Everything the performance page, GET /api/v1/performance and the quarterly report show.

    Only flows and marks dated on or before `as_of`; a future `as_of` is a field error.
    `detail` False leaves out the list of every cash flow (GET /api/v1/cash-flows has it).
    """
    as_of = check_as_of(as_of, today=today)
    if period_start is not None and period_start > as_of:
        raise ValidationFailed(_l("Some fields are not valid."), details={"period_start": [str(
            _l("The period cannot start after the as-of date."))]})
    with collector_paused():
        return _summary(session, as_of, period_start, index_series, detail)


def cached_summary(session: Session, as_of: date | None, *, period_start: date | None = None,
                   index_series: str | None = None, detail: bool = False) -> dict[str, Any]:
    """performance_summary as pages and the API show it: computed once per book version
    (compliance/book_cache.py), the same dict to every reader of that version: read it, never
    change it."""
    as_of = check_as_of(as_of)
    return cached(session, "summary", (as_of, period_start, index_series, detail),
                  lambda: performance_summary(session, as_of, period_start=period_start,
                                              index_series=index_series, detail=detail))


def _summary(session: Session, as_of: date, period_start: date | None,
             index_series: str | None, detail: bool) -> dict[str, Any]:
    fund = session.scalar(select(Fund).order_by(Fund.id).limit(1))
    committed = fund.committed_amount if fund else ZERO
    book = load_book(session, as_of, with_kinds=detail)
    positions = book.positions
    day = as_of.toordinal()
    navs = navs_on(book, [day])[:, 0]

    is_holding = np.array([p.holding_id is not None for p in positions], dtype=bool)
    holding_order = sorted(np.flatnonzero(is_holding).tolist(),
                           key=lambda i: (positions[i].company, positions[i].key))
    per_holding = np.full(len(positions), -1, dtype=np.int64)
    per_holding[holding_order] = np.arange(len(holding_order))
    vintages = sorted({p.vintage for p in positions if p.vintage is not None})
    per_vintage = np.array([vintages.index(p.vintage) if p.vintage is not None else -1
                            for p in positions], dtype=np.int64)
    sectors = sorted({p.sector or "unclassified" for p in positions[:book.fund_index]})
    per_sector = np.array([sectors.index(p.sector or "unclassified")
                           for p in positions[:book.fund_index]] + [-1], dtype=np.int64)
    everyone = np.zeros(len(positions), dtype=np.int64)
    is_converted = np.array([p.converted for p in positions], dtype=bool) & is_holding
    equity = np.where(is_holding, 0, -1).astype(np.int64)
    converted = np.where(is_converted, 0, -1).astype(np.int64)
    rates = mirr_rates(session, as_of)
    finance, reinvest = rates["finance_rate"], rates["reinvestment_rate"]
    holding_figures, vintage_figures, sector_figures, all_in, equity_group, converted_only = \
        _group_figures(book, [(per_holding, len(holding_order)), (per_vintage, len(vintages)),
                              (per_sector, len(sectors)), (everyone, 1), (equity, 1),
                              (converted, 1)], navs, day,
                       (finance, reinvest) if finance is not None else None)

    fund_figures = _figures(*all_in[0], committed)
    fund_block = {"name": reader_name(fund.name, fund.name_en) if fund else "",
                  "committed_amount": committed.quantize(FEN), **fund_figures}
    views = {
        "all_in": _view("all_in", fund_figures, int(is_holding.sum())),
        "equity": _view("equity", _figures(*equity_group[0], committed),
                        int(is_holding.sum())),
        "converted_only": _view("converted_only", _figures(*converted_only[0], committed),
                                int(is_converted.sum())),
    }
    by_vintage = [{"vintage": v, **_figures(*vintage_figures[i])}
                  for i, v in enumerate(vintages)]
    by_sector = [{"sector": sector, **_figures(*sector_figures[i])}
                 for i, sector in enumerate(sectors)]

    holdings = _holding_rows(book, as_of, holding_order, holding_figures)

    summary: dict[str, Any] = {
        "as_of": as_of,
        "period_start": period_start,
        "conventions": conventions(as_of),
        "fund": fund_block,
        "views": views,
        "mirr_rates": rates,
        "periodic_irr": periodic_figures(book, as_of, navs),
        "by_vintage": by_vintage,
        "by_sector": by_sector,
        "holdings": holdings,
        "cash_flows": _cash_flows(book, period_start) if detail else [],
        "valuation_changes": _valuation_changes(session, as_of, period_start),
        "dcf_marks": _dcf_marks(session, as_of),
        "conversions": _conversions(session, as_of, period_start),
        "exits": _exits(session, as_of, period_start),
        "policy_figures": policy_figures(session, as_of),
        "kpis": _kpis(session, as_of),
        "stale_marks": [h["company"] for h in holdings if h["is_mark_stale"]],
        "pme": _pme(session, book, navs, as_of, index_series),
        "series": _series(book, as_of, by_vintage),
    }
    return summary


def _holding_rows(book: Book, as_of: date, holding_order: list[int],
                  holding_figures: list) -> list[dict[str, Any]]:
    """The schedule of investments: one row per holding, in `holding_order`."""
    positions = book.positions
    day = as_of.toordinal()
    units_now = running_totals(book.change_pos, book.change_units)
    cost_now = running_totals(book.change_pos, book.change_cost)
    q_pos = np.asarray(holding_order, dtype=np.int64)
    q_day = np.full(len(q_pos), day, dtype=np.int64)
    units, _ = latest_on(book.change_pos, book.change_day, units_now, q_pos, q_day)
    cost, _ = latest_on(book.change_pos, book.change_day, cost_now, q_pos, q_day)
    mark_value, marked = latest_on(book.mark_pos, book.mark_day, book.mark_value, q_pos, q_day)
    mark_day, _ = latest_on(book.mark_pos, book.mark_day, book.mark_day, q_pos, q_day)
    receivable = receivables_on(book, [day])[:, 0]
    stale_before = add_months(as_of, -STALE_MONTHS).toordinal()
    holdings = []
    for n, index in enumerate(holding_order):
        p = positions[index]
        figures = _figures(*holding_figures[n])
        held = Decimal(int(units[n])).scaleb(-2)
        paid = figures["paid_in_amount"]
        moic = returns.moic(figures["distributed_amount"], figures["nav_amount"], paid) \
            if paid else None
        mark_on = date.fromordinal(int(mark_day[n])) if marked[n] else None
        # IPEV: two quarters counted from the last final mark, or from the acquisition.
        valued_since = int(mark_day[n]) if marked[n] else p.acquired_on
        owed = [book.receivable_due[r] for r in np.flatnonzero(
            (book.receivable_pos == index) & (book.receivable_from <= day)
            & (day < book.receivable_until)).tolist()] if receivable[index] else []
        holdings.append({
            "holding_id": p.holding_id, "grant_id": p.grant_id, "company": p.company,
            "company_id": p.company_id, "sector": p.sector, "vintage": p.vintage,
            "acquired_on": date.fromordinal(p.acquired_on), "units": held,
            "cost_amount": from_fen(cost[n]), "mark_on": mark_on,
            "value_per_unit": Decimal(int(mark_value[n])).scaleb(-6) if marked[n] else None,
            "is_mark_stale": bool(valued_since < stale_before and held > 0),
            "origin": "conversion" if p.converted else "direct",
            "receivable_amount": from_fen(receivable[index]),
            "receivable_due_on": min((d for d in owed if d is not None), default=None),
            "moic": _ratio(moic), "status": "exited" if held <= 0 else "active", **figures})

    return holdings


def holding_rows(session: Session, as_of: date, holding_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The schedule's rows of these holdings only, each as performance_summary shows it, from
    their own grants, flows and marks (a page of holdings, one holding's page: issue 14)."""
    with collector_paused():
        book = load_book(session, as_of, with_kinds=False, holding_ids=holding_ids)
    positions = book.positions
    navs = navs_on(book, [as_of.toordinal()])[:, 0]
    order = {holding_id: n for n, holding_id in enumerate(holding_ids)}
    holding_order = sorted((i for i, p in enumerate(positions) if p.holding_id is not None),
                           key=lambda i: order.get(positions[i].holding_id, len(order)))
    per_holding = np.full(len(positions), -1, dtype=np.int64)
    per_holding[holding_order] = np.arange(len(holding_order))
    rates = mirr_rates(session, as_of)
    finance, reinvest = rates["finance_rate"], rates["reinvestment_rate"]
    (figures,) = _group_figures(book, [(per_holding, len(holding_order))], navs,
                                as_of.toordinal(),
                                (finance, reinvest) if finance is not None else None)
    return _holding_rows(book, as_of, holding_order, figures)


def cash_flow_list(session: Session, as_of: date,
                   period_start: date | None = None) -> list[dict[str, Any]]:
    """Every flow the figures count, in the period, as performance_summary lists them."""
    as_of = check_as_of(as_of)
    if period_start is not None and period_start > as_of:
        raise ValidationFailed(_l("Some fields are not valid."), details={"period_start": [str(
            _l("The period cannot start after the as-of date."))]})
    with collector_paused():
        return _cash_flows(load_book(session, as_of, with_kinds=True), period_start)


def cash_flow_page(session: Session, as_of: date, period_start: date | None,
                   page: Any = 1, per_page: Any = PER_PAGE, *, newest_first: bool = False) -> Page:
    """One page of cash_flow_list (the same rows in the same order, or the reverse with
    `newest_first`; page numbers as page_of takes them): the flows are ordered as arrays once
    per book version and only the page's rows are built (issue 14)."""
    as_of = check_as_of(as_of)
    if period_start is not None and period_start > as_of:
        raise ValidationFailed(_l("Some fields are not valid."), details={"period_start": [str(
            _l("The period cannot start after the as-of date."))]})
    book, ordered = cached(session, "cash_flow_order", (as_of, period_start),
                           lambda: _ordered_flows(session, as_of, period_start))
    if newest_first:
        ordered = ordered[::-1]
    size = _positive(per_page, PER_PAGE, 200)
    total = len(ordered)
    number = min(_positive(page, 1, 10**9), max(1, -(-total // size)))
    if not total:
        return Page([], number, size, 0)
    rows = ordered[(number - 1) * size:number * size].tolist()
    return Page([{"on": date.fromordinal(int(book.flow_day[i])),
                  "kind": book.flow_kind[int(book.flow_order[i])],
                  "company": book.positions[int(book.flow_pos[i])].company,
                  "amount": from_fen(book.flow_fen[i])} for i in rows], number, size, total)


def _ordered_flows(session: Session, as_of: date,
                   period_start: date | None) -> tuple[Book, np.ndarray]:
    """The book and its flows in the period, as indexes in cash_flow_list's order."""
    with collector_paused():
        book = load_book(session, as_of, with_kinds=True)
    start = period_start.toordinal() if period_start else 0
    chosen = np.nonzero(book.flow_day >= start)[0]
    names = np.array([p.company for p in book.positions], dtype=str)[book.flow_pos[chosen]]
    kinds = np.array(book.flow_kind, dtype=str)[book.flow_order[chosen]]
    # lexsort is stable, like the list's sort: equal keys keep the book's order
    return book, chosen[np.lexsort((kinds, names, book.flow_day[chosen]))]


def mirr_rates(session: Session, as_of: date) -> dict[str, Any]:
    """The MIRR's rates as of a day: finance = the 1-year LPR in force (the latest published on
    or before it); reinvestment = the policy's `mirr_reinvestment_rate`, else the finance rate.
    """
    from fundapp.errors import RuleRefused
    from fundapp.fund.operations import policy_in_force
    from fundapp.reference.queries import lpr_on

    lpr = lpr_on(session, as_of)
    finance = lpr.rate if lpr is not None else None
    try:
        policy = policy_in_force(session, as_of)
    except RuleRefused:
        policy = None
    chosen = policy.values.get("mirr_reinvestment_rate") if policy is not None else None
    reinvest = Decimal(chosen) if chosen is not None else finance
    return {
        "finance_rate": finance,
        "finance_rate_source": str(
            _l("1-year LPR published %(day)s", day=lpr.published_on.isoformat())
            if lpr is not None else _l("no 1-year LPR published yet")),
        "reinvestment_rate": reinvest,
        "reinvestment_rate_source": str(
            _l("policy version %(version)s: MIRR reinvestment rate", version=policy.version)
            if chosen is not None and policy is not None
            else _l("the finance rate (the policy sets no MIRR reinvestment rate)")),
    }


def quarter_of(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def periodic_figures(book: Book, as_of: date, navs: np.ndarray) -> dict[str, Any]:
    """The fund's (all-in) net cash flow per calendar quarter since the first flow, NAV added in
    the as-of quarter, and its IRR per quarter (numpy_financial.irr) and per year, (1 + q)^4 - 1.

    Equal periods are what numpy_financial.irr assumes; flows keep their quarter, not their day,
    which is why this figure differs a little from the XIRR next to it.
    """
    if not len(book.flow_day):
        return {"quarters": [], "irr_per_quarter": None, "irr_annualised": None,
                "note": "no cash flows yet"}
    first = quarter_of(date.fromordinal(int(book.flow_day.min())))
    last = quarter_of(as_of)
    count = (last[0] - first[0]) * 4 + last[1] - first[1] + 1
    distinct, inverse = np.unique(book.flow_day, return_inverse=True)
    index = np.array([(q[0] - first[0]) * 4 + q[1] - first[1] for q in map(
        quarter_of, map(date.fromordinal, distinct.tolist()))], dtype=np.int64)[inverse]
    totals = np.zeros(count, dtype=np.int64)
    np.add.at(totals, index, book.flow_fen)
    totals[-1] += int(navs.sum())
    amounts = [from_fen(t) for t in totals.tolist()]
    rate = returns.quarterly_irr(amounts)
    labels = [f"{first[0] + (first[1] - 1 + n) // 4}Q{(first[1] - 1 + n) % 4 + 1}"
              for n in range(count)]
    annual = None
    if rate is not None:
        try:
            annual = ((1 + rate) ** 4 - 1).quantize(RATE_PLACES)
        except ArithmeticError:
            annual = None
    return {
        "quarters": [{"quarter": q, "net_amount": a} for q, a in zip(labels, amounts,
                                                                      strict=True)],
        "irr_per_quarter": None if rate is None else rate.quantize(RATE_PLACES),
        "irr_annualised": annual,
        "note": "numpy_financial.irr on the quarterly net cash flows (all-in view, NAV in the "
                "last quarter)" if rate is not None else
                "no periodic IRR: no single verified rate for these quarterly flows",
    }


def _cash_flows(book: Book, period_start: date | None) -> list[dict[str, Any]]:
    start = period_start.toordinal() if period_start else 0
    names = [p.company for p in book.positions]
    kinds = [book.flow_kind[i] for i in book.flow_order.tolist()]
    out = [{"on": date.fromordinal(d), "kind": kind, "company": names[p], "amount": from_fen(a)}
           for p, d, a, kind in zip(book.flow_pos.tolist(), book.flow_day.tolist(),
                                    book.flow_fen.tolist(), kinds, strict=True)
           if d >= start]
    out.sort(key=lambda f: (f["on"], f["company"], f["kind"]))
    return out


def _series(book: Book, as_of: date, by_vintage: list[dict]) -> dict[str, Any]:
    tvpi = [(v["vintage"], v["tvpi"]) for v in by_vintage]
    if not len(book.flow_day):
        return {"nav": [], "cumulative_net_cash_flow": [], "tvpi_by_vintage": tvpi}
    points = quarter_ends(date.fromordinal(int(book.flow_day.min())), as_of)
    ordinals = [p.toordinal() for p in points]
    totals = navs_on(book, ordinals).sum(axis=0)
    order = np.argsort(book.flow_day, kind="stable")
    running = np.cumsum(book.flow_fen[order])
    upto = np.searchsorted(book.flow_day[order], ordinals, side="right")
    cumulative = [from_fen(running[i - 1]) if i else ZERO for i in upto.tolist()]
    return {"nav": [(p, from_fen(t)) for p, t in zip(points, totals.tolist(), strict=True)],
            "cumulative_net_cash_flow": list(zip(points, cumulative, strict=True)),
            "tvpi_by_vintage": tvpi}


def _valuation_changes(session: Session, as_of: date, start: date | None) -> list[dict]:
    rows = session.execute(
        select(ValuationMark.holding_id, ValuationMark.measured_on, ValuationMark.method,
               ValuationMark.value_per_unit, Company.legal_name, Company.name_en)
        .join(Holding, Holding.id == ValuationMark.holding_id)
        .join(Company, Company.id == Holding.company_id)
        .where(ValuationMark.status == MarkStatus.FINAL, ValuationMark.measured_on <= as_of)
        .order_by(ValuationMark.holding_id, ValuationMark.measured_on, ValuationMark.id)).all()
    out, previous = [], {}
    for holding_id, measured_on, method, value, legal_name, name_en in rows:
        before = previous.get(holding_id)
        previous[holding_id] = value
        if start is not None and measured_on < start:
            continue
        out.append({"company": reader_name(legal_name, name_en), "holding_id": holding_id,
                    "measured_on": measured_on, "method": method.value,
                    "previous_value_per_unit": before, "value_per_unit": value,
                    "change": None if before is None else value - before})
    out.sort(key=lambda m: (m["measured_on"], m["company"]))
    return out


def _dcf_marks(session: Session, as_of: date) -> list[dict]:
    """How each holding's latest final mark on or before `as_of` was reached, where it is a
    discounted cash flow: its stored inputs (the quarterly report shows them)."""
    rows = session.execute(
        select(ValuationMark, Company.legal_name, Company.name_en)
        .join(Holding, Holding.id == ValuationMark.holding_id)
        .join(Company, Company.id == Holding.company_id)
        .where(ValuationMark.status == MarkStatus.FINAL, ValuationMark.measured_on <= as_of)
        .order_by(ValuationMark.holding_id, ValuationMark.measured_on, ValuationMark.id)).all()
    latest = {mark.holding_id: (mark, reader_name(legal_name, name_en)) for mark, legal_name, name_en in rows}
    out = []
    for mark, company in latest.values():
        if mark.method != MarkMethod.DCF:
            continue
        given = mark.inputs
        try:
            out.append({
                "company": company, "holding_id": mark.holding_id,
                "measured_on": mark.measured_on,
                "discount_rate_pct": Decimal(format(
                    (Decimal(given["discount_rate"]) * 100).normalize(), "f")),  # 10, not 1E+1
                "cash_flows": [Decimal(v) for v in given["cash_flows"]],
                "terminal_value_amount": Decimal(given.get("terminal_value") or "0.00"),
                "net_debt_amount": Decimal(given.get("net_debt") or "0.00"),
                "equity_value_amount": Decimal(given["equity_value"]),
                "units_outstanding": Decimal(given["units_outstanding"]),
                "value_per_unit": mark.value_per_unit})
        except (KeyError, TypeError, ArithmeticError):
            continue  # not a computed DCF (a mark recorded before DCF inputs were kept)
    out.sort(key=lambda m: (m["company"], m["holding_id"]))
    return out


def _conversions(session: Session, as_of: date, start: date | None) -> list[dict]:
    stmt = (select(Conversion, Grant.signed_on, Company.legal_name, Company.name_en)
            .join(Grant, Grant.id == Conversion.grant_id)
            .join(Company, Company.id == Grant.company_id)
            .where(Conversion.converted_on <= as_of, Conversion.reversed_at.is_(None))
            .order_by(Conversion.converted_on))
    if start is not None:
        stmt = stmt.where(Conversion.converted_on >= start)
    return [{"company": reader_name(legal_name, name_en), "grant_id": c.grant_id, "signed_on": signed_on,
             "converted_on": c.converted_on, "converted_amount": c.converted_amount,
             "units": c.fund_units, "stake_percent": c.stake_percent,
             "conversion_price": c.conversion_price}
            for c, signed_on, legal_name, name_en in session.execute(stmt)]


def _exits(session: Session, as_of: date, start: date | None) -> list[dict]:
    stmt = (select(Exit, Company.legal_name, Company.name_en)
            .join(Holding, Holding.id == Exit.holding_id)
            .join(Company, Company.id == Holding.company_id)
            .where(Exit.transfer_on <= as_of).order_by(Exit.transfer_on, Exit.id))
    if start is not None:
        stmt = stmt.where(Exit.transfer_on >= start)
    return [{"exit_id": e.id, "company": reader_name(legal_name, name_en), "holding_id": e.holding_id,
             "kind": e.kind.value, "transfer_on": e.transfer_on, "units": e.units,
             "price_amount": e.price_amount, "cost_amount": e.cost_amount,
             "gain_amount": e.price_amount - e.cost_amount, "buyer": e.buyer,
             "is_closing": e.is_closing}
            for e, legal_name, name_en in session.execute(stmt)]


def policy_figures(session: Session, as_of: date) -> dict[str, Any]:
    """Private money per yuan converted, conversion rate, median months to conversion."""
    conversions = session.execute(
        select(Conversion.grant_id, Conversion.round_id, Conversion.converted_on,
               Conversion.converted_amount, Grant.signed_on)
        .join(Grant, Grant.id == Conversion.grant_id)
        .where(Conversion.converted_on <= as_of, Conversion.reversed_at.is_(None))).all()
    converted_amount = sum((c.converted_amount for c in conversions), ZERO)
    # A conversion priced by a filed appraisal (R3.f) has no round and mobilised no private money.
    round_ids = {c.round_id for c in conversions if c.round_id is not None}
    new_money = ZERO
    if round_ids:
        new_money = sum(session.scalars(select(RoundInvestor.cash_amount).join(FinancingRound)
                                        .where(FinancingRound.id.in_(round_ids))), ZERO)
    ended = session.scalars(select(Grant.id).where(Grant.window_end_on <= as_of)).all()
    decided = set(ended) | {c.grant_id for c in conversions}
    months = [Decimal((c.converted_on - c.signed_on).days) * 12 / 365 for c in conversions]
    return {
        "private_money_per_yuan": (new_money / converted_amount).quantize(RATIO_PLACES)
        if converted_amount else None,
        "new_money_amount": new_money,
        "converted_amount": converted_amount,
        "conversion_rate": (Decimal(len(conversions)) / len(decided)).quantize(RATIO_PLACES)
        if decided else None,
        "converted_count": len(conversions),
        "decided_count": len(decided),
        "median_months_to_conversion": Decimal(statistics.median(months)).quantize(
            Decimal("0.1")) if months else None,
    }


def _kpis(session: Session, as_of: date) -> dict[str, Any]:
    from fundapp.portfolio.kpis.operations import kpi_summary

    return kpi_summary(session, as_of)


def _pme(session: Session, book: Book, navs: np.ndarray, as_of: date,
         series_name: str | None) -> dict[str, Any] | None:
    from fundapp.portfolio.holdings.valuation import pme_figures
    from fundapp.portfolio.performance.queries import index_levels_for

    levels = index_levels_for(session, series_name)
    if levels is None:
        return None
    name, points = levels
    return pme_figures(name, points, _daily_flows(book), from_fen(int(navs.sum())), as_of)


def _daily_flows(book: Book) -> list[returns.CashFlow]:
    """The book's outflows and inflows summed per day, each sign apart (exact int64 fen).

    Both PME figures are sums over flows of amount × index growth from its day, so a day's
    flows of one sign add up first: 80,000 flows become a few thousand, the same figures."""
    flows = []
    for chosen in (book.flow_fen < 0, book.flow_fen > 0):
        days, at = np.unique(book.flow_day[chosen], return_inverse=True)
        sums = np.zeros(len(days), dtype=np.int64)
        np.add.at(sums, at, book.flow_fen[chosen])
        flows += [returns.CashFlow(date.fromordinal(d), from_fen(a))
                  for d, a in zip(days.tolist(), sums.tolist(), strict=True)]
    flows.sort(key=lambda flow: flow.on)
    return flows
