"""The investment committee (投决会): meetings, their agenda, recusals, votes, packs and minutes."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundapp.auth.models import User
from fundapp.db import Base, TimestampMixin, UTCDateTime, enum_column
from fundapp.deals.models import Deal


class VoteChoice(enum.StrEnum):
    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REJECT = "reject"
    ABSTAIN = "abstain"


class Outcome(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    APPROVED_WITH_CONDITIONS = "approved_with_conditions"
    REJECTED = "rejected"


class RecusalReason(enum.StrEnum):
    MANAGER = "manager"  # the member manages the deal (R11)
    CONFLICT = "conflict"  # the member declared a conflict (R11)


class IcMeeting(TimestampMixin, Base):
    """One meeting of the committee; its rules are fixed when it is prepared."""

    __tablename__ = "ic_meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    held_on: Mapped[date] = mapped_column(Date, index=True)
    location: Mapped[str] = mapped_column(String(200), default="")
    location_en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    chair_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Fractions as text ("2/3"): members present needed, and the share of approving votes among
    # the non-recused members present that must be exceeded.
    quorum: Mapped[str] = mapped_column(String(10), default="2/3")
    decision_rule: Mapped[str] = mapped_column(String(10), default="1/2")
    created_by: Mapped[str] = mapped_column(String(320), default="")
    # What the minutes record (issue 15): when the meeting ran (UTC, shown in Beijing time) and
    # who kept the record: a user, or a name when the recorder has no account.
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorder_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorder_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    recorder_name_en: Mapped[str] = mapped_column(String(200), default="", server_default="")

    # Not joined: the meeting's row is locked with SELECT ... FOR UPDATE, which PostgreSQL refuses
    # on the nullable side of an outer join (unit_of_work.lock).
    chair: Mapped[User] = relationship(foreign_keys=[chair_id])
    recorder: Mapped[User | None] = relationship(foreign_keys=[recorder_id])
    members: Mapped[list[IcMember]] = relationship(back_populates="meeting",
                                                   cascade="all, delete-orphan",
                                                   order_by="IcMember.id")
    items: Mapped[list[IcAgendaItem]] = relationship(back_populates="meeting",
                                                     cascade="all, delete-orphan",
                                                     order_by="IcAgendaItem.position")

    @property
    def recorder_label(self) -> str:
        """The recorder's name as the minutes print it ("" when nobody is named yet)."""
        return self.recorder.display_name if self.recorder else self.recorder_name

    @property
    def recorder_label_en(self) -> str:
        """The recorder's English name ("" when none is given: English shows recorder_label)."""
        return self.recorder.name_en if self.recorder else self.recorder_name_en
    packs: Mapped[list[IcPack]] = relationship(back_populates="meeting",
                                               order_by="IcPack.version")
    minutes: Mapped[list[IcMinutes]] = relationship(back_populates="meeting",
                                                    order_by="IcMinutes.version")


class IcMember(Base):
    __tablename__ = "ic_members"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("ic_meetings.id", ondelete="CASCADE"),
                                            index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    is_present: Mapped[bool] = mapped_column(Boolean, default=False)
    meeting: Mapped[IcMeeting] = relationship(back_populates="members")
    user: Mapped[User] = relationship(lazy="joined")


