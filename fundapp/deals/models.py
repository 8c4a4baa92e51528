"""Companies and the deals (applications to the fund) that move through the R11 pipeline."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundapp.db import Base, Money, ScaledDecimal, TimestampMixin, UTCDateTime


def _enum(cls: type[enum.Enum], length: int = 30) -> Enum:
    return Enum(cls, native_enum=False, length=length,
                values_callable=lambda members: [m.value for m in members])


class LegalForm(enum.StrEnum):
    LLC = "llc"  # 有限责任公司: units are registered capital in CNY
    JSC = "jsc"  # 股份有限公司: units are shares with a par value


class Company(TimestampMixin, Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    # Lower-case, punctuation and legal-form suffixes removed: matches sign-up sheets to companies.
    normalised_name: Mapped[str] = mapped_column(String(200), index=True)
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    district: Mapped[str] = mapped_column(String(100), default="")
    legal_form: Mapped[LegalForm] = mapped_column(_enum(LegalForm, 10), default=LegalForm.LLC)
    registered_capital_amount: Mapped[Decimal | None] = mapped_column(Money())
    share_count: Mapped[int | None] = mapped_column(Integer)
    par_value_amount: Mapped[Decimal] = mapped_column(ScaledDecimal(4), default=Decimal("1.00"))
    sector: Mapped[str] = mapped_column(String(40), default="")
    founded_on: Mapped[date | None] = mapped_column(Date)
    website: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")

    founders: Mapped[list[Founder]] = relationship(back_populates="company",
                                                   cascade="all, delete-orphan",
                                                   order_by="Founder.id")
    contacts: Mapped[list[Contact]] = relationship(back_populates="company",
                                                   cascade="all, delete-orphan",
                                                   order_by="Contact.id")
    deals: Mapped[list[Deal]] = relationship(back_populates="company", order_by="Deal.id")


class Founder(Base):
    __tablename__ = "founders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(100), default="")
    background: Mapped[str] = mapped_column(Text, default="")
    company: Mapped[Company] = relationship(back_populates="founders")


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    company: Mapped[Company] = relationship(back_populates="contacts")


class DealStage(enum.StrEnum):
    """R11, in order; the last three are side states a deal can leave again (on hold) or not."""

    FORMAL_CHECK = "formal_check"
    ROADSHOW = "roadshow"
    EXPERT_REVIEW = "expert_review"
    DUE_DILIGENCE = "due_diligence"
    IC_DECISION = "ic_decision"
    PUBLIC_NOTICE = "public_notice"
    AGREEMENT_SIGNED = "agreement_signed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    ON_HOLD = "on_hold"


PIPELINE: tuple[DealStage, ...] = (
    DealStage.FORMAL_CHECK, DealStage.ROADSHOW, DealStage.EXPERT_REVIEW,
    DealStage.DUE_DILIGENCE, DealStage.IC_DECISION, DealStage.PUBLIC_NOTICE,
    DealStage.AGREEMENT_SIGNED,
)


class Deal(TimestampMixin, Base):
    """A company's application to the fund."""

    __tablename__ = "deals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    project_name: Mapped[str] = mapped_column(String(200))
    requested_grant_amount: Mapped[Decimal] = mapped_column(Money())
    approved_budget_amount: Mapped[Decimal] = mapped_column(Money())
    project_summary: Mapped[str] = mapped_column(Text, default="")
    milestone_plan: Mapped[str] = mapped_column(Text, default="")
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    stage: Mapped[DealStage] = mapped_column(_enum(DealStage), default=DealStage.FORMAL_CHECK,
                                             index=True)
    # The pipeline stage a deal on hold returns to.
    held_from_stage: Mapped[DealStage | None] = mapped_column(_enum(DealStage))
    stage_entered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ic_decision_ref: Mapped[str] = mapped_column(String(100), default="")
    public_notice_started_on: Mapped[date | None] = mapped_column(Date)

    company: Mapped[Company] = relationship(back_populates="deals", lazy="joined")
    stage_changes: Mapped[list[DealStageChange]] = relationship(
        back_populates="deal", order_by="DealStageChange.id", cascade="all, delete-orphan")


class DealStageChange(Base):
    """Every move of a deal: who, when, why (also written to the ledger)."""

    __tablename__ = "deal_stage_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    from_stage: Mapped[DealStage | None] = mapped_column(_enum(DealStage))
    to_stage: Mapped[DealStage] = mapped_column(_enum(DealStage))
    actor: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deal: Mapped[Deal] = relationship(back_populates="stage_changes")
