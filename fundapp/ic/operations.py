"""The investment committee's operations: prepare a meeting, generate packs, vote, decide, sign.

Each takes validated data and only flushes; the boundary (page, API, CLI, demo) commits once.
Every change is ledgered in the same transaction (R12). Once the chair has signed the minutes
the meeting's record is locked: changing it needs a new version of the minutes.

Every operation that changes a meeting locks it first (`lock_meeting`) and checks afterwards, so
that concurrent requests on one meeting (votes, decisions, signatures, packs) run one after the
other. Who may act on a meeting at all is `meeting_for`, called by every route of the committee.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from fractions import Fraction
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.auth.models import Role, User
from fundapp.compliance.ledger import record
from fundapp.dates import SHANGHAI, not_after_today, shanghai_today
from fundapp.deals import operations as deal_ops
from fundapp.deals.models import Deal, DealStage
from fundapp.errors import AppError, Forbidden, NotFound, RuleRefused, ValidationFailed
from fundapp.fields import MAX_ID
from fundapp.ic import queries
from fundapp.ic.models import (
    IcAgendaItem,
    IcDecision,
    IcMeeting,
    IcMember,
    IcMinutes,
    IcPack,
    IcRecusal,
    IcVote,
    Outcome,
    RecusalReason,
    VoteChoice,
)
from fundapp.unit_of_work import lock

PACK_LANGUAGES = ("zh", "en", "both")
APPROVING = (VoteChoice.APPROVE, VoteChoice.APPROVE_WITH_CONDITIONS)


def _invalid(field: str, message: Any) -> ValidationFailed:
    return ValidationFailed(_l("Some fields are not valid."), details={field: [str(message)]})


def parse_fraction(text: str, field: str) -> Fraction:
    try:
        value = Fraction(str(text).strip())
    except (ValueError, ZeroDivisionError):
        raise _invalid(field, _l("Enter a fraction such as 2/3.")) from None
    if not 0 < value <= 1:
        raise _invalid(field, _l("Must be more than 0 and at most 1."))
    return value


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def get_meeting(session: Session, meeting_id: int) -> IcMeeting:
    meeting = session.get(IcMeeting, meeting_id) if 0 < meeting_id <= MAX_ID else None
    if meeting is None:
        raise NotFound(_l("No such meeting."))
    return meeting


def lock_meeting(session: Session, meeting_id: int) -> IcMeeting:
    """Lock the meeting aggregate (members, agenda, recusals, votes, decisions, packs, minutes)
    for the rest of the unit of work and read all of it afresh.

    What this session read before the lock may be older than the last writer's commit: it is
    written out and forgotten first, so that every check after the lock sees the current record.
    """
    session.flush()
    session.expire_all()
    meeting = lock(session, IcMeeting, meeting_id) if 0 < meeting_id <= MAX_ID else None
    if meeting is None:
        raise NotFound(_l("No such meeting."))
    return meeting


def _lock_item(session: Session, item: IcAgendaItem) -> tuple[IcMeeting, IcAgendaItem]:
    item_id, meeting_id = item.id, item.meeting_id
    meeting = lock_meeting(session, meeting_id)
    return meeting, next(i for i in meeting.items if i.id == item_id)


# ------------------------------------------------------------------------------ who may act


# Those who prepare meetings (agenda notes, packs) and may conduct one for its chair.
SECRETARIAT = (Role.ADMIN, Role.FUND_MANAGER)


class Act(enum.Enum):
    READ = "read"  # the meeting, its pack, votes and minutes
    PREPARE = "prepare"  # the agenda notes and the pack
    VOTE = "vote"  # vote, declare a conflict: the meeting's own members
    CONDUCT = "conduct"  # attendance, applying the decision rule: the chair or the secretariat
    CHAIR = "chair"  # sign the minutes, reopen signed minutes
    RECORD = "record"  # the minutes' times, recorder and discussion: the chair or the recorder


def is_member(meeting: IcMeeting, user: User) -> bool:
    return any(m.user_id == user.id for m in meeting.members)


def may(meeting: IcMeeting, user: User, act: Act = Act.READ) -> bool:
    """May `user` do `act` on this meeting? The access table has already said the role may."""
    if act is Act.CHAIR:
        return user.id == meeting.chair_id
    if act is Act.RECORD:
        return user.id in (meeting.chair_id, meeting.recorder_id)
    if act is Act.VOTE:
        return is_member(meeting, user)
    if act is Act.CONDUCT:
        return user.id == meeting.chair_id or user.has_role(*SECRETARIAT)
    if act is Act.PREPARE:
        return user.has_role(*SECRETARIAT)
    return is_member(meeting, user) or user.has_role(*queries.READERS)


REFUSALS = {
    Act.READ: _l("This meeting's pack, votes and minutes are for its members, fund managers, "
                 "admins and auditors."),
    Act.PREPARE: _l("Only fund managers and admins prepare a meeting."),
    Act.VOTE: _l("Only the members of this meeting vote or declare conflicts on its agenda."),
    Act.CONDUCT: _l("Only the chair of this meeting (or a fund manager or admin) does this."),
    Act.CHAIR: _l("Only the chair of this meeting does this."),
    Act.RECORD: _l("Only the chair of this meeting or its recorder writes the minutes."),
}


def meeting_for(session: Session, meeting_id: int, user: User, act: Act = Act.READ
                ) -> IcMeeting:
    """The meeting a route works on, once `user` may do `act` on it (every IC route calls this):
    404 when there is no such meeting, 403 for an IC member who does not belong to it."""
    meeting = get_meeting(session, meeting_id)
    readable = may(meeting, user, Act.READ)
    if not readable or not may(meeting, user, act):
        raise Forbidden(REFUSALS[act if readable else Act.READ])
    return meeting


def _day_of_meeting(meeting: IcMeeting, day: date | None, field: str, moment: datetime
                    ) -> tuple[date, datetime]:
    """The day a vote or decision happened (issue 12) and the moment it is stored at.

    `day` given: not after today, not before the meeting's day (a 422 naming `field`); a past
    day is stored at noon Beijing time of that day. Without it: the day of `moment`."""
    if day is None:
        return shanghai_today(moment), moment
    not_after_today(day, field)
    if day < meeting.held_on:
        raise _invalid(field, _l("%(day)s is before %(held)s, the day of the meeting.",
                                 day=day.isoformat(), held=meeting.held_on.isoformat()))
    if shanghai_today(moment) != day:
        moment = min(datetime.combine(day, time(12), SHANGHAI).astimezone(UTC),
                     datetime.now(UTC))
    return day, moment


def _require_started(meeting: IcMeeting, moment: datetime, message: Any) -> None:
    """Attendance, votes and decisions happen at the meeting: from its day on (Shanghai time;
    the meeting stores its day, not an hour), never before."""
    if shanghai_today(moment) < meeting.held_on:
        raise AppError(message, status=409, code="meeting_not_started",
                       details={"held_on": meeting.held_on.isoformat()})


def _waiting(message: Any, code: str, meeting: IcMeeting, *, who: Any = None,
             link_label: Any = None, **details: Any) -> RuleRefused:
    """A refusal (409, stable `code`) that waits on another person's step on this meeting: it
    says who does it and links to the meeting's page (issue 12, no dead ends). By default the
    step is the pack, prepared by the secretariat."""
    refusal = RuleRefused(
        "R11", message, **details,
        who=who or _l("a fund manager or admin, who prepares the meeting's pack"),
        link=("ic.meeting", {"meeting_id": meeting.id}),
        link_label=link_label or _l("The meeting's pack"))
    refusal.code = code
    return refusal


def get_item(meeting: IcMeeting, deal_id: int) -> IcAgendaItem:
    item = next((i for i in meeting.items if i.deal_id == deal_id), None)
    if item is None:
        raise NotFound(_l("This deal is not on the meeting's agenda."))
    return item


def is_locked(meeting: IcMeeting) -> bool:
    """The chair signed the latest minutes: the record stands until a new version is opened."""
    return bool(meeting.minutes) and meeting.minutes[-1].is_signed


def _require_open(meeting: IcMeeting) -> None:
    if is_locked(meeting):
        raise AppError(_l("The minutes of this meeting are signed and locked; open a new "
                          "version of the minutes to change the record."), status=409,
                       code="minutes_locked")


def create_meeting(session: Session, *, actor: str, title: str, held_on: date, chair_id: int,
                   member_ids: Iterable[int], deal_ids: Iterable[int], location: str = "",
                   quorum: str = "2/3", decision_rule: str = "1/2", title_en: str = "",
                   location_en: str = "") -> IcMeeting:
    """Prepare a meeting: members, the agenda of deals at "IC decision", and its rules."""
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise _invalid("title", _l("Enter a title of at most 200 characters."))
    parse_fraction(quorum, "quorum")
    parse_fraction(decision_rule, "decision_rule")
    member_ids = list(dict.fromkeys(int(m) for m in member_ids))
    if chair_id not in member_ids:
        member_ids.insert(0, chair_id)
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(member_ids)))}
    for user_id in member_ids:
        user = users.get(user_id)
        if user is None or not user.is_active or not user.has_role(Role.IC_MEMBER):
            raise _invalid("member_ids", _l("Every member must be an active IC member."))
    deal_ids = list(dict.fromkeys(int(d) for d in deal_ids))
    if not deal_ids:
        raise _invalid("deal_ids", _l("Put at least one deal on the agenda."))
    deals = []
    for deal_id in deal_ids:
        deal = session.get(Deal, deal_id)
        if deal is None:
            raise _invalid("deal_ids", _l("No such deal."))
        if deal.stage is not DealStage.IC_DECISION:
            raise RuleRefused("R11", _l("%(project)s is at %(stage)s; only deals at the IC "
                                        "decision stage go on the agenda.",
                                        project=deal.project_name,
                                        stage=deal_ops.stage_label(deal.stage)),
                              deal_id=deal.id)
        deals.append(deal)
    meeting = IcMeeting(title=title, held_on=held_on, location=(location or "").strip()[:200],
                        title_en=(title_en or "").strip()[:200],
                        location_en=(location_en or "").strip()[:200],
                        chair_id=chair_id, quorum=str(quorum).strip(),
                        decision_rule=str(decision_rule).strip(), created_by=actor)
    session.add(meeting)
    meeting.members = [IcMember(user_id=user_id) for user_id in member_ids]
    for position, deal in enumerate(deals, start=1):
        item = IcAgendaItem(deal_id=deal.id, position=position)
        # R11: a member who manages the deal is recused from its vote.
        if deal.manager_id in member_ids:
            item.recusals.append(IcRecusal(user_id=deal.manager_id,
                                           reason=RecusalReason.MANAGER))
        meeting.items.append(item)
    session.flush()
    record(session, actor=actor, action="ic.meeting_created", subject_type="ic_meeting",
           subject_id=meeting.id,
           payload={"title": title, "title_en": meeting.title_en, "held_on": held_on,
                    "location_en": meeting.location_en, "chair_id": chair_id,
                    "member_ids": member_ids, "deal_ids": deal_ids, "quorum": meeting.quorum,
                    "decision_rule": meeting.decision_rule,
                    "recusals": [{"deal_id": i.deal_id, "user_id": r.user_id,
                                  "reason": r.reason} for i in meeting.items
                                 for r in i.recusals], "rule": "R11"})
    return meeting


def set_item_notes(session: Session, item: IcAgendaItem, *, actor: str, dd_summary: str,
                   risks: str) -> None:
    """The due-diligence summary and the risks the pack shows for one deal."""
    meeting, item = _lock_item(session, item)
    _require_open(meeting)
    for field, value in (("dd_summary", dd_summary), ("risks", risks)):
        if len(value or "") > 20000:
            raise _invalid(field, _l("At most %(n)s characters.", n=20000))
    item.dd_summary = (dd_summary or "").strip()
    item.risks = (risks or "").strip()
    record(session, actor=actor, action="ic.agenda_notes_set", subject_type="ic_meeting",
           subject_id=item.meeting_id, payload={"deal_id": item.deal_id,
                                                "dd_summary": item.dd_summary,
                                                "risks": item.risks})


def declare_conflict(session: Session, item: IcAgendaItem, *, user_id: int, note: str,
                     actor: str) -> IcRecusal:
    """A member declares a conflict for a deal and is recused from its vote (R11)."""
    meeting, item = _lock_item(session, item)
    _require_open(meeting)
    if user_id not in {m.user_id for m in meeting.members}:
        raise Forbidden(_l("Only a member of this meeting declares a conflict here."))
    if item.outcome is not Outcome.PENDING:
        raise AppError(_l("This deal is decided already."), status=409, code="decided")
    if any(v.user_id == user_id for v in item.votes):
        raise AppError(_l("A member who has voted cannot declare a conflict afterwards; the "
                          "vote stands in the record."), status=409, code="already_voted")
    existing = next((r for r in item.recusals if r.user_id == user_id), None)
    if existing is not None:
        return existing
    recusal = IcRecusal(user_id=user_id, reason=RecusalReason.CONFLICT,
                        note=(note or "").strip()[:2000])
    item.recusals.append(recusal)
    session.flush()
    record(session, actor=actor, action="ic.conflict_declared", subject_type="ic_meeting",
           subject_id=meeting.id, payload={"deal_id": item.deal_id, "user_id": user_id,
                                           "note": recusal.note, "rule": "R11"})
    return recusal


def record_attendance(session: Session, meeting: IcMeeting, present_ids: Iterable[int], *,
                      actor: str, now: datetime | None = None) -> None:
    """Who is present: recorded at the meeting, from its day on (a member who voted is present)."""
    meeting = lock_meeting(session, meeting.id)
    _require_open(meeting)
    _require_started(meeting, _now(now), _l(
        "Attendance is recorded at the meeting, on %(day)s or later; it has not started yet.",
        day=meeting.held_on.isoformat()))
    present = {int(i) for i in present_ids}
    unknown = present - {m.user_id for m in meeting.members}
    if unknown:
        raise _invalid("present_ids", _l("Only members of this meeting can be present."))
    for member in meeting.members:
        voted = any(v.user_id == member.user_id for i in meeting.items for v in i.votes)
        member.is_present = member.user_id in present or voted
    record(session, actor=actor, action="ic.attendance_recorded", subject_type="ic_meeting",
           subject_id=meeting.id,
           payload={"present_ids": sorted(m.user_id for m in meeting.members if m.is_present)})


# ------------------------------------------------------------------------------ packs


def _render(name: str, data: dict[str, Any], language: str) -> bytes:
    from reports.render import render_pdf

    return render_pdf(name, data, language)


def canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def render_pack(pack: IcPack) -> bytes:
    """The PDF of a stored pack version, from its stored data (the same bytes every time)."""
    return _render("ic_pack", json.loads(pack.data_json), pack.language)


def generate_pack(session: Session, meeting: IcMeeting, *, actor: str, language: str = "both",
                  is_final: bool = False, now: datetime | None = None,
                  progress: Callable[[int, int], None] | None = None) -> IcPack:
    """Make the next version of the meeting's pack; a final pack has no DRAFT watermark.

    Under the meeting's lock: two packs made at once get consecutive versions."""
    meeting = lock_meeting(session, meeting.id)
    _require_open(meeting)
    if language not in PACK_LANGUAGES:
        raise _invalid("language", _l("Must be one of: zh, en, both."))
    moment = _now(now).replace(microsecond=0)
    version = (meeting.packs[-1].version + 1) if meeting.packs else 1
    data = queries.pack_data(session, meeting, version=version, generated_at=moment,
                             is_final=is_final, progress=progress)
    text = canonical(data)
    pdf = _render("ic_pack", json.loads(text), language)
    if progress is not None:
        progress(len(meeting.items) + 1, len(meeting.items) + 1)
    pack = IcPack(meeting_id=meeting.id, version=version, language=language,
                  is_final=is_final, generated_at=moment, generated_by=actor, data_json=text,
                  sha256=hashlib.sha256(pdf).hexdigest(), size_bytes=len(pdf), pdf=pdf)
    session.add(pack)
    meeting.packs.append(pack)
    session.flush()
    record(session, actor=actor, action="ic.pack_generated", subject_type="ic_meeting",
           subject_id=meeting.id, at=moment,
           payload={"version": version, "language": language, "is_final": is_final,
                    "sha256": pack.sha256, "size_bytes": pack.size_bytes,
                    "deal_ids": [i.deal_id for i in meeting.items]})
    return pack


