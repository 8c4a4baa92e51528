"""What the dashboard shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundapp.auth.models import User
from fundapp.compliance.models import LedgerEntry, LedgerHead
from fundapp.fund.models import Fund
from fundapp.main.actions import action_label


def dashboard_summary(session: Session, user: User) -> dict[str, Any]:
    fund = session.scalar(select(Fund).order_by(Fund.id).limit(1))
    summary: dict[str, Any] = {
        "fund": None if fund is None else {
            "name": fund.name, "name_en": fund.name_en, "committed_amount": fund.committed_amount,
            "established_on": fund.established_on, "platform_name": fund.platform_name,
        },
        "user_count": session.scalar(select(func.count()).select_from(User)
                                     .where(User.is_active.is_(True))),
        # The chain's entries are numbered 1, 2, 3...: its head's number is their count,
        # one row read instead of counting a million (issue 14).
        "ledger_count": session.scalar(select(LedgerHead.seq).where(LedgerHead.id == 1)) or 0,
        "recent": [],
        "roles": sorted(r.value for r in user.roles),
    }
    rows = session.execute(select(LedgerEntry.seq, LedgerEntry.recorded_at, LedgerEntry.actor,
                                  LedgerEntry.action)
                           .where(LedgerEntry.actor == user.email)
                           .order_by(LedgerEntry.seq.desc()).limit(5)).all()
    summary["recent"] = [{**row._mapping, "recorded_at": _shanghai(row.recorded_at),
                          "action_label": action_label(row.action)} for row in rows]
    return summary


def _shanghai(recorded_at: str) -> str:
    """The ledger's UTC timestamp as the reader's wall-clock time in Asia/Shanghai."""
    try:
        moment = datetime.fromisoformat(recorded_at)
    except ValueError:
        return recorded_at[:19].replace("T", " ")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
