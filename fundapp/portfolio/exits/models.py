"""Exits: sales (or a liquidation) of some or all of a holding's units, with their terms."""

from __future__ import annotations

import enum
import json
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundapp.db import Base, Money, ScaledDecimal, TimestampMixin, enum_column


class ExitKind(enum.StrEnum):
    BUYBACK = "buyback"            # R7
    EXCHANGE = "exchange"          # R9
    TRADE_SALE = "trade_sale"
    IPO_SALE = "ipo_sale"
    LIQUIDATION = "liquidation"


class Exit(TimestampMixin, Base):
    """A sale (or liquidation) of some or all of a holding's units and its terms."""

    __tablename__ = "exits"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("price_amount >= 0", name="price_not_negative"),
        CheckConstraint("balance_amount >= 0", name="balance_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holding_id: Mapped[int] = mapped_column(ForeignKey("holdings.id"), index=True)
    kind: Mapped[ExitKind] = mapped_column(enum_column(ExitKind, 20), index=True)
    transfer_on: Mapped[date] = mapped_column(Date, index=True)
    units: Mapped[Decimal] = mapped_column(ScaledDecimal(2))
    price_amount: Mapped[Decimal] = mapped_column(Money())  # total consideration
    cost_amount: Mapped[Decimal] = mapped_column(Money())  # cost basis of the units sold
    buyer: Mapped[str] = mapped_column(String(200), default="")
    balance_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    balance_due_on: Mapped[date | None] = mapped_column(Date)
    balance_paid_on: Mapped[date | None] = mapped_column(Date)
    is_closing: Mapped[bool] = mapped_column(Boolean, default=False)
    details_json: Mapped[str] = mapped_column(Text, default="{}")  # floor sheet, R9 checks
    recorded_by: Mapped[str] = mapped_column(String(320), default="")
    # The deferred balance's schedule (R9.d, buy-backs): one line per instalment, by number.
    instalments: Mapped[list[ExitInstalment]] = relationship(
        back_populates="exit", order_by="ExitInstalment.number", cascade="all, delete-orphan")

    @property
    def details(self) -> dict[str, Any]:
        return json.loads(self.details_json or "{}")


class ExitInstalment(TimestampMixin, Base):
    """One instalment of an exit's deferred balance: its principal (a receivable in NAV at face
    value until paid) and its interest (received with it, a distribution when paid)."""

    __tablename__ = "exit_instalments"
    __table_args__ = (
        UniqueConstraint("exit_id", "number"),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint("principal_amount >= 0", name="principal_not_negative"),
        CheckConstraint("interest_amount >= 0", name="interest_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exit_id: Mapped[int] = mapped_column(ForeignKey("exits.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    principal_amount: Mapped[Decimal] = mapped_column(Money())
    interest_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    paid_on: Mapped[date | None] = mapped_column(Date)
    paid_amount: Mapped[Decimal | None] = mapped_column(Money())
    # The reminder job notes when it told the fund managers: once before the due date, once late.
    reminded_on: Mapped[date | None] = mapped_column(Date)
    overdue_notified_on: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(320), default="")

    exit: Mapped[Exit] = relationship(back_populates="instalments")

    @property
    def total_amount(self) -> Decimal:
        return self.principal_amount + self.interest_amount
