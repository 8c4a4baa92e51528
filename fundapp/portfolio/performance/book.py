"""The fund's book as of a date, read once, as flat arrays; and NAV per position per day.

Speed (issue 5: 2,000 holdings and 80,000 flows within 1.5× of one SELECT plus pyxirr per
holding): every table is read once, whole, with the stored integers (fen, cents of a unit,
millionths of a CNY per unit) and ISO dates taken as they are, because converting 80,000 values
to Decimal and date objects one by one costs more than all the rest. Money stays exact: int64
sums of fen, turned into Decimal only for the figures shown. Positions, groups (holding,
vintage, sector, fund) and dates are numpy arrays; every group's rate comes from one call of
`returns.irr_batch`, which proves each rate unique or falls back to the exhaustive scan.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, String, and_, case, func, or_, select, type_coerce, union
from sqlalchemy.orm import Session

from fundapp.db import ScaledDecimal
from fundapp.deals.models import Company
from fundapp.fund.models import PolicyVersion
from fundapp.portfolio.conversion.models import Conversion
from fundapp.portfolio.exits.models import Exit, ExitInstalment
from fundapp.portfolio.grants.models import Grant, GrantDisbursement, GrantRefund, GrantStatus
from fundapp.portfolio.holdings.models import (
    OUTFLOW_KINDS,
    CashFlow,
    FlowKind,
    Holding,
    HoldingOrigin,
    HoldingStatus,
    MarkStatus,
    ValuationMark,
)
from fundapp.ui import reader_name

DAY_BITS = 22  # date ordinals are below 2**22 (date.max is 3,652,059)
_OUTFLOWS = frozenset(kind.value for kind in OUTFLOW_KINDS)


# --------------------------------------------------------------------------- reading


def _raw(column: Any) -> Any:
    """The column as stored: scaled integers and ISO dates skip the per-value conversion."""
    kind = column.type
    if isinstance(kind, ScaledDecimal):
        return type_coerce(column, BigInteger)
    if kind.python_type is date or hasattr(kind, "enums"):
        return type_coerce(column, String)
    return column


class _Days:
    """ISO date text (SQLite) or date (PostgreSQL) to ordinals, each distinct value parsed once."""

    def __init__(self) -> None:
        self.cache: dict[Any, int] = {}

    def __call__(self, value: Any) -> int | None:
        if value is None:
            return None
        found = self.cache.get(value)
        if found is None:
            found = (value if isinstance(value, date) else date.fromisoformat(value)).toordinal()
            self.cache[value] = found
        return found


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a summary is built.

    Reading 80,000 rows allocates some 500,000 tuples and ints; every few hundred allocations
    the collector starts, and its older generations walk every live object, all the rows read
    so far: measured, that took more time than SQLite and the maths together. Nothing built here
    forms a reference cycle, so reference counting frees it all the same; the collector is back
    on (if it was on) as soon as the summary is done.

    The switch is process-wide, so it is thrown only when this is the process's one thread (the
    worker, the CLI, a sync gunicorn worker): in a threaded web worker the other requests'
    garbage must still be collected, and the summary runs with the collector on.
    """
    if threading.active_count() > 1:
        yield
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def from_fen(fen: int | np.integer) -> Decimal:
    return Decimal(int(fen)).scaleb(-2)


@dataclass
class Position:
    """One holding or one grant without a holding (metadata; its numbers live in _Book)."""

    key: str
    company_id: int | None
    company: str
    sector: str
    vintage: int | None
    holding_id: int | None = None
    grant_id: int | None = None
    converted: bool = False
    status: str = ""
    acquired_on: int | None = None  # ordinal
    carrying: str = "zero"
    closed_on: int | None = None  # ordinal
    # The R6.d remainder (or what else of a converted grant's money did not become its holding):
    # a grant closed on the conversion date, counted in the all-in view only.
    is_remainder: bool = False


