"""Exits: sales (or a liquidation) of some or all of a holding's units, with their terms."""

from __future__ import annotations

import enum
import json
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

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

    @property
    def details(self) -> dict[str, Any]:
        return json.loads(self.details_json or "{}")
