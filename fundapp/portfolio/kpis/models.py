"""Quarterly KPI requests to portfolio companies and their answers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fundapp.db import Base, Money, TimestampMixin


class KpiReport(TimestampMixin, Base):
    """A quarterly KPI request to a portfolio company and, once answered, its figures."""

    __tablename__ = "kpi_reports"
    __table_args__ = (UniqueConstraint("company_id", "quarter"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    quarter: Mapped[str] = mapped_column(String(10), index=True)  # "2026Q3"
    period_start_on: Mapped[date] = mapped_column(Date)
    period_end_on: Mapped[date] = mapped_column(Date)
    requested_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    answered_on: Mapped[date | None] = mapped_column(Date)
    revenue_amount: Mapped[Decimal | None] = mapped_column(Money())
    rd_spend_amount: Mapped[Decimal | None] = mapped_column(Money())
    headcount: Mapped[int | None] = mapped_column(Integer)
    pct_applications: Mapped[int | None] = mapped_column(Integer)
    value_added_amount: Mapped[Decimal | None] = mapped_column(Money())
    entered_by: Mapped[str] = mapped_column(String(320), default="")
    source: Mapped[str] = mapped_column(String(20), default="")  # form | csv | api