def get_pack(meeting: IcMeeting, version: int | None = None) -> IcPack:
    packs = meeting.packs
    pack = packs[-1] if packs and version is None else next(
        (p for p in packs if p.version == version), None)
    if pack is None:
        raise NotFound(_l("No pack has been generated for this meeting yet."))
    return pack


# ------------------------------------------------------------------------------ votes


def cast_vote(session: Session, item: IcAgendaItem, *, voter: User, choice: str,
              conditions: str = "", now: datetime | None = None,
              voted_on: date | None = None) -> IcVote:
    """A member's own vote, on the meeting's latest pack version, which must be final; from the
    meeting's day on; it can change (the latest counts) until the deal is decided.

    `voted_on` (issue 12): the day the vote was cast (default today; not after today, not
    before the meeting's day); the ledger keeps it beside the time of recording."""
    meeting, item = _lock_item(session, item)
    _require_open(meeting)
    try:
        choice_value = VoteChoice(choice)
    except ValueError:
        raise _invalid("choice", _l("Must be one of: %(choices)s.", choices=", ".join(
            c.value for c in VoteChoice))) from None
    conditions = (conditions or "").strip()
    if choice_value is VoteChoice.APPROVE_WITH_CONDITIONS and not conditions:
        raise _invalid("conditions", _l("State the conditions of the approval."))
    if choice_value is not VoteChoice.APPROVE_WITH_CONDITIONS:
        conditions = ""
    if len(conditions) > 5000:
        raise _invalid("conditions", _l("At most %(n)s characters.", n=5000))
    member = next((m for m in meeting.members if m.user_id == voter.id), None)
    if member is None:
        raise Forbidden(_l("Only members of this meeting vote."))
    if voter.id in queries.recused_ids(item):
        raise RuleRefused("R11", _l("You are recused from the vote on this deal."))
    if item.outcome is not Outcome.PENDING:
        raise AppError(_l("This deal is decided already."), status=409, code="decided")
    recorded = _now(now)
    not_after_today(shanghai_today(recorded), "cast_at")
    day, moment = _day_of_meeting(meeting, voted_on, "voted_on", recorded)
    _require_started(meeting, moment, _l(
        "Votes are cast at the meeting, on %(day)s or later; it has not started yet.",
        day=meeting.held_on.isoformat()))
    if not meeting.packs:
        raise _waiting(_l("Votes are cast on a pack: generate the meeting's pack first."),
                       "no_pack", meeting)
    if not meeting.packs[-1].is_final:
        raise _waiting(_l("Votes are cast on the final pack; version %(v)s is a draft: "
                          "generate the final pack first.", v=meeting.packs[-1].version),
                       "pack_not_final", meeting)
    version = meeting.packs[-1].version
    vote = next((v for v in item.votes if v.user_id == voter.id), None)
    before = vote.choice.value if vote else None
    if vote is None:
        vote = IcVote(user_id=voter.id, choice=choice_value, pack_version=version,
                      cast_at=moment, conditions=conditions)
        item.votes.append(vote)
    vote.choice, vote.conditions = choice_value, conditions
    vote.pack_version, vote.cast_at = version, moment
    member.is_present = True  # a member who votes is present
    session.flush()
    record(session, actor=voter.email, action="ic.vote_cast", subject_type="ic_meeting",
           subject_id=meeting.id, at=recorded, happened_on=day,
           payload={"deal_id": item.deal_id, "user_id": voter.id, "choice": choice_value,
                    "conditions": conditions, "pack_version": version, "before": before})
    return vote


