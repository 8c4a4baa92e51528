"""The fund, policy versions, grant agreements, rounds, conversions, holdings and cap tables."""

from __future__ import annotations

import enum
import json
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundapp.db import Base, Money, ScaledDecimal, TimestampMixin, enum_column
from fundapp.deals.models import Company, Deal


class Fund(TimestampMixin, Base):
    __tablename__ = "funds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    committed_amount: Mapped[Decimal] = mapped_column(Money())
    established_on: Mapped[date] = mapped_column(Date)
    platform_name: Mapped[str] = mapped_column(String(200), default="")


# --------------------------------------------------------------------------- grants (issue 4)
#
# Policies are versioned (rule book preamble); a grant agreement pins the version in force on its
# signing date, so a later version never rewrites it (R2-R8 read the pinned values).

class PolicyVersion(TimestampMixin, Base):
    """One version of the fund's policy parameters; never edited, only superseded."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(40), unique=True)
    effective_on: Mapped[date] = mapped_column(Date, index=True)
    # Canonical JSON of the parameters; decimals as strings (never floats, R1).
    values_json: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str] = mapped_column(String(200), default="")
    ic_resolution_ref: Mapped[str] = mapped_column(String(100), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(320), default="")

    @property
    def values(self) -> dict[str, Any]:
        from fundapp.portfolio.policies import ADDED_LATER  # a version stored before them

        return {**ADDED_LATER, **json.loads(self.values_json)}



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
    # Bumped by every conversion attempt: the UPDATE takes the row's write lock on both databases.
    lock_version: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(320), default="")

    deal: Mapped[Deal] = relationship(lazy="joined")
    company: Mapped[Company] = relationship(lazy="joined")
    policy_version: Mapped[PolicyVersion] = relationship(lazy="joined")
    tranches: Mapped[list[Tranche]] = relationship(back_populates="grant",
                                                   order_by="Tranche.position",
                                                   cascade="all, delete-orphan")
    disbursements: Mapped[list[GrantDisbursement]] = relationship(
        back_populates="grant", order_by="GrantDisbursement.paid_on, GrantDisbursement.id",
        cascade="all, delete-orphan")
    refunds: Mapped[list[GrantRefund]] = relationship(
        back_populates="grant", order_by="GrantRefund.refunded_on, GrantRefund.id",
        cascade="all, delete-orphan")
    conversion: Mapped[Conversion | None] = relationship(back_populates="grant", uselist=False)
    alternative_trigger: Mapped[AlternativeTrigger | None] = relationship(
        back_populates="grant", uselist=False)

    @property
    def policy_override(self) -> dict[str, Any]:
        return json.loads(self.policy_override_json or "{}")

    @property
    def disbursed_amount(self) -> Decimal:
        return sum((d.amount for d in self.disbursements), Decimal("0.00"))

    @property
    def refunded_amount(self) -> Decimal:
        return sum((r.amount for r in self.refunds), Decimal("0.00"))


class TrancheStatus(enum.StrEnum):
    PENDING = "pending"
    RELEASED = "released"
    CANCELLED = "cancelled"  # R4.b at conversion, or R8 at closure
    SUSPENDED = "suspended"  # R8.c


class Tranche(Base):
    """R2.b: one part of the award with its milestone; the amounts sum to the award."""

    __tablename__ = "grant_tranches"
    __table_args__ = (UniqueConstraint("grant_id", "position"),)

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
    __tablename__ = "grant_disbursements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    tranche_id: Mapped[int] = mapped_column(ForeignKey("grant_tranches.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    paid_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(320), default="")
    grant: Mapped[Grant] = relationship(back_populates="disbursements")
    tranche: Mapped[Tranche] = relationship(lazy="joined")


class GrantRefund(TimestampMixin, Base):
    __tablename__ = "grant_refunds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    refunded_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(320), default="")
    grant: Mapped[Grant] = relationship(back_populates="refunds")


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
    """An uploaded file (PDF or image, by its magic bytes) kept under the instance dir by SHA-256."""

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


class Conversion(TimestampMixin, Base):
    """A grant converted into equity (R4-R6). One per grant: the database enforces it."""

    __tablename__ = "conversions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), unique=True)
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

    grant: Mapped[Grant] = relationship(back_populates="conversion")
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


class HoldingOrigin(enum.StrEnum):
    CONVERSION = "conversion"  # R4-R6
    DIRECT = "direct"          # a direct (follow-on) investment without a grant


class HoldingStatus(enum.StrEnum):
    ACTIVE = "active"
    EXITED = "exited"              # every unit sold
    WRITTEN_OFF = "written_off"    # liquidated


class Holding(TimestampMixin, Base):
    """The platform's equity in a company from a conversion (state enterprise asset by default)."""

    __tablename__ = "holdings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    # Both None for a direct investment (issue 5).
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"), unique=True)
    conversion_id: Mapped[int | None] = mapped_column(ForeignKey("conversions.id"), unique=True)
    holder_entity: Mapped[str] = mapped_column(String(200))
    # Units and cost basis held now; as of a past date they are these minus the changes of the
    # cash flows dated after it (fundapp/portfolio/flows.py).
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


