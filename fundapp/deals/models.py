"""Companies and the deals (applications to the fund) that move through the R11 pipeline."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundapp.db import Base, Money, ScaledDecimal, TimestampMixin, UTCDateTime, enum_column


class LegalForm(enum.StrEnum):
    LLC = "llc"  # 有限责任公司: units are registered capital in CNY
    JSC = "jsc"  # 股份有限公司: units are shares with a par value


class Company(TimestampMixin, Base):
    __tablename__ = "companies"
    # Lists of companies by name (the companies page and API, 50,000 of them: issue 14).
    __table_args__ = (Index("ix_companies_legal_name", "legal_name", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    # Lower-case, punctuation and legal-form suffixes removed: matches sign-up sheets to companies.
    normalised_name: Mapped[str] = mapped_column(String(200), index=True)
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    district: Mapped[str] = mapped_column(String(100), default="")
    legal_form: Mapped[LegalForm] = mapped_column(enum_column(LegalForm, 10), default=LegalForm.LLC)
    registered_capital_amount: Mapped[Decimal | None] = mapped_column(Money())
    share_count: Mapped[int | None] = mapped_column(Integer)
    par_value_amount: Mapped[Decimal] = mapped_column(ScaledDecimal(4), default=Decimal("1.00"))
    sector: Mapped[str] = mapped_column(String(40), default="")
    founded_on: Mapped[date | None] = mapped_column(Date)
    website: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # Names the company was registered under before (曾用名), one per line; found by search.
    former_names: Mapped[str] = mapped_column(Text, default="", server_default="")
    # What the search box matches (fundapp/search): names folded, their pinyin, the credit code.
    # Kept by the hook below on every insert and update through the ORM.
    search_key: Mapped[str] = mapped_column(String(2000), default="", server_default="")

    founders: Mapped[list[Founder]] = relationship(back_populates="company",
                                                   cascade="all, delete-orphan",
                                                   order_by="Founder.id")
    contacts: Mapped[list[Contact]] = relationship(back_populates="company",
                                                   cascade="all, delete-orphan",
                                                   order_by="Contact.id")
    deals: Mapped[list[Deal]] = relationship(back_populates="company", order_by="Deal.id")


@event.listens_for(Company, "before_insert")
@event.listens_for(Company, "before_update")
def _keep_search_key(_mapper, _connection, company: Company) -> None:
    """Index the company for the search box when it is written (fundapp/search)."""
    from fundapp.search import company_search_key

    company.search_key = company_search_key(company.legal_name, company.name_en or "",
                                            company.former_names or "", company.uscc)


class Founder(Base):
    __tablename__ = "founders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(100), default="")
    background: Mapped[str] = mapped_column(Text, default="")
    # English twins for English documents (issue 15); "" = not translated
    name_en: Mapped[str] = mapped_column(String(100), default="", server_default="")
    title_en: Mapped[str] = mapped_column(String(100), default="", server_default="")
    background_en: Mapped[str] = mapped_column(Text, default="", server_default="")
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


# The IC memo's fields on a deal (each also with an English twin "<name>_en").
MEMO_TEXTS = ("memo_recommendation", "memo_conditions", "memo_thesis", "memo_technology",
              "memo_market", "memo_use_of_funds", "memo_financials", "memo_dd_findings",
              "memo_risks")
MEMO_FIELDS = (*MEMO_TEXTS, *(f"{name}_en" for name in MEMO_TEXTS), "memo_reviewed_by",
               "memo_reviewed_by_en")
MEMO_MAX_CHARS = 8000

PIPELINE: tuple[DealStage, ...] = (
    DealStage.FORMAL_CHECK, DealStage.ROADSHOW, DealStage.EXPERT_REVIEW,
    DealStage.DUE_DILIGENCE, DealStage.IC_DECISION, DealStage.PUBLIC_NOTICE,
    DealStage.AGREEMENT_SIGNED,
)


class Deal(TimestampMixin, Base):
    """A company's application to the fund."""

    __tablename__ = "deals"
    # The board and the dashboard (issue 14): counts and sums per stage read the first index
    # alone; each column's longest-waiting cards are the start of the second.
    __table_args__ = (
        Index("ix_deals_stage_requested", "stage", "requested_grant_amount"),
        Index("ix_deals_stage_entered", "stage", "stage_entered_at", "id"),
        # The pickers: the first deals of one stage by id, without sorting the stage.
        Index("ix_deals_stage_id", "stage", "id"),
        # A company's deals; the R10.a check sums each company's open requests from it alone.
        Index("ix_deals_company_stage_requested", "company_id", "stage", "requested_grant_amount"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    project_name: Mapped[str] = mapped_column(String(200))
    project_name_en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    requested_grant_amount: Mapped[Decimal] = mapped_column(Money())
    approved_budget_amount: Mapped[Decimal] = mapped_column(Money())
    project_summary: Mapped[str] = mapped_column(Text, default="")
    milestone_plan: Mapped[str] = mapped_column(Text, default="")
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    stage: Mapped[DealStage] = mapped_column(enum_column(DealStage), default=DealStage.FORMAL_CHECK)
    # The pipeline stage a deal on hold returns to.
    held_from_stage: Mapped[DealStage | None] = mapped_column(enum_column(DealStage))
    stage_entered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ic_decision_ref: Mapped[str] = mapped_column(String(100), default="")
    # The day the committee decided (issue 12): the public notice starts on it or later.
    ic_decided_on: Mapped[date | None] = mapped_column(Date)
    public_notice_started_on: Mapped[date | None] = mapped_column(Date)
    # The roadshow the company pitched at (R11: the roadshow stage is mandatory).
    roadshow_id: Mapped[int | None] = mapped_column(ForeignKey("roadshows.id"), index=True)
    # The IC memo the manager writes (issue 15), in Chinese and optionally in English (the
    # English pack shows the *_en text where it is filled in). DD findings: one a line,
    # "finding | source | open/closed"; risks: "risk | likelihood | impact | mitigant".
    memo_recommendation: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_conditions: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_thesis: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_technology: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_market: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_use_of_funds: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_financials: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_dd_findings: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_risks: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_recommendation_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_conditions_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_thesis_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_technology_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_market_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_use_of_funds_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_financials_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_dd_findings_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_risks_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    memo_reviewed_by: Mapped[str] = mapped_column(String(200), default="", server_default="")
    memo_reviewed_by_en: Mapped[str] = mapped_column(String(200), default="", server_default="")

    company: Mapped[Company] = relationship(back_populates="deals", lazy="joined")
    stage_changes: Mapped[list[DealStageChange]] = relationship(
        back_populates="deal", order_by="DealStageChange.id", cascade="all, delete-orphan")
    roadshow: Mapped[Roadshow | None] = relationship()


class DealStageChange(Base):
    """Every move of a deal: who, when, why (also written to the ledger)."""

    __tablename__ = "deal_stage_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    from_stage: Mapped[DealStage | None] = mapped_column(enum_column(DealStage))
    to_stage: Mapped[DealStage] = mapped_column(enum_column(DealStage))
    actor: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deal: Mapped[Deal] = relationship(back_populates="stage_changes")


class RoadshowFormat(enum.StrEnum):
    OFFLINE = "offline"
    ONLINE = "online"


class Roadshow(TimestampMixin, Base):
    """A roadshow (项目路演) or matchmaking event (投资对接会) where companies pitch to a panel."""

    __tablename__ = "roadshows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    held_on: Mapped[date] = mapped_column(Date)
    venue: Mapped[str] = mapped_column(String(200), default="")
    venue_en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    organiser: Mapped[str] = mapped_column(String(200), default="")
    format: Mapped[RoadshowFormat] = mapped_column(enum_column(RoadshowFormat, 10),
                                                   default=RoadshowFormat.OFFLINE)

    criteria: Mapped[list[RoadshowCriterion]] = relationship(
        back_populates="roadshow", order_by="RoadshowCriterion.position",
        cascade="all, delete-orphan")
    slots: Mapped[list[RoadshowSlot]] = relationship(
        back_populates="roadshow", order_by="RoadshowSlot.position", cascade="all, delete-orphan")
    panel: Mapped[list[PanelMember]] = relationship(
        back_populates="roadshow", order_by="PanelMember.id", cascade="all, delete-orphan")


class RoadshowCriterion(Base):
    """A weighted scoring criterion; the weights of one roadshow sum to 100 (percent)."""

    __tablename__ = "roadshow_criteria"
    __table_args__ = (UniqueConstraint("roadshow_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roadshow_id: Mapped[int] = mapped_column(ForeignKey("roadshows.id", ondelete="CASCADE"),
                                             index=True)
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    weight_pct: Mapped[Decimal] = mapped_column(ScaledDecimal(2))  # 25.00 = 25% of the total
    position: Mapped[int] = mapped_column(Integer, default=0)
    roadshow: Mapped[Roadshow] = relationship(back_populates="criteria")


class RoadshowSlot(Base):
    """A company's pitch at a roadshow, in slot order."""

    __tablename__ = "roadshow_slots"
    __table_args__ = (UniqueConstraint("roadshow_id", "company_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roadshow_id: Mapped[int] = mapped_column(ForeignKey("roadshows.id", ondelete="CASCADE"),
                                             index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    roadshow: Mapped[Roadshow] = relationship(back_populates="slots")
    company: Mapped[Company] = relationship(lazy="joined")


class PanelMember(Base):
    """A judge: a user of the system, or an external expert known by name only."""

    __tablename__ = "panel_members"
    __table_args__ = (UniqueConstraint("roadshow_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roadshow_id: Mapped[int] = mapped_column(ForeignKey("roadshows.id", ondelete="CASCADE"),
                                             index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    affiliation: Mapped[str] = mapped_column(String(200), default="")
    name_en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    affiliation_en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    roadshow: Mapped[Roadshow] = relationship(back_populates="panel")


class ScoreSheet(TimestampMixin, Base):
    """One judge's scores for one company at one roadshow, or their conflict declaration."""

    __tablename__ = "score_sheets"
    __table_args__ = (UniqueConstraint("panel_member_id", "company_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roadshow_id: Mapped[int] = mapped_column(ForeignKey("roadshows.id", ondelete="CASCADE"),
                                             index=True)
    panel_member_id: Mapped[int] = mapped_column(
        ForeignKey("panel_members.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    has_conflict: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(320), default="")
    scores: Mapped[list[Score]] = relationship(back_populates="sheet",
                                               cascade="all, delete-orphan")


class Score(Base):
    """A score for one criterion, from MIN_SCORE to MAX_SCORE (see fundapp.deals.scoring)."""

    __tablename__ = "scores"
    # value is in hundredths (ScaledDecimal(2)): 0 to 10 points
    __table_args__ = (UniqueConstraint("sheet_id", "criterion_id"),
                      CheckConstraint("value >= 0 AND value <= 1000", name="range"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("score_sheets.id", ondelete="CASCADE"),
                                          index=True)
    criterion_id: Mapped[int] = mapped_column(
        ForeignKey("roadshow_criteria.id", ondelete="CASCADE"), index=True)
    value: Mapped[Decimal] = mapped_column(ScaledDecimal(2))
    sheet: Mapped[ScoreSheet] = relationship(back_populates="scores")


class ExpertReview(TimestampMixin, Base):
    """A panel member's approval or rejection of a deal: the R11 expert-review quorum counts these."""

    __tablename__ = "expert_reviews"
    __table_args__ = (UniqueConstraint("deal_id", "panel_member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    panel_member_id: Mapped[int] = mapped_column(
        ForeignKey("panel_members.id", ondelete="CASCADE"), index=True)
    is_approved: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(320), default="")
    panel_member: Mapped[PanelMember] = relationship(lazy="joined")


class SheetUpload(TimestampMixin, Base):
    """An uploaded sign-up sheet kept between its preview and its import (all or nothing)."""

    __tablename__ = "sheet_uploads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    roadshow_id: Mapped[int] = mapped_column(ForeignKey("roadshows.id", ondelete="CASCADE"),
                                             index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(320))
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