@dataclass(frozen=True)
class Tally:
    members: int
    present: int
    quorum_needed: int
    eligible: int  # present and not recused
    approvals: int
    rejections: int
    abstentions: int
    not_voted: int
    rule: Fraction

    @property
    def has_quorum(self) -> bool:
        return self.present >= self.quorum_needed

    @property
    def is_approved(self) -> bool:
        # "a majority of the non-recused members present": strictly more than the rule's share.
        return self.eligible > 0 and Fraction(self.approvals, self.eligible) > self.rule


def tally(item: IcAgendaItem) -> Tally:
    meeting = item.meeting
    quorum = parse_fraction(meeting.quorum, "quorum")
    present = {m.user_id for m in meeting.members if m.is_present}
    eligible = present - queries.recused_ids(item)
    votes = {v.user_id: v.choice for v in item.votes if v.user_id in eligible}
    return Tally(members=len(meeting.members), present=len(present),
                 quorum_needed=math.ceil(quorum * len(meeting.members)),
                 eligible=len(eligible),
                 approvals=sum(1 for c in votes.values() if c in APPROVING),
                 rejections=sum(1 for c in votes.values() if c is VoteChoice.REJECT),
                 abstentions=sum(1 for c in votes.values() if c is VoteChoice.ABSTAIN),
                 not_voted=len(eligible - set(votes)),
                 rule=parse_fraction(meeting.decision_rule, "decision_rule"))


