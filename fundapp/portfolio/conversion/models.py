"""Conversions of grants into equity (R4-R6), R3.f alternative triggers and cap tables."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundapp.db import Base, Money, ScaledDecimal, TimestampMixin, UTCDateTime
from fundapp.portfolio.grants.models import Grant
from fundapp.portfolio.rounds.models import FinancingRound


class Conversion(TimestampMixin, Base):
    """A grant converted into equity (R4-R6). One standing conversion per grant: the database
    enforces it (a partial unique index). A conversion is never deleted: a wrong one is reversed
    (issue 12, with the IC resolution that decided it) and stays visible as reversed."""

    __tablename__ = "conversions"
    __table_args__ = (
        CheckConstraint("converting_amount > 0", name="converting_positive"),
        CheckConstraint("converted_amount > 0", name="converted_positive"),
        CheckConstraint("fund_units > 0", name="units_positive"),
        # A reversal is whole: when, by whom, why and the IC resolution, or none of them.
        CheckConstraint("(reversed_at IS NULL AND reversed_on IS NULL) OR (reversed_at IS NOT "
                        "NULL AND reversed_on IS NOT NULL AND reversal_ic_reference <> '' "
                        "AND reversal_reason <> '')", name="reversal_complete"),
        Index("uq_conversions_standing_grant_id", "grant_id", unique=True,
              sqlite_where=text("reversed_at IS NULL"),
              postgresql_where=text("reversed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), index=True)
    # R3.f: a conversion priced by a filed appraisal has no round ("appraisal" basis).
    basis: Mapped[str] = mapped_column(String(20), default="round", server_default="round")
    round_id: Mapped[int | None] = mapped_column(ForeignKey("financing_rounds.id"), index=True)
    converted_on: Mapped[date] = mapped_column(Date)
    converting_amount: Mapped[Decimal] = mapped_column(Money())
    converted_amount: Mapped[Decimal] = mapped_column(Money())
    remaining_grant_amount: Mapped[Decimal] = mapped_column(Money())
    round_price: Mapped[Decimal] = mapped_column(ScaledDecimal(6))  # shown half-up (R5)
    conversion_price: Mapped[Decimal] = mapped_column(ScaledDecimal(6))
    fund_units: Mapped[Decimal] = mapped_column(ScaledDecimal(2))
    post_round_units: Mapped[Decimal] = mapped_column(ScaledDecimal(2))
    stake_percent: Mapped[Decimal] = mapped_column(ScaledDecimal(4))  # R6.c, 4.0000 = 4%
    registered_capital_increase_amount: Mapped[Decimal] = mapped_column(Money())
    capital_reserve_amount: Mapped[Decimal] = mapped_column(Money())
    is_stake_capped: Mapped[bool] = mapped_column(Boolean, default=False)
    ic_resolution_ref: Mapped[str] = mapped_column(String(100), default="")  # R6.e
    registration_due_on: Mapped[date] = mapped_column(Date)  # R6.g
    registered_on: Mapped[date | None] = mapped_column(Date)
    sheet_json: Mapped[str] = mapped_column(Text)  # the whole calculation sheet (R12)
    converted_by: Mapped[str] = mapped_column(String(320), default="")
    # Issue 12: the reversal (a correction, never a deletion).
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reversed_on: Mapped[date | None] = mapped_column(Date)
    reversed_by: Mapped[str] = mapped_column(String(320), default="", server_default="")
    reversal_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    reversal_ic_reference: Mapped[str] = mapped_column(String(100), default="",
                                                       server_default="")

    grant: Mapped[Grant] = relationship(back_populates="conversion")

    @property
    def is_reversed(self) -> bool:
        return self.reversed_at is not None
    round: Mapped[FinancingRound | None] = relationship(lazy="joined")

    @property
    def sheet(self) -> dict[str, Any]:
        return json.loads(self.sheet_json)


class AlternativeTrigger(TimestampMixin, Base):
    """R3.f: an agreed alternative condition recorded as met, with the filed appraisal that
    prices the conversion instead of a round. At most one per grant."""

    __tablename__ = "grant_alternative_triggers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), unique=True)
    condition: Mapped[str] = mapped_column(Text)
    met_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(200))  # the evidence that it was met
    appraised_value_amount: Mapped[Decimal] = mapped_column(Money())  # pre-money equity value
    base_on: Mapped[date] = mapped_column(Date)
    units_outstanding: Mapped[Decimal] = mapped_column(ScaledDecimal(2))
    filing_no: Mapped[str] = mapped_column(String(100))
    filed_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(320), default="")

    grant: Mapped[Grant] = relationship(back_populates="alternative_trigger")


class CapTable(TimestampMixin, Base):
    """A company's cap table as of a date: before a round (as reported) or after a conversion."""

    __tablename__ = "cap_tables"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    as_of: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20))  # "before_round" | "conversion"
    round_id: Mapped[int | None] = mapped_column(ForeignKey("financing_rounds.id"), index=True)
    conversion_id: Mapped[int | None] = mapped_column(ForeignKey("conversions.id"), index=True)
    # Issue 12: set when the conversion that wrote this table was reversed; the table stays
    # (shown struck through) but is no longer the company's current one.
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rows: Mapped[list[CapTableRow]] = relationship(
        back_populates="cap_table", order_by="CapTableRow.position", cascade="all, delete-orphan")


class CapTableRow(Base):
    __tablename__ = "cap_table_rows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cap_table_id: Mapped[int] = mapped_column(ForeignKey("cap_tables.id", ondelete="CASCADE"),
                                              index=True)
    position: Mapped[int] = mapped_column(Integer)
    holder: Mapped[str] = mapped_column(String(200))
    units: Mapped[Decimal] = mapped_column(ScaledDecimal(2))
    percent: Mapped[Decimal | None] = mapped_column(ScaledDecimal(4))
    is_fund: Mapped[bool] = mapped_column(Boolean, default=False)
    cap_table: Mapped[CapTable] = relationship(back_populates="rows")