@dataclass
class Book:
    """Everything dated on or before as_of, as flat arrays indexed by position."""

    positions: list[Position]
    # cash flows, sorted by (position, day): signed fen, the fund's side
    flow_pos: np.ndarray
    flow_day: np.ndarray
    flow_fen: np.ndarray
    flow_kind: list[str]  # in the order read: flow_kind[flow_order[i]] is the kind of flow i
    flow_order: np.ndarray
    # changes of units (cents of a unit) and cost (fen), sorted by (position, day)
    change_pos: np.ndarray
    change_day: np.ndarray
    change_units: np.ndarray
    change_cost: np.ndarray
    # final marks, one per (position, day): millionths of a CNY per unit
    mark_pos: np.ndarray
    mark_day: np.ndarray
    mark_value: np.ndarray
    fund_index: int  # the pseudo-position of the fund's own flows (fees)
    # Deferred exit balances (R9.d), one row per instalment's principal: receivables in NAV at
    # face value from the transfer day until the day before it is paid (ordinals; unpaid by
    # as_of: never)
    receivable_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    receivable_from: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    receivable_until: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    receivable_fen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    receivable_due: list[date | None] = field(default_factory=list)


def _policy_carrying(values_json: str | None) -> str | None:
    try:
        value = json.loads(values_json or "{}").get("unconverted_grant_carrying")
    except ValueError:
        return None
    return value if value in ("zero", "cost") else None


def _by_position(pos: np.ndarray, day: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, ...]:
    """The arrays sorted by (position, day), and the order that sorts them."""
    order = np.lexsort((day, pos))  # stable: equal keys keep the order they were read in
    return (pos[order], day[order], *(v[order] for v in values), order)


