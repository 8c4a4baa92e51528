"""Reference data an admin maintains: the working-day calendar and the 1-year LPR (R1, R7.b, R8.c)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Boolean, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fundapp.db import Base, ScaledDecimal, TimestampMixin


class CalendarDay(TimestampMixin, Base):
    """A day that differs from the Monday-Friday rule: a public holiday on a weekday
    (is_working_day False) or a make-up working day (调休) on a weekend (True)."""

    __tablename__ = "calendar_days"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    on: Mapped[date] = mapped_column(Date, unique=True)
    is_working_day: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(100), default="")


class LprRate(TimestampMixin, Base):
    """The 1-year Loan Prime Rate as published on a date; a rate as a decimal fraction per year."""

    __tablename__ = "lpr_rates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    published_on: Mapped[date] = mapped_column(Date, unique=True)
    rate: Mapped[Decimal] = mapped_column(ScaledDecimal(6))  # 0.0300 = 3.00% per year
