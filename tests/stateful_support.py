"""What the stateful property test (tests/test_stateful.py) needs around its state machine: a fresh
database per example, the fund it starts from, a snapshot of every table, and the invariants.

The invariants read the database only (plain SELECTs), never the operations' own helpers, so an
operation that forgets a check, a ledger entry or a rollback cannot also hide it here.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import fundapp.models  # noqa: F401  (every table is in the metadata the snapshot walks)
from fundapp.compliance.ledger import verify_chain
from fundapp.compliance.models import LedgerEntry, LedgerHead
from fundapp.db import Base
from fundapp.deals import operations as deal_ops
from fundapp.deals.models import DealStage, DealStageChange
from fundapp.extensions import db
from fundapp.fund.operations import create_fund
from fundapp.portfolio.conversion.models import CapTable, CapTableRow, Conversion
from fundapp.portfolio.exits.models import Exit
from fundapp.portfolio.grants.models import (
    Grant,
    GrantDisbursement,
    GrantRefund,
    GrantStatus,
    MilestoneReview,
    Tranche,
)
from fundapp.portfolio.holdings.models import (
    CashFlow,
    Holding,
    HoldingStatus,
    MarkStatus,
    ValuationMark,
)
from fundapp.portfolio.rounds.models import FinancingRound
from fundapp.reference.models import LprRate
from fundapp.unit_of_work import transaction
from tests.conftest import _pg_connect
from tests.deals.factories import uscc

HUNDRED = Decimal("100.0000")
ZERO = Decimal("0")


# --------------------------------------------------------------------------- fresh databases


@dataclass
class FreshDatabase:
    """Gives the app's database URL a fresh, fully migrated database again, cloned from the
    run's template as the `database` fixture does (a file copy on SQLite, CREATE DATABASE ...
    TEMPLATE on PostgreSQL): the ledger's triggers forbid deleting entries, so examples cannot
    share one database."""

    url: str
    template: str | Path

    @property
    def dialect(self) -> str:
        return make_url(self.url).get_backend_name()

    def __post_init__(self) -> None:
        if self.dialect == "sqlite":
            # Thousands of small commits: skip the fsync of each (a crash loses a test database,
            # nothing else; what a transaction sees and commits is unchanged).
            event.listen(db.engine, "connect", _no_fsync)

    def reset(self) -> None:
        db.session.remove()
        db.engine.dispose()
        if self.dialect == "sqlite":
            path = Path(make_url(self.url).database)
            for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                extra.unlink(missing_ok=True)
            shutil.copyfile(self.template, path)
            return
        name = make_url(self.url).database
        with _pg_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')


def _no_fsync(dbapi_connection, connection_record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous = OFF")
    cursor.close()


# --------------------------------------------------------------------------- the starting fund


def seed(companies: int = 2) -> list[int]:
    """The fund (with the default policy), a 1-year LPR and the companies; returns their ids."""
    ids = []
    with transaction():
        create_fund(db.session, name="测试基金", committed_amount=Decimal("500000000.00"),
                    established_on=date(2020, 1, 1), actor="test")
        db.session.add(LprRate(published_on=date(2019, 8, 20), rate=Decimal("0.0345")))
        for n in range(1, companies + 1):
            company = deal_ops.create_company(db.session, actor="test",
                                              legal_name=f"状态机科技{n}有限公司", uscc=uscc(n),
                                              sector="ai",
                                              registered_capital_amount=Decimal("10000000.00"))
            ids.append(company.id)
    return ids


def signed_deal(company_id: int) -> int:
    """A deal of the company at "agreement signed", as the pipeline leaves it (test data)."""
    with transaction():
        deal = deal_ops.create_deal(db.session, actor="test", company_id=company_id,
                                    project_name="状态机项目",
                                    requested_grant_amount=Decimal("5000000.00"),
                                    approved_budget_amount=Decimal("10000000.00"))
        deal.stage = DealStage.AGREEMENT_SIGNED
        db.session.add(DealStageChange(deal_id=deal.id, from_stage=DealStage.FORMAL_CHECK,
                                       to_stage=DealStage.AGREEMENT_SIGNED, actor="test",
                                       reason="test data", changed_at=datetime.now(UTC)))
        db.session.flush()
        return deal.id


# --------------------------------------------------------------------------- snapshots


LEDGER_TABLES = frozenset({LedgerEntry.__tablename__, LedgerHead.__tablename__})


_EVERY_ROW = [(table.name, select(table).order_by(*(list(table.primary_key.columns)
                                                     or list(table.columns))))
              for table in Base.metadata.sorted_tables]


def snapshot(session: Session) -> dict[str, str]:
    """A digest of every row of every table, by table: equal snapshots, equal databases.

    Core statements on the session's connection (the ORM's per-query overhead would triple the
    time of a run: two snapshots are taken around every step)."""
    conn = session.connection()
    return {name: hashlib.sha256(repr(conn.execute(stmt).all()).encode()).hexdigest()
            for name, stmt in _EVERY_ROW}


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before if before[name] != after.get(name))


# --------------------------------------------------------------------------- invariants


def _rows(session: Session, *columns, join=None):
    """Plain rows through Core on the session's connection (the ORM's overhead is not needed)."""
    stmt = select(*columns)
    if join is not None:
        stmt = stmt.join(*join)
    return session.connection().execute(stmt).all()


# Actions whose entries the rows below account for; other actions (policy, company, deal
# entries, or entries a newer operation adds) are not compared.
COUNTED_ACTIONS = frozenset({
    "grant.signed", "grant.tranche_released", "grant.refund_recorded", "grant.converted",
    "grant.milestone_reviewed", "grant.rd_accepted", "round.recorded", "mark.drafted",
    "mark.finalised", "grant.closed_as_grant", "grant.closed_with_tolerance",
    "grant.breach_declared", "grant.remainder_closed"})
COUNTED_PREFIXES = ("exit.", "cash_flow.")


def ledger_actions(session: Session) -> Counter:
    """(action, subject id) of every ledger entry whose action the state accounts for."""
    return Counter((a, s) for a, s in _rows(session, LedgerEntry.action, LedgerEntry.subject_id)
                   if a in COUNTED_ACTIONS or a.startswith(COUNTED_PREFIXES))


def expected_ledger_actions(session: Session) -> Counter:
    """The ledger entries the rows in the database call for, as (action, subject id).

    The fund runs on the default policy (convert_base "disbursed"), so every payment is a
    tranche_released entry of its own; none is made at closing by a conversion (R4.a)."""
    want: Counter = Counter()
    statuses = {GrantStatus.CLOSED: "grant.closed_as_grant",
                GrantStatus.CLOSED_TOLERANCE: "grant.closed_with_tolerance",
                GrantStatus.IN_BREACH: "grant.breach_declared"}
    for grant_id, status, accepted_on in _rows(session, Grant.id, Grant.status,
                                               Grant.rd_accepted_on):
        want["grant.signed", str(grant_id)] += 1
        if accepted_on is not None:
            want["grant.rd_accepted", str(grant_id)] += 1
        if status in statuses:
            want[statuses[status], str(grant_id)] += 1
    simple = [("grant.tranche_released", GrantDisbursement.grant_id, None),
              ("grant.refund_recorded", GrantRefund.grant_id, None),
              ("grant.milestone_reviewed", Tranche.grant_id,
               (MilestoneReview, MilestoneReview.tranche_id == Tranche.id)),
              ("grant.converted", Conversion.grant_id, None),
              ("round.recorded", FinancingRound.id, None)]
    for action, column, join in simple:
        for (subject,) in _rows(session, column, join=join):
            want[action, str(subject)] += 1
    for grant_id, remaining in _rows(session, Conversion.grant_id,
                                     Conversion.remaining_grant_amount):
        if remaining > 0:  # R6.d: the part above the stake cap closes with its own entry
            want["grant.remainder_closed", str(grant_id)] += 1
    for exit_id, kind in _rows(session, Exit.id, Exit.kind):
        want[f"exit.{kind.value}", str(exit_id)] += 1
    for flow_id, kind in _rows(session, CashFlow.id, CashFlow.kind):
        want[f"cash_flow.{kind.value}", str(flow_id)] += 1
    for mark_id, status in _rows(session, ValuationMark.id, ValuationMark.status):
        want["mark.drafted", str(mark_id)] += 1
        if status == MarkStatus.FINAL:
            want["mark.finalised", str(mark_id)] += 1
    return want


def _maintained(column: str):
    """A grant's maintained total (issue 11), when the model has it as a column."""
    return Grant.__table__.c.get(column)


