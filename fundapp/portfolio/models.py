"""The fund itself; holdings, marks and exits join it in later work."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fundapp.db import Base, Money, TimestampMixin


class Fund(TimestampMixin, Base):
    __tablename__ = "funds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    committed_amount: Mapped[Decimal] = mapped_column(Money())
    established_on: Mapped[date] = mapped_column(Date)
    platform_name: Mapped[str] = mapped_column(String(200), default="")
