"""Public-market index series uploaded for PME."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundapp.db import Base, ScaledDecimal, TimestampMixin


class IndexSeries(TimestampMixin, Base):
    """A public-market index uploaded as CSV (date, level), for PME."""

    __tablename__ = "index_series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # the index's name in English documents (issue 15); "" = the name above
    name_en: Mapped[str] = mapped_column(String(100), default="", server_default="")
    uploaded_by: Mapped[str] = mapped_column(String(320), default="")
    levels: Mapped[list[IndexLevel]] = relationship(
        back_populates="series", order_by="IndexLevel.on", cascade="all, delete-orphan")


class IndexLevel(Base):
    __tablename__ = "index_levels"
    __table_args__ = (UniqueConstraint("series_id", "on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("index_series.id", ondelete="CASCADE"),
                                           index=True)
    on: Mapped[date] = mapped_column(Date)
    level: Mapped[Decimal] = mapped_column(ScaledDecimal(6))
    series: Mapped[IndexSeries] = relationship(back_populates="levels")
