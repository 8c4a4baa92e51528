"""Holdings, their cash flows, valuation marks and filed appraisals (issue 5).

Cash flows: grant disbursements and refunds already live in grant_disbursements and grant_refunds
(issue 4); they are read from there, never copied. Every other money movement (follow-on
investments, buy-back and exit proceeds, dividends, recoveries, fees) is one row of cash_flows,
linked to the holding, exit or grant it comes from.
"""

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
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundapp.db import Base, Money, ScaledDecimal, TimestampMixin, enum_column
from fundapp.deals.models import Company


class HoldingOrigin(enum.StrEnum):
    CONVERSION = "conversion"  # R4-R6
    DIRECT = "direct"          # a direct (follow-on) investment without a grant


class HoldingStatus(enum.StrEnum):
    ACTIVE = "active"
    EXITED = "exited"              # every unit sold
    WRITTEN_OFF = "written_off"    # liquidated
    REVERSED = "reversed"          # its conversion was reversed (issue 12): it never existed


class Holding(TimestampMixin, Base):
    """The platform's equity in a company from a conversion (state enterprise asset by default)."""

    __tablename__ = "holdings"
    __table_args__ = (
        CheckConstraint("units >= 0", name="units_not_negative"),
        CheckConstraint("cost_amount >= 0", name="cost_not_negative"),
        # One standing holding per grant; a reversed one (issue 12) stays beside the new one.
        Index("uq_holdings_standing_grant_id", "grant_id", unique=True,
              sqlite_where=text("status <> 'reversed'"),
              postgresql_where=text("status <> 'reversed'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    # Both None for a direct investment (issue 5).
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"), index=True)
    conversion_id: Mapped[int | None] = mapped_column(ForeignKey("conversions.id"), unique=True)
    holder_entity: Mapped[str] = mapped_column(String(200))
    # Units and cost basis held now; as of a past date they are these minus the changes of the
    # cash flows dated after it (fundapp/portfolio/performance/book.py).
    units: Mapped[Decimal] = mapped_column(ScaledDecimal(2))
    cost_amount: Mapped[Decimal] = mapped_column(Money())
    acquired_on: Mapped[date] = mapped_column(Date)
    is_state_asset: Mapped[bool] = mapped_column(Boolean, default=True)  # R7.d
    origin: Mapped[HoldingOrigin] = mapped_column(enum_column(HoldingOrigin, 20),
                                                  default=HoldingOrigin.CONVERSION)
    status: Mapped[HoldingStatus] = mapped_column(enum_column(HoldingStatus, 20),
                                                  default=HoldingStatus.ACTIVE, index=True)
    closed_on: Mapped[date | None] = mapped_column(Date)
    # The converted amount or the first direct investment: cost before any follow-on or sale.
    initial_units: Mapped[Decimal | None] = mapped_column(ScaledDecimal(2))
    initial_cost_amount: Mapped[Decimal | None] = mapped_column(Money())

    company: Mapped[Company] = relationship(lazy="joined")


class FlowKind(enum.StrEnum):
    # Derived from issue 4's rows (never stored in cash_flows):
    GRANT_DISBURSEMENT = "grant_disbursement"
    REFUND = "refund"
    # Stored in cash_flows:
    FOLLOW_ON = "follow_on"
    BUYBACK_PROCEEDS = "buyback_proceeds"
    EXIT_PROCEEDS = "exit_proceeds"
    DIVIDEND = "dividend"
    RECOVERY = "recovery"
    FEE = "fee"


# Fund's side: outflows negative (metrics.md).
OUTFLOW_KINDS = frozenset({FlowKind.GRANT_DISBURSEMENT, FlowKind.FOLLOW_ON, FlowKind.FEE})
STORED_KINDS = (FlowKind.FOLLOW_ON, FlowKind.BUYBACK_PROCEEDS, FlowKind.EXIT_PROCEEDS,
                FlowKind.DIVIDEND, FlowKind.RECOVERY, FlowKind.FEE)


class CashFlow(TimestampMixin, Base):
    """A dated money movement other than a grant disbursement or refund; amount > 0, the kind
    gives the sign. units / cost_amount: the change this flow makes to the holding (a follow-on
    adds units and cost, a sale removes them)."""

    __tablename__ = "cash_flows"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[FlowKind] = mapped_column(enum_column(FlowKind, 30), index=True)
    on: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    holding_id: Mapped[int | None] = mapped_column(ForeignKey("holdings.id"), index=True)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"), index=True)
    exit_id: Mapped[int | None] = mapped_column(ForeignKey("exits.id"), index=True)
    units_delta: Mapped[Decimal] = mapped_column(ScaledDecimal(2), default=Decimal("0.00"))
    cost_delta_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    reference: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(320), default="")


class MarkMethod(enum.StrEnum):
    RECENT_ROUND = "recent_round"
    MULTIPLES = "multiples"
    DCF = "dcf"
    NET_ASSETS = "net_assets"
    QUOTED = "quoted"
    WRITE_OFF = "write_off"


class MarkStatus(enum.StrEnum):
    DRAFT = "draft"
    FINAL = "final"


class ValuationMark(TimestampMixin, Base):
    """A valuation of one holding's units on a measurement date; never edited once final."""

    __tablename__ = "valuation_marks"
    __table_args__ = (CheckConstraint("value_per_unit >= 0", name="value_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holding_id: Mapped[int] = mapped_column(ForeignKey("holdings.id"), index=True)
    measured_on: Mapped[date] = mapped_column(Date, index=True)
    method: Mapped[MarkMethod] = mapped_column(enum_column(MarkMethod, 20))
    inputs_json: Mapped[str] = mapped_column(Text, default="{}")
    value_per_unit: Mapped[Decimal] = mapped_column(ScaledDecimal(6))
    status: Mapped[MarkStatus] = mapped_column(enum_column(MarkStatus, 10), default=MarkStatus.DRAFT,
                                               index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(320))
    approver: Mapped[str] = mapped_column(String(320), default="")
    finalised_on: Mapped[date | None] = mapped_column(Date)

    @property
    def inputs(self) -> dict[str, Any]:
        return json.loads(self.inputs_json or "{}")


class Appraisal(TimestampMixin, Base):
    """A filed appraisal (评估备案) of a holding's units (R7.d, R9.a)."""

    __tablename__ = "appraisals"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("value_amount >= 0", name="value_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holding_id: Mapped[int] = mapped_column(ForeignKey("holdings.id"), index=True)
    base_on: Mapped[date] = mapped_column(Date)
    units: Mapped[Decimal] = mapped_column(ScaledDecimal(2))
    value_amount: Mapped[Decimal] = mapped_column(Money())
    filing_no: Mapped[str] = mapped_column(String(100))
    filed_on: Mapped[date] = mapped_column(Date)
    appraiser: Mapped[str] = mapped_column(String(200), default="")
    recorded_by: Mapped[str] = mapped_column(String(320), default="")
