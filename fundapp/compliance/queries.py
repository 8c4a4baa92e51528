"""Read-side queries of the compliance area."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import format_time, verify_chain
from fundapp.compliance.models import LedgerEntry
from fundapp.portfolio.models import Fund


def verification_report(session: Session, verified_by: str) -> dict[str, Any]:
    """Plain data for the ledger verification PDF: the chain is walked now, in full."""
    result = verify_chain(session)
    first_at, last_at = session.execute(select(func.min(LedgerEntry.recorded_at),
                                               func.max(LedgerEntry.recorded_at))).one()
    fund = session.scalar(select(Fund.name).order_by(Fund.id).limit(1))
    return {
        "fund_name": fund or "fundapp",
        "ok": result.ok,
        "problem": str(result.problem) if result.problem else "",
        "count": f"{result.count:,}",
        "head_hash": result.last_hash,
        "first_at": first_at,
        "last_at": last_at,
        "verified_at": format_time(datetime.now(UTC))[:19].replace("T", " "),
        "verified_by": verified_by,
    }
