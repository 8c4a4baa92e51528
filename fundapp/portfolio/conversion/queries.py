"""Reading a company's cap table and its history of rounds and conversions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.portfolio.conversion.models import CapTable, Conversion
from fundapp.portfolio.grants.models import Grant
from fundapp.portfolio.rounds.queries import company_rounds


def cap_table_view(session: Session, company_id: int) -> dict[str, Any]:
    """The current cap table and the history of rounds and conversions, as plain data."""
    # A table written by a conversion later reversed (issue 12) is no longer current.
    tables = list(session.scalars(select(CapTable).where(CapTable.company_id == company_id,
                                                         CapTable.reversed_at.is_(None))
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
                        "converted_amount": str(conv.converted_amount),
                        # issue 12: a reversed conversion stays in the history, struck through
                        "reversed_on": (conv.reversed_on.isoformat()
                                        if conv.reversed_on else None),
                        "reversal_reason": conv.reversal_reason,
                        "reversal_ic_reference": conv.reversal_ic_reference})
    history.sort(key=lambda h: (h["on"], h["kind"] == "conversion"))
    return {"company_id": company_id, "as_of": current.as_of if current else None,
            "rows": rows, "history": history}
