"""Reading grants, rounds, conversions and cap tables for pages and the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from fundapp.deals.models import Deal, DealStage
from fundapp.portfolio.models import (
    CapTable,
    Conversion,
    FinancingRound,
    Grant,
    GrantStatus,
    PolicyVersion,
)


def grants_query(status: str = "", company_id: int | None = None) -> Select:
    stmt = select(Grant).order_by(Grant.signed_on.desc(), Grant.id.desc())
    if status in {s.value for s in GrantStatus}:
        stmt = stmt.where(Grant.status == GrantStatus(status))
    if company_id is not None:
        stmt = stmt.where(Grant.company_id == company_id)
    return stmt


def deals_ready_for_agreement(session: Session) -> list[Deal]:
    """Deals at "agreement signed" that have no grant agreement yet."""
    return list(session.scalars(select(Deal).where(Deal.stage == DealStage.AGREEMENT_SIGNED,
                                                   ~Deal.id.in_(select(Grant.deal_id)))
                                .order_by(Deal.id)).unique())


def policy_versions(session: Session) -> list[PolicyVersion]:
    return list(session.scalars(select(PolicyVersion).order_by(PolicyVersion.effective_on.desc(),
                                                               PolicyVersion.id.desc())))


def company_rounds(session: Session, company_id: int) -> list[FinancingRound]:
    return list(session.scalars(select(FinancingRound)
                                .where(FinancingRound.company_id == company_id)
                                .order_by(FinancingRound.closed_on, FinancingRound.id)).unique())


def cap_table_view(session: Session, company_id: int) -> dict[str, Any]:
    """The current cap table and the history of rounds and conversions, as plain data."""
    tables = list(session.scalars(select(CapTable).where(CapTable.company_id == company_id)
                                  .order_by(CapTable.as_of, CapTable.id)))
    current = tables[-1] if tables else None
    rows = []
    if current is not None:
        total = sum((r.units for r in current.rows), 0)
        for r in current.rows:
            percent = r.percent
            if percent is None and total:
                percent = (r.units * 100 / total).quantize(r.units.__class__("0.0001"))
            rows.append({"holder": r.holder, "units": r.units, "percent": percent,
                         "is_fund": r.is_fund})
    history: list[dict[str, Any]] = []
    for rnd in company_rounds(session, company_id):
        history.append({"kind": "round", "on": rnd.closed_on.isoformat(), "round_id": rnd.id,
                        "name": rnd.name, "round_kind": rnd.kind.value,
                        "new_money_amount": str(rnd.new_money_amount),
                        "pre_money_valuation_amount": str(rnd.pre_money_valuation_amount),
                        "units_before": str(rnd.units_before)})
    conversions = session.scalars(select(Conversion).join(Grant)
                                  .where(Grant.company_id == company_id)
                                  .order_by(Conversion.converted_on, Conversion.id))
    for conv in conversions:
        history.append({"kind": "conversion", "on": conv.converted_on.isoformat(),
                        "round_id": conv.round_id, "grant_id": conv.grant_id,
                        "fund_units": str(conv.fund_units),
                        "stake_percent": str(conv.stake_percent),
                        "converted_amount": str(conv.converted_amount)})
    history.sort(key=lambda h: (h["on"], h["kind"] == "conversion"))
    return {"company_id": company_id, "as_of": current.as_of if current else None,
            "rows": rows, "history": history}


def index_levels_for(session: Session, name: str | None = None
                     ) -> tuple[str, list[tuple[Any, Any]]] | None:
    """(name, [(date, level)]) of the named index series, or of the latest uploaded one."""
    from fundapp.portfolio.models import IndexLevel, IndexSeries

    stmt = select(IndexSeries.id, IndexSeries.name)
    stmt = stmt.where(IndexSeries.name == name) if name else stmt.order_by(IndexSeries.id.desc())
    row = session.execute(stmt.limit(1)).first()
    if row is None:
        return None
    points = session.execute(select(IndexLevel.on, IndexLevel.level)
                             .where(IndexLevel.series_id == row.id)
                             .order_by(IndexLevel.on)).all()
    return row.name, [(p.on, p.level) for p in points]