def decision_reference(item: IcAgendaItem) -> str:
    meeting = item.meeting
    return f"IC-{meeting.held_on:%Y%m%d}-M{meeting.id}-{item.position}"


def decide(session: Session, item: IcAgendaItem, *, actor: str,
           now: datetime | None = None, decided_on: date | None = None) -> IcAgendaItem:
    """Apply the decision rule to one deal: record the outcome and its reference on the deal,
    and move the deal (approved: to public notice; rejected: declined). R11.

    Dated `decided_on` (issue 12; default the day of now): not after today, not before the
    meeting's day nor a vote's day (Shanghai). The deal stores that day and its public notice
    starts on it; the ledger keeps it beside the time of recording."""
    meeting, item = _lock_item(session, item)
    _require_open(meeting)
    if item.outcome is not Outcome.PENDING:
        raise AppError(_l("This deal is decided already."), status=409, code="decided")
    recorded = _now(now)
    not_after_today(shanghai_today(recorded), "decided_at")
    day, moment = _day_of_meeting(meeting, decided_on, "decided_on", recorded)
    _require_started(meeting, moment, _l(
        "The committee decides at its meeting, on %(day)s or later; it has not started yet.",
        day=meeting.held_on.isoformat()))
    last_vote = max((shanghai_today(v.cast_at) for v in item.votes), default=None)
    if decided_on is not None and last_vote is not None and day < last_vote:
        raise _invalid("decided_on", _l("%(day)s is before %(voted)s, the day of the last vote "
                                        "on this deal.", day=day.isoformat(),
                                        voted=last_vote.isoformat()))
    result = tally(item)
    if not result.has_quorum:
        raise RuleRefused("R11", _l("No quorum: %(present)s of %(members)s members are present; "
                                    "%(needed)s are needed.", present=result.present,
                                    members=result.members, needed=result.quorum_needed),
                          missing="quorum", present=result.present, needed=result.quorum_needed,
                          who=_l("the meeting's chair, who records who is present"),
                          link=("ic.meeting", {"meeting_id": meeting.id}),
                          link_label=_l("The meeting's attendance"))
    if result.eligible == 0:
        raise RuleRefused("R11", _l("Every member present is recused from this deal."),
                          missing="eligible_members",
                          who=_l("the meeting's chair, who records who is present"),
                          link=("ic.meeting", {"meeting_id": meeting.id}),
                          link_label=_l("The meeting's attendance"))
    if result.not_voted:
        voted = {v.user_id for v in item.votes}
        waiting = [m.user for m in meeting.members if m.is_present and m.user_id not in voted
                   and m.user_id not in queries.recused_ids(item)]
        raise _waiting(
            _l("%(n)s members present and not recused have not voted yet.",
               n=result.not_voted), "votes_missing", meeting, not_voted=result.not_voted,
            not_voted_ids=[u.id for u in waiting],
            who=_l("the members who have not voted yet (%(names)s), on this meeting's page",
                   names=", ".join(u.display_name for u in waiting)),
            link_label=_l("The meeting's votes"))
    deal = item.deal
    reference = decision_reference(item)
    conditions: list[str] = []
    if result.is_approved:
        conditions = [f"{v.user.display_name}: {v.conditions}" for v in item.votes
                      if v.choice is VoteChoice.APPROVE_WITH_CONDITIONS
                      and v.user_id not in queries.recused_ids(item)]
        outcome = Outcome.APPROVED_WITH_CONDITIONS if conditions else Outcome.APPROVED
    else:
        outcome = Outcome.REJECTED
    item.decision = IcDecision(outcome=outcome, decision_ref=reference,
                               conditions="\n".join(conditions), decided_at=moment,
                               decided_by=actor)
    # Written now: UNIQUE(item_id) refuses a second decision before anything else is changed.
    session.flush()
    reason = f"IC {meeting.title} ({meeting.held_on.isoformat()}): {item.outcome.value}, " \
             f"{result.approvals}/{result.eligible} approving; {reference}"
    deal_ops.record_ic_decision(session, deal, reference, actor=actor, decided_on=day)
    target = DealStage.PUBLIC_NOTICE if result.is_approved else DealStage.DECLINED
    deal_ops.advance_deal(session, deal, target, actor=actor, reason=reason, now=moment,
                          expected_stage=DealStage.IC_DECISION,
                          on=day if decided_on is not None else None)
    record(session, actor=actor, action="ic.decision_recorded", subject_type="ic_meeting",
           subject_id=meeting.id, at=recorded, happened_on=day,
           payload={"deal_id": deal.id, "outcome": item.outcome, "decision_ref": reference,
                    "conditions": item.conditions, "members": result.members,
                    "present": result.present, "eligible": result.eligible,
                    "approvals": result.approvals, "rejections": result.rejections,
                    "abstentions": result.abstentions, "quorum": meeting.quorum,
                    "decision_rule": meeting.decision_rule,
                    "votes": [{"user_id": v.user_id, "choice": v.choice,
                               "pack_version": v.pack_version} for v in item.votes],
                    "rule": "R11"})
    return item