class CapTable(TimestampMixin, Base):
    """A company's cap table as of a date: before a round (as reported) or after a conversion."""

    __tablename__ = "cap_tables"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    as_of: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20))  # "before_round" | "conversion"
    round_id: Mapped[int | None] = mapped_column(ForeignKey("financing_rounds.id"), index=True)
    conversion_id: Mapped[int | None] = mapped_column(ForeignKey("conversions.id"), index=True)
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


class IdempotentRequest(TimestampMixin, Base):
    """The first answer to a request sent with an Idempotency-Key, replayed for repeats."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    scope: Mapped[str] = mapped_column(String(200))  # method and path
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_json: Mapped[str] = mapped_column(Text)


# --------------------------------------------------------------------------- portfolio (issue 5)
#
# Cash flows: grant disbursements and refunds already live in grant_disbursements and
# grant_refunds (issue 4); they are read from there, never copied. Every other money movement
# (follow-on investments, buy-back and exit proceeds, dividends, recoveries, fees) is one row of
# cash_flows, linked to the holding, exit or grant it comes from. See fundapp/portfolio/flows.py.


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

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holding_id: Mapped[int] = mapped_column(ForeignKey("holdings.id"), index=True)
    base_on: Mapped[date] = mapped_column(Date)
    units: Mapped[Decimal] = mapped_column(ScaledDecimal(2))
    value_amount: Mapped[Decimal] = mapped_column(Money())
    filing_no: Mapped[str] = mapped_column(String(100))
    filed_on: Mapped[date] = mapped_column(Date)
    appraiser: Mapped[str] = mapped_column(String(200), default="")
    recorded_by: Mapped[str] = mapped_column(String(320), default="")


class ExitKind(enum.StrEnum):
    BUYBACK = "buyback"            # R7
    EXCHANGE = "exchange"          # R9
    TRADE_SALE = "trade_sale"
    IPO_SALE = "ipo_sale"
    LIQUIDATION = "liquidation"


class Exit(TimestampMixin, Base):
    """A sale (or liquidation) of some or all of a holding's units and its terms."""

    __tablename__ = "exits"

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


class IndexSeries(TimestampMixin, Base):
    """A public-market index uploaded as CSV (date, level), for PME."""

    __tablename__ = "index_series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
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


class KpiReport(TimestampMixin, Base):
    """A quarterly KPI request to a portfolio company and, once answered, its figures."""

    __tablename__ = "kpi_reports"
    __table_args__ = (UniqueConstraint("company_id", "quarter"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    quarter: Mapped[str] = mapped_column(String(10), index=True)  # "2026Q3"
    period_start_on: Mapped[date] = mapped_column(Date)
    period_end_on: Mapped[date] = mapped_column(Date)
    requested_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    answered_on: Mapped[date | None] = mapped_column(Date)
    revenue_amount: Mapped[Decimal | None] = mapped_column(Money())
    rd_spend_amount: Mapped[Decimal | None] = mapped_column(Money())
    headcount: Mapped[int | None] = mapped_column(Integer)
    pct_applications: Mapped[int | None] = mapped_column(Integer)
    value_added_amount: Mapped[Decimal | None] = mapped_column(Money())
    entered_by: Mapped[str] = mapped_column(String(320), default="")
    source: Mapped[str] = mapped_column(String(20), default="")  # form | csv | api