def check_invariants(session: Session, today: date) -> None:
    """Every invariant of issue 11 the database must hold after any sequence of operations."""
    chain = verify_chain(session)
    assert chain.ok, f"the ledger does not verify: {chain.problem}"

    # Grants: disbursed <= awarded, refunded <= disbursed, each tranche paid at most its amount,
    # and the maintained totals (if any) equal the payments.
    disbursed: dict[int, Decimal] = Counter()
    tranche_paid: dict[int, Decimal] = Counter()
    for grant_id, tranche_id, amount in _rows(session, GrantDisbursement.grant_id,
                                              GrantDisbursement.tranche_id,
                                              GrantDisbursement.amount):
        assert amount > 0, f"grant {grant_id} has a disbursement of {amount}"
        disbursed[grant_id] += amount
        tranche_paid[tranche_id] += amount
    refunded: dict[int, Decimal] = Counter()
    for grant_id, amount in _rows(session, GrantRefund.grant_id, GrantRefund.amount):
        assert amount > 0, f"grant {grant_id} has a refund of {amount}"
        refunded[grant_id] += amount
    totals = [c for c in (_maintained("disbursed_amount"), _maintained("refunded_amount"))
              if c is not None]
    for grant_id, awarded, *kept in _rows(session, Grant.id, Grant.awarded_amount, *totals):
        paid, back = disbursed.get(grant_id, ZERO), refunded.get(grant_id, ZERO)
        assert paid <= awarded, f"grant {grant_id}: disbursed {paid} > awarded {awarded}"
        assert back <= paid, f"grant {grant_id}: refunded {back} > disbursed {paid}"
        assert kept == [paid, back][:len(kept)], (
            f"grant {grant_id}: maintained totals {kept}, payments say {paid} paid, {back} back")
    for tranche_id, grant_id, amount in _rows(session, Tranche.id, Tranche.grant_id,
                                              Tranche.amount):
        paid = tranche_paid.get(tranche_id, ZERO)
        assert paid <= amount, f"grant {grant_id}: tranche paid {paid} > its amount {amount}"

    # Conversions: an amount > 0 (R4) and units > 0, the amount paid by the closing less what
    # was refunded by then (R4.a), a remainder above the stake cap closed on the conversion day
    # (R6.d); their cap tables sum to 100.0000%.
    payments = _rows(session, GrantDisbursement.grant_id, GrantDisbursement.paid_on,
                     GrantDisbursement.amount)
    refunds = _rows(session, GrantRefund.grant_id, GrantRefund.refunded_on, GrantRefund.amount)
    closed_on = dict(_rows(session, Grant.id, Grant.closed_on))
    post_units = {}
    for conversion_id, grant_id, basis, on, converting, converted, units, post, remaining in _rows(
            session, Conversion.id, Conversion.grant_id, Conversion.basis,
            Conversion.converted_on, Conversion.converting_amount, Conversion.converted_amount,
            Conversion.fund_units, Conversion.post_round_units, Conversion.remaining_grant_amount):
        assert converting > 0 and converted > 0 and units > 0, (
            f"grant {grant_id} converted at {converting} (converted {converted}, {units} units)")
        post_units[conversion_id] = post
        if basis == "round":
            by_closing = (sum((a for g, d, a in payments if g == grant_id and d <= on), ZERO)
                          - sum((a for g, d, a in refunds if g == grant_id and d <= on), ZERO))
            assert converting == by_closing, (
                f"grant {grant_id} converted {converting} on {on}, but the payments less refunds "
                f"dated by then are {by_closing} now (R4.a)")
        if remaining > 0:
            assert closed_on[grant_id] == on, (
                f"grant {grant_id}: the R6.d remainder {remaining} is not closed on {on}")
    tables: dict[int, list] = {}
    for table_id, source, conversion_id, units, percent in _rows(
            session, CapTable.id, CapTable.source, CapTable.conversion_id, CapTableRow.units,
            CapTableRow.percent, join=(CapTableRow, CapTableRow.cap_table_id == CapTable.id)):
        tables.setdefault(table_id, [source, conversion_id, []])[2].append((units, percent))
    for table_id, (source, conversion_id, rows) in tables.items():
        assert all(units >= 0 for units, _ in rows), f"cap table {table_id} has negative units"
        if source != "conversion":
            continue  # as reported before a round: units only, no percentages
        total = sum((p for _, p in rows), ZERO)
        assert total == HUNDRED, f"cap table {table_id} sums to {total}%, not 100.0000%"
        units = sum((u for u, _ in rows), ZERO)
        assert units == post_units[conversion_id], (
            f"cap table {table_id} holds {units} units, the conversion says "
            f"{post_units[conversion_id]}")

    # Holdings: units >= 0, and what the flows say (sold <= held); open exactly while units > 0.
    deltas: dict[int, Decimal] = Counter()
    for holding_id, delta in _rows(session, CashFlow.holding_id, CashFlow.units_delta):
        if holding_id is not None:
            deltas[holding_id] += delta
    for holding_id, units, cost, initial, status in _rows(
            session, Holding.id, Holding.units, Holding.cost_amount, Holding.initial_units,
            Holding.status):
        assert units >= 0, f"holding {holding_id} has {units} units"
        assert cost >= 0, f"holding {holding_id} has a cost of {cost}"
        flows = (initial or ZERO) + deltas.get(holding_id, ZERO)
        assert units == flows, f"holding {holding_id}: {units} units, its flows say {flows}"
        assert (status == HoldingStatus.ACTIVE) == (units > 0), (
            f"holding {holding_id} is {status.value} with {units} units")

    # Every state change has its ledger entry, and every entry its change.
    want, have = expected_ledger_actions(session), ledger_actions(session)
    assert want == have, ("the ledger and the state disagree: entries missing "
                          f"{dict(want - have)}, entries without their change {dict(have - want)}")

    # Nothing the fund records is dated after today in Shanghai.
    dated = [("disbursement", GrantDisbursement.paid_on), ("refund", GrantRefund.refunded_on),
             ("round", FinancingRound.closed_on), ("conversion", Conversion.converted_on),
             ("exit", Exit.transfer_on), ("valuation mark", ValuationMark.measured_on),
             ("cash flow", CashFlow.on)]
    for what, column in dated:
        late = session.connection().execute(select(column).where(column > today)
                                            .limit(1)).scalar()
        assert late is None, f"a {what} is dated {late}, after today ({today}) in Shanghai"
