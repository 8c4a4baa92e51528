"""Reading grant agreements for pages and the API."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from fundapp.deals.models import Deal, DealStage
from fundapp.portfolio.grants.models import Grant, GrantStatus


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