# ------------------------------------------------------------------------------ minutes


def render_minutes(meeting: IcMeeting, *, version: int, signed_by: str = "",
                   signed_at: datetime | None = None, language: str = "both") -> bytes:
    data = queries.minutes_data(meeting, version=version, signed_by=signed_by,
                                signed_at=signed_at)
    return _render("ic_minutes", json.loads(canonical(data)), language)


def next_minutes_version(meeting: IcMeeting) -> int:
    if meeting.minutes and not meeting.minutes[-1].is_signed:
        return meeting.minutes[-1].version
    return (meeting.minutes[-1].version + 1) if meeting.minutes else 1


def check_signing(meeting: IcMeeting, *, user: User, now: datetime | None = None) -> datetime:
    """Every check of signing the minutes; changes nothing. The moment they would be signed."""
    if user.id != meeting.chair_id:
        raise Forbidden(_l("Only the chair of the meeting signs its minutes."))
    _require_open(meeting)
    pending = [i for i in meeting.items if i.outcome is Outcome.PENDING]
    if pending:
        raise _waiting(_l("Every deal on the agenda needs a decision before the minutes are "
                          "signed; %(n)s have none.", n=len(pending)), "decisions_missing",
                       meeting, who=_l("the chair of this meeting (or a fund manager or admin), "
                                       "who applies the decision rule to each deal"),
                       link_label=_l("The meeting's agenda"))
    moment = _now(now).replace(microsecond=0)
    not_after_today(shanghai_today(moment), "signed_at")
    last = max(i.decided_at for i in meeting.items)
    if moment < last.replace(microsecond=0):
        raise AppError(_l("The minutes are signed after the decisions; the last was taken at "
                          "%(at)s.", at=last.strftime("%Y-%m-%d %H:%M UTC")), status=409,
                       code="signed_before_decision")
    return moment


