"""Financing rounds as reported, with their investors, evidence documents and R3 checks."""

from __future__ import annotations

import enum
import json
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundapp.db import Base, Money, ScaledDecimal, TimestampMixin, enum_column
from fundapp.deals.models import Company


class RoundKind(enum.StrEnum):
    PRICED_EQUITY = "priced_equity"
    DEBT = "debt"
    CONVERTIBLE = "convertible"
    SECONDARY = "secondary"


class FinancingRound(TimestampMixin, Base):
    """A company's financing round as reported, with its investors and evidence (R3)."""

    __tablename__ = "financing_rounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[RoundKind] = mapped_column(enum_column(RoundKind, 20))
    closed_on: Mapped[date] = mapped_column(Date)
    definitive_agreement_signed_on: Mapped[date | None] = mapped_column(Date)
    pre_money_valuation_amount: Mapped[Decimal] = mapped_column(Money())
    units_before: Mapped[Decimal] = mapped_column(ScaledDecimal(2))  # LLC: CNY of RC; JSC: shares
    par_value_amount: Mapped[Decimal | None] = mapped_column(ScaledDecimal(4))
    recorded_by: Mapped[str] = mapped_column(String(320), default="")

    company: Mapped[Company] = relationship(lazy="joined")
    investors: Mapped[list[RoundInvestor]] = relationship(
        back_populates="round", order_by="RoundInvestor.position", cascade="all, delete-orphan")
    documents: Mapped[list[EvidenceDocument]] = relationship(
        back_populates="round", order_by="EvidenceDocument.id", cascade="all, delete-orphan")
    checks: Mapped[list[RoundCheck]] = relationship(
        back_populates="round", order_by="RoundCheck.grant_id", cascade="all, delete-orphan")

    @property
    def new_money_amount(self) -> Decimal:
        return sum((i.cash_amount for i in self.investors), Decimal("0.00"))


class RoundInvestor(Base):
    __tablename__ = "round_investors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("financing_rounds.id", ondelete="CASCADE"),
                                          index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    cash_amount: Mapped[Decimal] = mapped_column(Money())
    is_independent: Mapped[bool] = mapped_column(Boolean)
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False)
    round: Mapped[FinancingRound] = relationship(back_populates="investors")


class EvidenceDocument(TimestampMixin, Base):
    """An uploaded file (PDF or image, by its magic bytes); its bytes are an EvidenceBlob."""

    __tablename__ = "evidence_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("financing_rounds.id", ondelete="CASCADE"),
                                          index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(60))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_by: Mapped[str] = mapped_column(String(320), default="")
    round: Mapped[FinancingRound] = relationship(back_populates="documents")


class RoundCheck(TimestampMixin, Base):
    """The R3 result of a round for one open grant of its company, clause by clause."""

    __tablename__ = "round_checks"
    __table_args__ = (UniqueConstraint("round_id", "grant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("financing_rounds.id", ondelete="CASCADE"),
                                          index=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    is_qualifying: Mapped[bool] = mapped_column(Boolean)
    clauses_json: Mapped[str] = mapped_column(Text)
    round: Mapped[FinancingRound] = relationship(back_populates="checks")

    @property
    def clauses(self) -> list[dict[str, Any]]:
        return json.loads(self.clauses_json)


class EvidenceBlob(TimestampMixin, Base):
    """The bytes of evidence documents, once per SHA-256, in the database so that every host
    serves them (issue 16). Documents with the same content share one blob."""

    __tablename__ = "evidence_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
