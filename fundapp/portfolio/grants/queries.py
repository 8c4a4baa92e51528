"""Reading grant agreements for pages and the API."""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from fundapp.deals.models import Company, Deal, DealStage
from fundapp.portfolio.grants.models import Grant, GrantStatus
from fundapp.search import fold


def grants_query(status: str = "", company_id: int | None = None) -> Select:
    stmt = select(Grant).order_by(Grant.signed_on.desc(), Grant.id.desc())
    if status in {s.value for s in GrantStatus}:
        stmt = stmt.where(Grant.status == GrantStatus(status))
    if company_id is not None:
        stmt = stmt.where(Grant.company_id == company_id)
    return stmt


PICKER_LIMIT = 20  # deals the new grant page's picker lists at once (issue 14: not all)


def deals_ready_for_agreement(session: Session, query: str = "", *,
                              limit: int | None = None) -> list[Deal]:
    """Deals at "agreement signed" that have no grant agreement yet, matching `query` (the
    company's names, pinyin or credit code, or the project's name); at most `limit`."""
    stmt = (select(Deal).join(Company, Company.id == Deal.company_id)
            .where(Deal.stage == DealStage.AGREEMENT_SIGNED, ~Deal.id.in_(select(Grant.deal_id)))
            .order_by(Deal.id))
    folded, plain = fold(query)[:100], query.strip().lower()[:100]
    if folded or plain:
        stmt = stmt.where(or_(Company.search_key.like(_like(folded or plain), escape="\\"),
                              func.lower(Deal.project_name).like(_like(plain), escape="\\")))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt).unique())


def _like(text: str) -> str:
    """A LIKE pattern for `text` anywhere, with LIKE's own wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