def load_book(session: Session, as_of: date, *, with_kinds: bool = True,
              holding_ids: Collection[int] | None = None) -> Book:
    """Every grant, holding, flow and final mark on or before `as_of`, read once each.

    `with_kinds` False leaves out the kind of each flow (only the list of flows shows it).
    `holding_ids` reads only those holdings, with their grants, flows and marks: a page of
    holdings is computed from its own rows, not from the whole fund (issue 14). The fund's
    position then holds only what those read, so its figures are not the fund's."""
    to_day = _Days()
    only = sorted(set(holding_ids)) if holding_ids is not None else None
    # Only the companies something of the fund is in (not every company of the pipeline).
    held = (select(Holding.company_id).where(Holding.id.in_(only)) if only is not None
            else select(Holding.company_id))
    grants_of = (select(Holding.grant_id).where(Holding.id.in_(only),
                                                 Holding.grant_id.is_not(None))
                 if only is not None else None)
    named = (select(Grant.company_id).where(Grant.id.in_(grants_of)) if grants_of is not None
             else select(Grant.company_id))
    companies = {row.id: row for row in session.execute(
        select(Company.id, Company.legal_name, Company.name_en, Company.sector)
        .where(Company.id.in_(union(held, named))))}
    policy_json = dict(session.execute(select(PolicyVersion.id, PolicyVersion.values_json)).all())
    positions: list[Position] = []
    grant_index: dict[int, int] = {}

    def company_of(company_id: int | None) -> tuple[str, str]:
        row = companies.get(company_id) if company_id is not None else None
        if row is None:
            return "", ""
        return reader_name(row.legal_name, row.name_en), (row.sector or "")

    for g in session.execute(select(
            Grant.id, Grant.company_id, Grant.signed_on, Grant.status, Grant.closed_on,
            Grant.breach_on, Grant.policy_version_id, Grant.policy_override_json)
            .where(Grant.signed_on <= as_of,
                   *((Grant.id.in_(grants_of),) if grants_of is not None else ()))
            .order_by(Grant.id)):
        name, sector = company_of(g.company_id)
        closed = g.closed_on if g.status in (GrantStatus.CLOSED, GrantStatus.CLOSED_TOLERANCE) \
            else (g.breach_on if g.status == GrantStatus.IN_BREACH else None)
        carrying = (_policy_carrying(g.policy_override_json)
                    or _policy_carrying(policy_json.get(g.policy_version_id)) or "zero")
        grant_index[g.id] = len(positions)
        positions.append(Position(key=f"g{g.id}", company_id=g.company_id, company=name,
                                  sector=sector, vintage=g.signed_on.year, grant_id=g.id,
                                  status=g.status.value, carrying=carrying,
                                  closed_on=closed.toordinal() if closed else None))
    h = Holding.__table__.c
    holding_index: dict[int, int] = {}
    c_pos: list[int] = []
    c_day: list[int] = []
    c_units: list[int] = []
    c_cost: list[int] = []
    for hid, company_id, grant_id, acquired_on, status, initial_units, initial_cost, units, \
            cost, origin in session.execute(select(
                h.id, h.company_id, h.grant_id, _raw(h.acquired_on), _raw(h.status),
                _raw(h.initial_units), _raw(h.initial_cost_amount), _raw(h.units),
                _raw(h.cost_amount), _raw(h.origin)).where(
                    h.acquired_on <= as_of,
                    h.status != HoldingStatus.REVERSED,  # issue 12: never existed
                    *((h.id.in_(only),) if only is not None else ()))
                .order_by(h.id)):
        if grant_id is not None and grant_id in grant_index:
            index = grant_index[grant_id]
        else:
            name, sector = company_of(company_id)
            index = len(positions)
            acquired_year = date.fromordinal(to_day(acquired_on)).year
            positions.append(Position(key=f"h{hid}", company_id=company_id, company=name,
                                      sector=sector, vintage=acquired_year))
        position = positions[index]
        position.holding_id = hid
        position.acquired_on = to_day(acquired_on)
        position.converted = origin == HoldingOrigin.CONVERSION.value
        position.status = status
        holding_index[hid] = index
        c_pos.append(index)
        c_day.append(position.acquired_on)
        c_units.append(initial_units if initial_units is not None else units)
        c_cost.append(initial_cost if initial_cost is not None else cost)

    f_pos: list[int] = []
    f_day: list[int] = []
    f_fen: list[int] = []
    f_kind: list[str] = []

    def add_flow(index: int, day: int, fen: int, kind: str) -> None:
        f_pos.append(index)
        f_day.append(day)
        f_fen.append(fen)
        f_kind.append(kind)

    # Converted grants whose holding is read: their money is split between the holding and
    # what stayed a grant (below).
    cv = Conversion.__table__.c
    converted = {grant_id: (to_day(on), fen) for grant_id, on, fen in session.execute(
        select(cv.grant_id, cv.converted_on, _raw(cv.converted_amount))
        .where(cv.converted_on <= as_of, cv.reversed_at.is_(None)))
        if grant_id in grant_index and positions[grant_index[grant_id]].converted}
    held_back: dict[int, list[tuple[int, int, str]]] = {grant_id: [] for grant_id in converted}
    for table, on_column, kind in ((GrantDisbursement.__table__, "paid_on",
                                    FlowKind.GRANT_DISBURSEMENT.value),
                                   (GrantRefund.__table__, "refunded_on", FlowKind.REFUND.value)):
        on = table.c[on_column]
        sign = -1 if kind in _OUTFLOWS else 1
        standing = (table.c.reversed_at.is_(None) if "reversed_at" in table.c
                    else on.is_not(None))  # a reversed payment (issue 12) is no flow
        for grant_id, day, fen in session.execute(select(
                table.c.grant_id, _raw(on), _raw(table.c.amount)).where(
                    on <= as_of, standing,
                    *((table.c.grant_id.in_(list(grant_index)),) if only is not None else ()))
                .order_by(table.c.id)):
            index = grant_index.get(grant_id)
            if index is None:
                continue
            if grant_id in held_back:
                held_back[grant_id].append((to_day(day), sign * fen, kind))
            else:
                add_flow(index, to_day(day), sign * fen, kind)
    for grant_id, (converted_on, converted_fen) in converted.items():
        index = grant_index[grant_id]
        flows = held_back[grant_id]
        paid = [(n, -fen) for n, (day, fen, kind) in enumerate(flows)
                if kind == FlowKind.GRANT_DISBURSEMENT.value and day <= converted_on]
        paid.sort(key=lambda item: (flows[item[0]][0], item[0]))
        shares = dict(zip((n for n, _ in paid),
                          converted_shares(converted_fen, [fen for _, fen in paid]),
                          strict=True))
        rest = [(day, fen + shares.get(n, 0), kind) for n, (day, fen, kind) in enumerate(flows)]
        for n, share in shares.items():
            add_flow(index, flows[n][0], -share, FlowKind.GRANT_DISBURSEMENT.value)
        rest = [flow for flow in rest if flow[1]]
        if not rest:
            continue
        # metrics.md: the holding's cost is its converted amount; the rest of the grant's money
        # (the R6.d remainder, refunds) is a grant closed on the conversion date, all-in only.
        grant_position = positions[index]
        remainder = len(positions)
        positions.append(Position(
            key=f"g{grant_id}r", company_id=grant_position.company_id,
            company=grant_position.company, sector=grant_position.sector,
            vintage=grant_position.vintage, grant_id=grant_id, status=GrantStatus.CLOSED.value,
            carrying=grant_position.carrying, closed_on=converted_on, is_remainder=True))
        for day, fen, kind in rest:
            add_flow(remainder, day, fen, kind)
    fund_index = len(positions)

    # The largest table, read as five integer columns (six with the kinds), like the bare
    # SELECT of the benchmark: the owner (holding id, or minus the grant id of a recovery, or 0
    # for a fee of the fund) and the signed amount are worked out by the database.
    cf = CashFlow.__table__.c
    amount = _raw(cf.amount)
    owner = case((cf.holding_id.is_not(None), cf.holding_id),
                 else_=-func.coalesce(cf.grant_id, 0))
    signed = case((cf.kind.in_(sorted(OUTFLOW_KINDS)), -amount), else_=amount)
    columns = [owner, _raw(cf.on), signed, _raw(cf.units_delta), _raw(cf.cost_delta_amount)]
    if with_kinds:
        columns.append(_raw(cf.kind))
    statement = select(*columns)
    # Usually nothing is dated after as_of (today): then the filter is left out, because
    # SQLite, without statistics, would walk the index on the date and fetch every row by it.
    latest = session.scalar(select(func.max(cf.on)))
    if latest is not None and latest > as_of:
        statement = statement.where(cf.on <= as_of)
    if only is not None:
        statement = statement.where(or_(cf.holding_id.in_(only), and_(
            cf.holding_id.is_(None), cf.grant_id.in_(list(grant_index)))))
    rows = session.execute(statement).all()
    count = len(rows)
    stored = [np.zeros(0, dtype=np.int64)] * 5
    kinds: tuple[str, ...] = ()
    if rows:
        values = list(zip(*rows, strict=True))
        owners_raw, days_raw, fens, units_deltas, cost_deltas = values[:5]
        kinds = values[5] if with_kinds else ()
        keys = np.fromiter(owners_raw, dtype=np.int64, count=count)
        owners = np.full(count, fund_index, dtype=np.int64)
        for ids, table_of, sign in ((holding_index, keys, 1), (grant_index, -keys, -1)):
            if not ids:
                continue
            lookup = np.full(max(ids) + 1, fund_index, dtype=np.int64)
            lookup[list(ids)] = list(ids.values())
            mine = (sign * keys > 0) & (table_of <= max(ids))
            owners[mine] = lookup[table_of[mine]]
        cache = {value: to_day(value) for value in set(days_raw)}
        stored = [owners, np.fromiter(map(cache.__getitem__, days_raw), np.int64, count),
                  np.fromiter(fens, np.int64, count), np.fromiter(units_deltas, np.int64, count),
                  np.fromiter(cost_deltas, np.int64, count)]
    owners, days, fens, units_deltas, cost_deltas = stored
    changed = ((units_deltas != 0) | (cost_deltas != 0)) & (owners != fund_index)
    flow_pos, flow_day, flow_fen, order = _by_position(
        np.concatenate((np.asarray(f_pos, dtype=np.int64), owners)),
        np.concatenate((np.asarray(f_day, dtype=np.int64), days)),
        np.concatenate((np.asarray(f_fen, dtype=np.int64), fens)))
    flow_kind = [*f_kind, *kinds] if with_kinds else []
    change_pos, change_day, change_units, change_cost, _ = _by_position(
        np.concatenate((np.asarray(c_pos, dtype=np.int64), owners[changed])),
        np.concatenate((np.asarray(c_day, dtype=np.int64), days[changed])),
        np.concatenate((np.asarray(c_units, dtype=np.int64), units_deltas[changed])),
        np.concatenate((np.asarray(c_cost, dtype=np.int64), cost_deltas[changed])))

    vm = ValuationMark.__table__.c
    m_pos: list[int] = []
    m_day: list[int] = []
    m_value: list[int] = []
    for holding_id, day, value in session.execute(
            select(vm.holding_id, _raw(vm.measured_on), _raw(vm.value_per_unit))
            .where(vm.status == MarkStatus.FINAL.value, vm.measured_on <= as_of,
                   *((vm.holding_id.in_(only),) if only is not None else ()))
            .order_by(vm.measured_on, vm.id)):
        index = holding_index.get(holding_id)
        if index is not None:
            m_pos.append(index)
            m_day.append(to_day(day))
            m_value.append(value)
    mark_pos, mark_day, mark_value, _ = _by_position(
        np.asarray(m_pos, dtype=np.int64), np.asarray(m_day, dtype=np.int64),
        np.asarray(m_value, dtype=np.int64))
    if len(mark_pos):  # several final marks on one day: the last recorded wins
        last = np.r_[(mark_pos[1:] != mark_pos[:-1]) | (mark_day[1:] != mark_day[:-1]), True]
        mark_pos, mark_day, mark_value = mark_pos[last], mark_day[last], mark_value[last]
    positions.append(Position(key="fund", company_id=None, company="", sector="",
                              vintage=None))
    book = Book(positions, flow_pos, flow_day, flow_fen, flow_kind, order, change_pos,
                change_day, change_units, change_cost, mark_pos, mark_day, mark_value,
                fund_index)
    _read_receivables(session, book, holding_index, as_of, to_day)
    return book


