"""Scheduled work of portfolio-company KPIs: the quarterly request and the overdue reminder."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from fundapp.compliance.jobs import register_reminder
from fundapp.compliance.ledger import SYSTEM_ACTOR
from fundapp.dates import previous_quarter, shanghai_today
from fundapp.extensions import db
from fundapp.portfolio.kpis.operations import remind_overdue_kpis, request_quarterly_kpis
from fundapp.scheduler import JobSpec, register_job


def request_kpis_job() -> str:
    """Quarterly: open last quarter's KPI report requests (with due dates) for every portfolio
    company; the requests are kept per (company, quarter), so a second run asks nobody twice."""
    quarter, start, end = previous_quarter(shanghai_today())
    made = request_quarterly_kpis(db.session, quarter, start, end, actor=SYSTEM_ACTOR)
    if not made:
        return f"KPI reports for {quarter}: nothing new to request"
    return f"KPI reports for {quarter} requested from {made} companies"


def overdue_kpi_reminder(session: Session, today: date) -> str:
    """Part of the daily reminders: flag each unanswered request past its due date, once."""
    return f"{remind_overdue_kpis(session, today)} overdue KPI reports flagged"


register_job(JobSpec("kpi.request", request_kpis_job,
                     {"month": "1,4,7,10", "day": "1", "hour": "9", "minute": "0"},
                     timedelta(days=30)))
register_reminder("kpi.overdue", overdue_kpi_reminder)