class IcAgendaItem(Base):
    """A deal at "IC decision" on a meeting's agenda, with the pack's texts and the outcome."""

    __tablename__ = "ic_agenda_items"
    __table_args__ = (UniqueConstraint("meeting_id", "deal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("ic_meetings.id", ondelete="CASCADE"),
                                            index=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    dd_summary: Mapped[str] = mapped_column(Text, default="")
    risks: Mapped[str] = mapped_column(Text, default="")
    # The minutes' summary of the committee's discussion of this deal (issue 15).
    discussion: Mapped[str] = mapped_column(Text, default="", server_default="")

    meeting: Mapped[IcMeeting] = relationship(back_populates="items")
    deal: Mapped[Deal] = relationship(lazy="joined")
    decision: Mapped[IcDecision | None] = relationship(back_populates="item", lazy="joined",
                                                       cascade="all, delete-orphan")
    recusals: Mapped[list[IcRecusal]] = relationship(back_populates="item",
                                                     cascade="all, delete-orphan",
                                                     order_by="IcRecusal.id")
    votes: Mapped[list[IcVote]] = relationship(back_populates="item",
                                               cascade="all, delete-orphan",
                                               order_by="IcVote.id")

    # The decision's figures, read through the item (pending until the committee decides).
    @property
    def outcome(self) -> Outcome:
        return self.decision.outcome if self.decision else Outcome.PENDING

    @property
    def decision_ref(self) -> str:
        return self.decision.decision_ref if self.decision else ""

    @property
    def conditions(self) -> str:
        return self.decision.conditions if self.decision else ""

    @property
    def decided_at(self) -> datetime | None:
        return self.decision.decided_at if self.decision else None

    @property
    def decided_by(self) -> str:
        return self.decision.decided_by if self.decision else ""


class IcDecision(Base):
    """The committee's decision on one agenda item. It is taken once: the database refuses a
    second row for the item (and a second use of the reference), whatever the application does."""

    __tablename__ = "ic_decisions"
    __table_args__ = (UniqueConstraint("item_id"), UniqueConstraint("decision_ref"),
                      CheckConstraint("outcome <> 'pending'", name="decided"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("ic_agenda_items.id", ondelete="CASCADE"))
    outcome: Mapped[Outcome] = mapped_column(enum_column(Outcome))
    decision_ref: Mapped[str] = mapped_column(String(100))
    conditions: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str] = mapped_column(String(320))
    item: Mapped[IcAgendaItem] = relationship(back_populates="decision")


class IcRecusal(TimestampMixin, Base):
    __tablename__ = "ic_recusals"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("ic_agenda_items.id", ondelete="CASCADE"),
                                         index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[RecusalReason] = mapped_column(enum_column(RecusalReason, 20))
    note: Mapped[str] = mapped_column(Text, default="")
    item: Mapped[IcAgendaItem] = relationship(back_populates="recusals")
    user: Mapped[User] = relationship(lazy="joined")


class IcVote(Base):
    """A member's vote on one agenda item, and the pack version it was cast on."""

    __tablename__ = "ic_votes"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("ic_agenda_items.id", ondelete="CASCADE"),
                                         index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    choice: Mapped[VoteChoice] = mapped_column(enum_column(VoteChoice))
    conditions: Mapped[str] = mapped_column(Text, default="")
    pack_version: Mapped[int] = mapped_column(Integer)
    cast_at: Mapped[datetime] = mapped_column(UTCDateTime())
    item: Mapped[IcAgendaItem] = relationship(back_populates="votes")
    user: Mapped[User] = relationship(lazy="joined")


class IcPack(Base):
    """One generated version of a meeting's pack: the data it was made from and its PDF."""

    __tablename__ = "ic_packs"
    __table_args__ = (UniqueConstraint("meeting_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("ic_meetings.id", ondelete="CASCADE"),
                                            index=True)
    version: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(4))
    is_final: Mapped[bool] = mapped_column(Boolean, default=False)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    generated_by: Mapped[str] = mapped_column(String(320))
    # Canonical JSON of the template data: rendering it again gives the same bytes.
    data_json: Mapped[str] = mapped_column(Text, deferred=True)  # read when a pack is rendered
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    pdf: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    meeting: Mapped[IcMeeting] = relationship(back_populates="packs")


class IcMinutes(Base):
    """A version of a meeting's minutes: draft until the chair signs, then locked."""

    __tablename__ = "ic_minutes"
    __table_args__ = (UniqueConstraint("meeting_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("ic_meetings.id", ondelete="CASCADE"),
                                            index=True)
    version: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")  # why a new version was opened
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_by: Mapped[str] = mapped_column(String(320))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    signed_by: Mapped[str] = mapped_column(String(320), default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    meeting: Mapped[IcMeeting] = relationship(back_populates="minutes")

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class QuarterlyReport(Base):
    """A generated quarterly portfolio report; regenerating a quarter adds a new version."""

    __tablename__ = "quarterly_reports"
    __table_args__ = (UniqueConstraint("quarter", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quarter: Mapped[str] = mapped_column(String(6), index=True)  # "2026Q3"
    version: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[date] = mapped_column(Date)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    generated_by: Mapped[str] = mapped_column(String(320))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    pdf: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
