"""The investment committee's part of the quarterly job: the supervisors' portfolio report."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.jobs import register_quarter_end
from fundapp.compliance.ledger import SYSTEM_ACTOR
from fundapp.compliance.subjects import register_subject_names
from fundapp.ic.models import IcMeeting
from fundapp.ic.quarterly import generate_quarterly_report, latest_report


def quarterly_portfolio_report(session: Session, quarter: str, start: date, end: date) -> None:
    """Once per quarter (idempotent by the quarter): generate the report if it is missing."""
    if latest_report(session, quarter) is None:
        generate_quarterly_report(session, quarter, actor=SYSTEM_ACTOR)


register_quarter_end("ic.quarterly_report", quarterly_portfolio_report)


# How the ledger page names an IC meeting (fundapp.compliance.subjects): by its title.
@register_subject_names("ic_meeting")
def _meeting_names():
    return select(IcMeeting.id, IcMeeting.title, IcMeeting.title_en), IcMeeting.id
