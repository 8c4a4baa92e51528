"""What the dashboard shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundapp.auth.models import User
from fundapp.compliance.models import LedgerEntry
from fundapp.fund.models import Fund


def dashboard_summary(session: Session, user: User) -> dict[str, Any]:
    fund = session.scalar(select(Fund).order_by(Fund.id).limit(1))
    summary: dict[str, Any] = {
        "fund": None if fund is None else {
            "name": fund.name, "name_en": fund.name_en, "committed_amount": fund.committed_amount,
            "established_on": fund.established_on, "platform_name": fund.platform_name,
        },
        "user_count": session.scalar(select(func.count()).select_from(User)
                                     .where(User.is_active.is_(True))),
        "ledger_count": session.scalar(select(func.count()).select_from(LedgerEntry)),
        "recent": [],
        "roles": sorted(r.value for r in user.roles),
    }
    rows = session.execute(select(LedgerEntry.seq, LedgerEntry.recorded_at, LedgerEntry.actor,
                                  LedgerEntry.action)
                           .where(LedgerEntry.actor == user.email)
                           .order_by(LedgerEntry.seq.desc()).limit(5)).all()
    summary["recent"] = [dict(row._mapping) for row in rows]
    return summary
