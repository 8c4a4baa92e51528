"""Grant agreements (拨款协议), their tranches, milestone reviews, disbursements and refunds (R2, R8).

Each agreement pins the policy version in force on its signing date (fundapp.fund.models).
"""

from __future__ import annotations

import enum
import json
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

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

from fundapp.db import Base, Money, TimestampMixin, UTCDateTime, enum_column
from fundapp.deals.models import Company, Deal
from fundapp.fund.models import PolicyVersion

if TYPE_CHECKING:  # resolved by name when the mappers are configured (fundapp/models.py)
    from fundapp.portfolio.conversion.models import AlternativeTrigger, Conversion


class GrantStatus(enum.StrEnum):
    DISBURSING = "disbursing"          # signed, tranches being released
    RD_ACCEPTED = "rd_accepted"        # R2.c acceptance recorded, waiting for a round
    CONVERTED = "converted"            # R4-R6 done
    CLOSED = "closed"                  # R8.a closed as a grant (结题)
    CLOSED_TOLERANCE = "closed_tolerance"  # R8.b closed with tolerance (结项免责)
    IN_BREACH = "in_breach"            # R8.c suspended, recovery due


OPEN_STATUSES = (GrantStatus.DISBURSING, GrantStatus.RD_ACCEPTED)


class Grant(TimestampMixin, Base):
    """A grant agreement (拨款协议) signed with a company for one deal."""

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint("awarded_amount > 0", name="awarded_positive"),
        CheckConstraint("disbursed_amount >= 0 AND disbursed_amount <= awarded_amount",
                        name="disbursed_within_award"),
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= disbursed_amount",
                        name="refunded_within_disbursed"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"), unique=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    fund_id: Mapped[int | None] = mapped_column(ForeignKey("funds.id"), index=True)
    agreement_no: Mapped[str] = mapped_column(String(60), default="")
    awarded_amount: Mapped[Decimal] = mapped_column(Money())
    approved_budget_amount: Mapped[Decimal] = mapped_column(Money())
    signed_on: Mapped[date] = mapped_column(Date)
    holder_entity: Mapped[str] = mapped_column(String(200))
    exit_filing_no: Mapped[str] = mapped_column(String(100), default="")  # R7.d
    exit_filed_on: Mapped[date | None] = mapped_column(Date)  # R7.d
    alternative_conditions: Mapped[str] = mapped_column(Text, default="")  # R3.f
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"), index=True)
    # Per-agreement override (JSON of changed parameters) and the IC resolution allowing it.
    policy_override_json: Mapped[str] = mapped_column(Text, default="{}")
    override_ic_ref: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[GrantStatus] = mapped_column(enum_column(GrantStatus), default=GrantStatus.DISBURSING,
                                                index=True)
    rd_due_on: Mapped[date] = mapped_column(Date)  # R2.c
    rd_accepted_on: Mapped[date | None] = mapped_column(Date)
    rd_acceptance_ref: Mapped[str] = mapped_column(String(100), default="")
    window_end_on: Mapped[date] = mapped_column(Date)  # R3.b
    grace_end_on: Mapped[date] = mapped_column(Date)  # R3.b + grace_days
    closed_on: Mapped[date | None] = mapped_column(Date)
    closure_ref: Mapped[str] = mapped_column(String(100), default="")
    closure_note: Mapped[str] = mapped_column(Text, default="")
    breach_on: Mapped[date | None] = mapped_column(Date)  # R8.c
    breach_reason: Mapped[str] = mapped_column(Text, default="")
    recovery_due_on: Mapped[date | None] = mapped_column(Date)
    recovery_principal_amount: Mapped[Decimal | None] = mapped_column(Money())
    recovery_interest_amount: Mapped[Decimal | None] = mapped_column(Money())
    # Maintained totals (every disbursement and refund adds to them under the grant's lock); the
    # database refuses a total above the award (CHECK constraints in __table_args__).
    disbursed_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"),
                                                      server_default="0")
    refunded_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"),
                                                     server_default="0")
    created_by: Mapped[str] = mapped_column(String(320), default="")

    deal: Mapped[Deal] = relationship(lazy="joined")
    company: Mapped[Company] = relationship(lazy="joined")
    policy_version: Mapped[PolicyVersion] = relationship(lazy="joined")
    tranches: Mapped[list[Tranche]] = relationship(back_populates="grant",
                                                   order_by="Tranche.position",
                                                   cascade="all, delete-orphan")
    # The standing payments: every total and rule reads these. A reversed payment (issue 12) is
    # only in ``all_disbursements``, which the history shows.
    disbursements: Mapped[list[GrantDisbursement]] = relationship(
        back_populates="grant", order_by="GrantDisbursement.paid_on, GrantDisbursement.id",
        primaryjoin="and_(Grant.id == GrantDisbursement.grant_id, "
                    "GrantDisbursement.reversed_at.is_(None))",
        cascade="all, delete-orphan")
    all_disbursements: Mapped[list[GrantDisbursement]] = relationship(
        order_by="GrantDisbursement.paid_on, GrantDisbursement.id", viewonly=True)
    refunds: Mapped[list[GrantRefund]] = relationship(
        back_populates="grant", order_by="GrantRefund.refunded_on, GrantRefund.id",
        cascade="all, delete-orphan")
    # The standing conversion; a reversed one (issue 12) is only in ``conversions``.
    conversion: Mapped[Conversion | None] = relationship(
        back_populates="grant", uselist=False,
        primaryjoin="and_(Grant.id == Conversion.grant_id, Conversion.reversed_at.is_(None))")
    conversions: Mapped[list[Conversion]] = relationship(
        order_by="Conversion.id", viewonly=True)
    alternative_trigger: Mapped[AlternativeTrigger | None] = relationship(
        back_populates="grant", uselist=False)

    @property
    def policy_override(self) -> dict[str, Any]:
        return json.loads(self.policy_override_json or "{}")