NEVER = np.iinfo(np.int64).max


def _read_receivables(session: Session, book: Book, holding_index: dict[int, int], as_of: date,
                      to_day: _Days) -> None:
    """R9.d: the unpaid principal of each instalment of a deferred exit balance (an exchange
    sale, a buy-back) is the fund's receivable, in NAV at face value from the transfer until the
    instalment is paid; once paid, principal and interest are a distribution (a cash flow).
    One query for every instalment of the fund."""
    ex = Exit.__table__.c
    ins = ExitInstalment.__table__.c
    pos, start, until, fen, due = [], [], [], [], []
    for holding_id, transfer_on, balance, due_on, paid_on in session.execute(
            select(ex.holding_id, ex.transfer_on, _raw(ins.principal_amount), ins.due_on,
                   ins.paid_on)
            .join_from(ExitInstalment.__table__, Exit.__table__, ins.exit_id == ex.id)
            .where(ins.principal_amount > 0, ex.transfer_on <= as_of)
            .order_by(ex.id, ins.number)):
        index = holding_index.get(holding_id)
        if index is None or not balance:
            continue
        paid = to_day(paid_on)
        pos.append(index)
        start.append(to_day(transfer_on))
        until.append(paid if paid is not None and paid <= as_of.toordinal() else NEVER)
        fen.append(int(balance))
        due.append(due_on if isinstance(due_on, date) or due_on is None
                   else date.fromisoformat(due_on))
    book.receivable_pos = np.asarray(pos, dtype=np.int64)
    book.receivable_from = np.asarray(start, dtype=np.int64)
    book.receivable_until = np.asarray(until, dtype=np.int64)
    book.receivable_fen = np.asarray(fen, dtype=np.int64)
    book.receivable_due = due