def sign_minutes(session: Session, meeting: IcMeeting, *, user: User,
                 now: datetime | None = None) -> IcMinutes:
    """The chair signs the minutes generated from the record, after every decision; their
    SHA-256 is ledgered and the record locks."""
    meeting = lock_meeting(session, meeting.id)
    moment = check_signing(meeting, user=user, now=now)
    minutes = meeting.minutes[-1] if meeting.minutes else None
    if minutes is None:
        minutes = IcMinutes(meeting_id=meeting.id, version=1, opened_at=moment,
                            opened_by=user.email)
        session.add(minutes)
        meeting.minutes.append(minutes)
    pdf = render_minutes(meeting, version=minutes.version, signed_by=user.display_name,
                         signed_at=moment)
    minutes.signed_at, minutes.signed_by = moment, user.email
    minutes.sha256, minutes.size_bytes, minutes.pdf = (hashlib.sha256(pdf).hexdigest(),
                                                       len(pdf), pdf)
    session.flush()
    record(session, actor=user.email, action="ic.minutes_signed", subject_type="ic_meeting",
           subject_id=meeting.id, at=moment,
           payload={"version": minutes.version, "sha256": minutes.sha256,
                    "size_bytes": minutes.size_bytes, "reason": minutes.reason})
    return minutes


