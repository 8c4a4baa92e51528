"""Reading a company's financing rounds for pages, the API and the IC pack."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.portfolio.rounds.models import FinancingRound


def company_rounds(session: Session, company_id: int) -> list[FinancingRound]:
    return list(session.scalars(select(FinancingRound)
                                .where(FinancingRound.company_id == company_id)
                                .order_by(FinancingRound.closed_on, FinancingRound.id)).unique())