def receivables_on(book: Book, points: Sequence[int]) -> np.ndarray:
    """Outstanding deferred exit balances in fen of every position (rows) on every day."""
    days = np.asarray(points, dtype=np.int64)
    out = np.zeros((len(book.positions), len(days)), dtype=np.int64)
    if len(book.receivable_pos):
        open_on = ((book.receivable_from[:, None] <= days[None, :])
                   & (days[None, :] < book.receivable_until[:, None]))
        np.add.at(out, book.receivable_pos, open_on * book.receivable_fen[:, None])
    return out


def converted_shares(converted_fen: int, paid_fen: Sequence[int]) -> list[int]:
    """The converted amount dated pro rata over the disbursements (metrics.md, 2026-11-29).

    Each disbursement × converted / disbursed by the conversion, half-up to the fen, the last
    one taking the rounding difference, so the shares sum exactly to the converted amount. When
    nothing was refunded before the closing, disbursed = the converting amount (R4.a).
    """
    total = sum(paid_fen)
    if not paid_fen or total <= 0:
        return [0] * len(paid_fen)
    shares = [(2 * fen * converted_fen + total) // (2 * total) for fen in paid_fen[:-1]]
    return [*shares, converted_fen - sum(shares)]


# --------------------------------------------------------------------------- NAV


def running_totals(pos: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running totals of `values` restarting at each position (arrays sorted by position)."""
    if not len(values):
        return values
    total = np.cumsum(values)
    starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
    before = total[starts] - values[starts]
    return total - np.repeat(before, np.diff(np.r_[starts, len(values)]))


def latest_on(pos: np.ndarray, day: np.ndarray, values: np.ndarray, q_pos: np.ndarray,
              q_day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The value of the latest row of each queried position on or before each queried day."""
    if not len(pos):
        return np.zeros(len(q_pos), dtype=np.int64), np.zeros(len(q_pos), dtype=bool)
    keys = (pos << DAY_BITS) | day
    index = np.searchsorted(keys, (q_pos << DAY_BITS) | q_day, side="right") - 1
    clipped = np.maximum(index, 0)
    found = (index >= 0) & (pos[clipped] == q_pos)
    return np.where(found, values[clipped], 0), found


def navs_on(book: Book, points: Sequence[int]) -> np.ndarray:
    """NAV in fen of every position (rows) on every day in `points` (columns)."""
    count, days = len(book.positions), np.asarray(points, dtype=np.int64)
    q_pos = np.repeat(np.arange(count, dtype=np.int64), len(days))
    q_day = np.tile(days, count)
    units, _ = latest_on(book.change_pos, book.change_day,
                         running_totals(book.change_pos, book.change_units), q_pos, q_day)
    cost, _ = latest_on(book.change_pos, book.change_day,
                        running_totals(book.change_pos, book.change_cost), q_pos, q_day)
    value, marked = latest_on(book.mark_pos, book.mark_day, book.mark_value, q_pos, q_day)
    paid, _ = latest_on(book.flow_pos, book.flow_day, running_totals(book.flow_pos, book.flow_fen),
                        q_pos, q_day)
    big = np.iinfo(np.int64).max
    acquired = np.array([p.acquired_on if p.acquired_on is not None else big
                         for p in book.positions], dtype=np.int64)[q_pos]
    closed = np.array([p.closed_on if p.closed_on is not None else big
                       for p in book.positions], dtype=np.int64)[q_pos]
    at_cost = np.array([p.carrying == "cost" for p in book.positions], dtype=bool)[q_pos]
    # units (cents) × value (millionths) / 10**6 = fen; exact in int64 while it fits, else in
    # Python integers. Rounded half to even, like Decimal.quantize by default.
    units_held = np.maximum(units, 0)
    if len(units_held) and int(units_held.max()) * int(max(int(value.max()), 1)) >= 2**62:
        product = units_held.astype(object) * value.astype(object)
    else:
        product = units_held * value
    whole, rest = np.divmod(product, 10**6)
    up = (rest > 500_000) | ((rest == 500_000) & (whole % 2 == 1))
    marked_nav = (whole + up).astype(np.int64)
    holding_nav = np.where(units <= 0, 0, np.where(marked, marked_nav, cost))
    grant_nav = np.where(closed <= q_day, 0, np.where(at_cost, np.maximum(0, -paid), 0))
    nav = np.where(acquired <= q_day, holding_nav, grant_nav).reshape(count, len(days))
    return nav + receivables_on(book, points)