def open_minutes_version(session: Session, meeting: IcMeeting, *, user: User, reason: str,
                         now: datetime | None = None) -> IcMinutes:
    """The chair unlocks a signed record for a correction: a new version of the minutes, to be
    signed again."""
    meeting = lock_meeting(session, meeting.id)
    if user.id != meeting.chair_id:
        raise Forbidden(_l("Only the chair of the meeting reopens its signed minutes."))
    actor = user.email
    if not is_locked(meeting):
        raise AppError(_l("The minutes are not signed yet; there is nothing to reopen."),
                       status=409, code="not_signed")
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", _l("Give the reason for the new version."))
    moment = _now(now)
    minutes = IcMinutes(meeting_id=meeting.id, version=meeting.minutes[-1].version + 1,
                        reason=reason[:5000], opened_at=moment, opened_by=actor)
    session.add(minutes)
    meeting.minutes.append(minutes)
    session.flush()
    record(session, actor=actor, action="ic.minutes_reopened", subject_type="ic_meeting",
           subject_id=meeting.id, at=moment,
           payload={"version": minutes.version, "reason": minutes.reason,
                    "previous_sha256": meeting.minutes[-2].sha256})
    return minutes


MINUTES_FIELDS = ("started_at", "ended_at", "recorder_id", "recorder_name", "recorder_name_en")
DISCUSSION_LENGTH = 20000


