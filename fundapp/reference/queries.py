"""Reading the reference tables."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.reference.models import CalendarDay, LprRate


def calendar_overrides(session: Session, start: date, end: date) -> dict[date, bool]:
    rows = session.execute(select(CalendarDay.on, CalendarDay.is_working_day)
                           .where(CalendarDay.on >= start, CalendarDay.on <= end)).all()
    return {row.on: row.is_working_day for row in rows}


def lpr_on(session: Session, on: date) -> LprRate | None:
    """The 1-year LPR last published on or before `on` (R7.b), or None when none was."""
    return session.scalar(select(LprRate).where(LprRate.published_on <= on)
                          .order_by(LprRate.published_on.desc()).limit(1))


def lpr_rate_on(session: Session, on: date) -> Decimal | None:
    rate = lpr_on(session, on)
    return None if rate is None else rate.rate