class TrancheStatus(enum.StrEnum):
    PENDING = "pending"
    RELEASED = "released"
    CANCELLED = "cancelled"  # R4.b at conversion, or R8 at closure
    SUSPENDED = "suspended"  # R8.c


class Tranche(Base):
    """R2.b: one part of the award with its milestone; the amounts sum to the award."""

    __tablename__ = "grant_tranches"
    __table_args__ = (UniqueConstraint("grant_id", "position"),
                      CheckConstraint("amount > 0", name="amount_positive"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 1 = released on signing
    amount: Mapped[Decimal] = mapped_column(Money())
    milestone: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[TrancheStatus] = mapped_column(enum_column(TrancheStatus, 20),
                                                  default=TrancheStatus.PENDING)
    grant: Mapped[Grant] = relationship(back_populates="tranches")
    reviews: Mapped[list[MilestoneReview]] = relationship(
        back_populates="tranche", order_by="MilestoneReview.id", cascade="all, delete-orphan")


class MilestoneReview(TimestampMixin, Base):
    """A milestone review of a tranche (R2.b): only a passed review lets the tranche go out."""

    __tablename__ = "milestone_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tranche_id: Mapped[int] = mapped_column(ForeignKey("grant_tranches.id", ondelete="CASCADE"),
                                            index=True)
    is_passed: Mapped[bool] = mapped_column(Boolean)
    reviewer: Mapped[str] = mapped_column(String(200))
    reviewed_on: Mapped[date] = mapped_column(Date)
    evidence: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(320), default="")
    tranche: Mapped[Tranche] = relationship(back_populates="reviews")


class GrantDisbursement(TimestampMixin, Base):
    """A payment to the company. One recorded wrongly is reversed (issue 12), never edited or
    deleted: a reversed payment stays visible and counts for nothing."""

    __tablename__ = "grant_disbursements"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("(reversed_at IS NULL AND reversed_on IS NULL) OR (reversed_at IS NOT "
                        "NULL AND reversed_on IS NOT NULL AND reversal_reason <> '')",
                        name="reversal_complete"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    tranche_id: Mapped[int] = mapped_column(ForeignKey("grant_tranches.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    paid_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(320), default="")
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reversed_on: Mapped[date | None] = mapped_column(Date)
    reversed_by: Mapped[str] = mapped_column(String(320), default="", server_default="")
    reversal_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    grant: Mapped[Grant] = relationship(back_populates="disbursements")

    @property
    def is_reversed(self) -> bool:
        return self.reversed_at is not None
    tranche: Mapped[Tranche] = relationship(lazy="joined")


class GrantRefund(TimestampMixin, Base):
    __tablename__ = "grant_refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    refunded_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(320), default="")
    grant: Mapped[Grant] = relationship(back_populates="refunds")