def _moment_field(value: datetime | None, field: str, now: datetime) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise _invalid(field, _l("Give the time with its zone."))
    value = value.astimezone(UTC).replace(microsecond=0)
    if value > now:
        raise _invalid(field, _l("The time %(at)s (Beijing time) is in the future.",
                                 at=value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")))
    return value


def record_minutes_details(session: Session, meeting: IcMeeting, *, user: User,
                           now: datetime | None = None, **changes: Any) -> dict[str, Any]:
    """What the minutes record besides the votes: when the meeting started and ended, who kept
    the record (a user or a name) and, per deal, the summary of the discussion.

    Only the keys given change (`discussions`: {deal_id: text}). The chair or the recorder writes
    them; only the chair names the recorder. Refused once the minutes are signed and locked.
    Ledgered with each changed value before and after; returns those changes."""
    meeting = lock_meeting(session, meeting.id)
    if not may(meeting, user, Act.RECORD):
        raise Forbidden(REFUSALS[Act.RECORD])
    _require_open(meeting)
    unknown = set(changes) - {*MINUTES_FIELDS, "discussions"}
    if unknown:
        raise TypeError(f"unknown minutes fields: {sorted(unknown)}")
    moment = _now(now)
    after: dict[str, Any] = {name: getattr(meeting, name) for name in MINUTES_FIELDS}
    for field in ("started_at", "ended_at"):
        if field in changes:
            after[field] = _moment_field(changes[field], field, moment)
    if after["started_at"] is not None and "started_at" in changes \
            and shanghai_today(after["started_at"]) != meeting.held_on:
        raise _invalid("started_at", _l("The meeting is held on %(day)s; its start is on that "
                                        "day (Beijing time).", day=meeting.held_on.isoformat()))
    if after["ended_at"] is not None and ("ended_at" in changes or "started_at" in changes):
        if after["started_at"] is None:
            raise _invalid("started_at", _l("Give the start of the meeting before its end."))
        if after["ended_at"] <= after["started_at"]:
            raise _invalid("ended_at", _l("The meeting ends after it starts."))
    if "recorder_id" in changes or "recorder_name" in changes:
        recorder_id = changes.get("recorder_id")
        name = " ".join(str(changes.get("recorder_name") or "").split())
        if len(name) > 200:
            raise _invalid("recorder_name", _l("At most %(n)s characters.", n=200))
        # the English name of a recorder named by text (a user has their own English name)
        name_en = " ".join(str(changes.get("recorder_name_en") or "").split())
        if len(name_en) > 200:
            raise _invalid("recorder_name_en", _l("At most %(n)s characters.", n=200))
        if recorder_id is not None:
            recorder = session.get(User, recorder_id) if 0 < recorder_id <= MAX_ID else None
            if recorder is None or not recorder.is_active or not (
                    is_member(meeting, recorder) or recorder.has_role(*SECRETARIAT)):
                raise _invalid("recorder_id", _l("The recorder is a member of this meeting, a "
                                                 "fund manager or an admin."))
            after["recorder_id"], after["recorder_name"] = recorder_id, ""
            after["recorder_name_en"] = ""
        else:
            after["recorder_id"], after["recorder_name"] = None, name
            after["recorder_name_en"] = name_en if name else ""
        if (after["recorder_id"], after["recorder_name"]) != (
                meeting.recorder_id, meeting.recorder_name) and user.id != meeting.chair_id:
            raise _invalid("recorder_id", _l("Only the chair names the recorder."))
    elif "recorder_name_en" in changes and meeting.recorder_name:
        name_en = " ".join(str(changes.get("recorder_name_en") or "").split())
        if len(name_en) > 200:
            raise _invalid("recorder_name_en", _l("At most %(n)s characters.", n=200))
        after["recorder_name_en"] = name_en
    discussions: dict[int, str] = {}
    for deal_id, text in (changes.get("discussions") or {}).items():
        item = get_item(meeting, int(deal_id))
        text = (text or "").strip()
        if len(text) > DISCUSSION_LENGTH:
            raise _invalid("discussion", _l("At most %(n)s characters.", n=DISCUSSION_LENGTH))
        discussions[item.deal_id] = text
    changed: dict[str, Any] = {}
    for name in MINUTES_FIELDS:
        if after[name] != getattr(meeting, name):
            changed[name] = {"before": getattr(meeting, name), "after": after[name]}
            setattr(meeting, name, after[name])
    for item in meeting.items:
        if item.deal_id in discussions and discussions[item.deal_id] != item.discussion:
            changed.setdefault("discussions", []).append(
                {"deal_id": item.deal_id, "before": item.discussion,
                 "after": discussions[item.deal_id]})
            item.discussion = discussions[item.deal_id]
    if changed:
        session.flush()
        record(session, actor=user.email, action="ic.minutes_details_set",
               subject_type="ic_meeting", subject_id=meeting.id, at=moment, payload=changed)
    return changed


def latest_signed_minutes(meeting: IcMeeting) -> IcMinutes:
    signed = [m for m in meeting.minutes if m.is_signed]
    if not signed:
        raise NotFound(_l("The minutes of this meeting are not signed yet."))
    return signed[-1]


def members_of(session: Session) -> list[User]:
    """Active users who hold the IC member role, for the prepare-a-meeting form."""
    users = session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.id))
    return [u for u in users if u.has_role(Role.IC_MEMBER)]
