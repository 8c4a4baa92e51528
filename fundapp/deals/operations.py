"""Companies, deals and the R11 pipeline, roadshows and their judging.

Every operation takes input its schema (fundapp/deals/schemas.py) validated, checks what needs the
database (a company already registered, a panel member of another roadshow), only flushes (the
unit of work commits once) and writes what it changed to the compliance ledger in the same
transaction. Refusals by the rule book raise
RuleRefused naming the clause (R2.a, R10.a, R11) and what is missing.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import column, func, select, table
from sqlalchemy.orm import Session

from fundapp.auth.models import Role, User
from fundapp.compliance.corrections import record_correction, require_reason
from fundapp.compliance.ledger import record
from fundapp.dates import not_after_today, shanghai_today
from fundapp.deals.models import (
    MEMO_FIELDS,
    PIPELINE,
    Company,
    Contact,
    Deal,
    DealStage,
    DealStageChange,
    ExpertReview,
    Founder,
    LegalForm,
    PanelMember,
    Roadshow,
    RoadshowSlot,
    ScoreSheet,
)
from fundapp.deals.policy import PipelinePolicy, pipeline_policy
from fundapp.errors import AppError, NotFound, RuleRefused, ValidationFailed
from fundapp.fund.models import Fund
from fundapp.reference.calendar import add_working_days, working_days_between
from fundapp.reference.queries import calendar_overrides
from fundapp.ui import format_money
from fundapp.unit_of_work import lock

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOSED_STAGES = frozenset({DealStage.AGREEMENT_SIGNED, DealStage.DECLINED, DealStage.WITHDRAWN})
OPEN_STAGES = tuple(s for s in DealStage if s not in CLOSED_STAGES)
# Deals that no longer claim money from the fund (R10.a counts all the others).
WITHDRAWN_STAGES = frozenset({DealStage.DECLINED, DealStage.WITHDRAWN})

STAGE_LABELS = {
    DealStage.FORMAL_CHECK: _l("Formal check"),
    DealStage.ROADSHOW: _l("Roadshow"),
    DealStage.EXPERT_REVIEW: _l("Expert review"),
    DealStage.DUE_DILIGENCE: _l("Due diligence"),
    DealStage.IC_DECISION: _l("IC decision"),
    DealStage.PUBLIC_NOTICE: _l("Public notice"),
    DealStage.AGREEMENT_SIGNED: _l("Agreement signed"),
    DealStage.DECLINED: _l("Declined"),
    DealStage.WITHDRAWN: _l("Withdrawn"),
    DealStage.ON_HOLD: _l("On hold"),
}

def stage_label(stage: DealStage | str | None) -> str:
    if stage is None:
        return ""
    return str(STAGE_LABELS.get(DealStage(stage), stage))


# ---------------------------------------------------------------------------------------------
# Names


_LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "公司", "corporation", "company",
                   "limited", "ltd", "coltd", "co", "inc", "llc")
_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)


def normalise_name(name: str) -> str:
    """Lower-case, full-width folded, punctuation and legal-form suffixes removed.

    "上海脑科技有限公司" and "上海脑科技（有限公司）" match; so do "Brain Tech Co., Ltd." and
    "brain tech". The suffix goes only at the end, so a name that is nothing but a suffix stays.
    """
    text = _PUNCTUATION.sub("", unicodedata.normalize("NFKC", name).lower())
    changed = True
    while changed:
        changed = False
        for suffix in _LEGAL_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text = text[: -len(suffix)]
                changed = True
    return text[:200]


# ---------------------------------------------------------------------------------------------
# Companies

COMPANY_FIELDS = ("legal_name", "name_en", "uscc", "district", "legal_form",
                  "registered_capital_amount", "share_count", "par_value_amount", "sector",
                  "founded_on", "website", "description", "former_names")
PAR_VALUE = Decimal("1.00")  # per share, when a joint-stock company's par value is not given


def refuse_fields(problems: dict[str, list[str]]) -> None:
    """Raise what the database objects to in validated input, every field at once."""
    if problems:
        raise ValidationFailed(_l("Some fields are not valid."), details=problems)


def _company_problems(session: Session, clean: Mapping[str, Any],
                      company: Company | None = None) -> dict[str, list[str]]:
    """A credit code or a name already registered; capital that does not fit the legal form."""
    problems: dict[str, list[str]] = {}
    code = clean["uscc"]
    if code:
        other = session.scalar(select(Company).where(Company.uscc == code))
        if other is not None and (company is None or other.id != company.id):
            problems["uscc"] = [str(_l("This credit code is already registered to %(name)s.",
                                       name=other.legal_name))]
    stmt = select(Company).where(Company.normalised_name == clean["normalised_name"])
    if company is not None:
        stmt = stmt.where(Company.id != company.id)
    other = session.scalars(stmt.limit(1)).first()
    if other is not None and (not code or not other.uscc or other.uscc == code):
        problems["legal_name"] = [str(_l("A company with this name already exists: %(name)s.",
                                         name=other.legal_name))]
    if clean["legal_form"] is LegalForm.LLC and clean["share_count"] is not None:
        problems["share_count"] = [str(_l("A limited-liability company has registered capital, "
                                          "not shares."))]
    if clean["legal_form"] is LegalForm.JSC and clean["registered_capital_amount"] is not None \
            and clean["share_count"] is None:
        problems["share_count"] = [str(_l("Enter the number of shares of a joint-stock "
                                          "company."))]
    return problems


def _company_payload(company: Company) -> dict[str, Any]:
    return {f: getattr(company, f) for f in COMPANY_FIELDS}


def _founder(person: Mapping[str, str]) -> Founder:
    return Founder(name=person["name"], title=person.get("title", ""),
                   background=person.get("background", ""), name_en=person.get("name_en", ""),
                   title_en=person.get("title_en", ""),
                   background_en=person.get("background_en", ""))


def _contact(person: Mapping[str, str]) -> Contact:
    return Contact(name=person["name"], phone=person.get("phone", ""),
                   email=person.get("email", ""))


def create_company(session: Session, *, actor: str, legal_name: str, sector: str,
                   name_en: str = "", uscc: str | None = None, district: str = "",
                   legal_form: LegalForm = LegalForm.LLC,
                   registered_capital_amount: Decimal | None = None,
                   share_count: int | None = None, par_value_amount: Decimal | None = None,
                   founded_on: date | None = None, website: str = "", description: str = "",
                   former_names: str = "",
                   founders: Sequence[Mapping[str, str]] = (),
                   contacts: Sequence[Mapping[str, str]] = ()) -> Company:
    """Register a company (CompanyCreateSchema checked the code, GB 32100-2015); it must be new."""
    clean = {"legal_name": legal_name, "name_en": name_en, "uscc": uscc or None,
             "district": district, "legal_form": LegalForm(legal_form),
             "registered_capital_amount": registered_capital_amount, "share_count": share_count,
             "par_value_amount": PAR_VALUE if par_value_amount is None else par_value_amount,
             "sector": sector, "founded_on": founded_on, "website": website,
             "description": description, "former_names": former_names.strip(),
             "normalised_name": normalise_name(legal_name)}
    not_after_today(founded_on, "founded_on")
    refuse_fields(_company_problems(session, clean))
    company = Company(**clean, founders=[_founder(f) for f in founders],
                      contacts=[_contact(c) for c in contacts])
    session.add(company)
    session.flush()
    record(session, actor=actor, action="company.created", subject_type="company",
           subject_id=company.id, payload={**_company_payload(company),
                                           "founders": [f["name"] for f in founders],
                                           "contacts": [c["name"] for c in contacts]})
    return company


def update_company(session: Session, company: Company, *, actor: str, **changes: Any) -> Company:
    """Change a company's details (CompanyUpdateSchema); the ledger keeps before and after."""
    changed = _apply_company_changes(session, company, changes)
    if changed:
        record(session, actor=actor, action="company.updated", subject_type="company",
               subject_id=company.id, payload=changed)
    return company


def _company_snapshot(company: Company) -> dict[str, Any]:
    return {**_company_payload(company),
            "founders": [{"name": f.name, "title": f.title} for f in company.founders],
            "contacts": [{"name": c.name, "phone": c.phone, "email": c.email}
                         for c in company.contacts]}


def correct_company(session: Session, company_id: int, *, actor: str, reason: str,
                    **changes: Any) -> Company:
    """Correct a company's recorded details with a reason (issue 12): `company.corrected`."""
    company = lock(session, Company, company_id)
    if company is None:
        raise NotFound(_l("No such company."))
    reason = require_reason(reason)
    before = _company_snapshot(company)
    _apply_company_changes(session, company, changes)
    session.flush()
    record_correction(session, actor=actor, thing="company", subject_type="company",
                      subject_id=company.id, reason=reason, before=before,
                      after=_company_snapshot(company))
    return company


def _apply_company_changes(session: Session, company: Company,
                           changes: Mapping[str, Any]) -> dict[str, Any]:
    clean = {**_company_payload(company), **{k: v for k, v in changes.items()
                                             if k in COMPANY_FIELDS}}
    clean["uscc"] = clean["uscc"] or None
    clean["legal_form"] = LegalForm(clean["legal_form"])
    if clean["par_value_amount"] is None:
        clean["par_value_amount"] = PAR_VALUE
    clean["normalised_name"] = normalise_name(clean["legal_name"])
    clean["former_names"] = (clean.get("former_names") or "").strip()
    if clean["legal_name"] != company.legal_name:  # a renamed company keeps being found
        former = clean["former_names"].splitlines()
        if company.legal_name not in former:
            clean["former_names"] = "\n".join([*former, company.legal_name]).strip()
    if "founded_on" in changes:
        not_after_today(clean["founded_on"], "founded_on")
    refuse_fields(_company_problems(session, clean, company))
    before = _company_payload(company)
    for key, value in clean.items():
        setattr(company, key, value)
    after = _company_payload(company)
    changed = {k: {"before": before[k], "after": after[k]} for k in COMPANY_FIELDS
               if before[k] != after[k]}
    if "founders" in changes:
        company.founders = [_founder(f) for f in changes["founders"]]
        changed["founders"] = [f["name"] for f in changes["founders"]]
    if "contacts" in changes:
        company.contacts = [_contact(c) for c in changes["contacts"]]
        changed["contacts"] = [c["name"] for c in changes["contacts"]]
    return changed


def get_company(session: Session, company_id: int) -> Company:
    company = session.get(Company, company_id)
    if company is None:
        raise NotFound(_l("No such company."))
    return company


# ---------------------------------------------------------------------------------------------
# Deals


def _manager_problem(session: Session, manager_id: int | None) -> str | None:
    if manager_id is None:
        return None
    user = session.get(User, manager_id)
    if user is None or not user.is_active or Role.FUND_MANAGER not in user.roles:
        return str(_l("Choose an active fund manager."))
    return None


def _roadshow_problem(session: Session, roadshow_id: int | None) -> str | None:
    if roadshow_id is not None and session.get(Roadshow, roadshow_id) is None:
        return str(_l("No such roadshow."))
    return None


def create_deal(session: Session, *, actor: str, company_id: int, project_name: str,
                requested_grant_amount: Decimal, approved_budget_amount: Decimal,
                project_summary: str = "", milestone_plan: str = "",
                manager_id: int | None = None, roadshow_id: int | None = None,
                now: datetime | None = None, project_name_en: str = "",
                opened_on: date | None = None) -> Deal:
    """Open a company's application (DealCreateSchema); it starts at the formal check (R11).

    `opened_on` (issue 12): the day the application came in (default today; never after it);
    the stage history starts that day and the ledger keeps it beside the time of recording."""
    company = session.get(Company, company_id)
    problems = {"company_id": None if company else str(_l("No such company.")),
                "manager_id": _manager_problem(session, manager_id),
                "roadshow_id": _roadshow_problem(session, roadshow_id)}
    refuse_fields({field: [message] for field, message in problems.items() if message})
    moment = now or datetime.now(UTC)
    _not_in_the_future(moment, "created_at")
    not_after_today(opened_on, "opened_on")
    recorded = moment
    if opened_on is not None:
        recorded = datetime.now(UTC) if now is None else moment
        if shanghai_today(moment) != opened_on:
            moment = min(datetime.combine(opened_on, time(12), SHANGHAI).astimezone(UTC),
                         datetime.now(UTC))
    deal = Deal(company=company, project_name=project_name,
                project_name_en=(project_name_en or "").strip(),
                requested_grant_amount=requested_grant_amount,
                approved_budget_amount=approved_budget_amount, project_summary=project_summary,
                milestone_plan=milestone_plan, manager_id=manager_id, roadshow_id=roadshow_id,
                stage=DealStage.FORMAL_CHECK, stage_entered_at=moment, created_at=moment)
    session.add(deal)
    session.flush()
    session.add(DealStageChange(deal_id=deal.id, from_stage=None, to_stage=DealStage.FORMAL_CHECK,
                                actor=actor, reason="", changed_at=moment))
    record(session, actor=actor, action="deal.created", subject_type="deal", subject_id=deal.id,
           at=recorded, happened_on=shanghai_today(moment) if opened_on else None,
           payload={"company_id": company.id, "company": company.legal_name,
                    "project_name": project_name, "project_name_en": deal.project_name_en,
                    "requested_grant_amount": requested_grant_amount,
                    "approved_budget_amount": approved_budget_amount,
                    "manager_id": manager_id, "roadshow_id": roadshow_id,
                    "stage": DealStage.FORMAL_CHECK})
    return deal


DEAL_FIELDS = ("project_name", "requested_grant_amount", "approved_budget_amount",
               "project_summary", "milestone_plan", "manager_id", "roadshow_id")


def update_deal(session: Session, deal: Deal, *, actor: str, **changes: Any) -> Deal:
    """Change an open deal's application details; the rules apply again at its next move."""
    deal = lock_deal(session, deal.id)
    if deal.stage in CLOSED_STAGES:
        raise AppError(_l("A deal that is %(stage)s can no longer be changed.",
                          stage=stage_label(deal.stage)), status=409, code="deal_closed")
    clean = {k: v for k, v in changes.items() if k in (*DEAL_FIELDS, "project_name_en")}
    problems = {"manager_id": _manager_problem(session, clean.get("manager_id")),
                "roadshow_id": _roadshow_problem(session, clean.get("roadshow_id"))}
    refuse_fields({field: [message] for field, message in problems.items() if message})
    changed = {}
    for key, value in clean.items():
        before = getattr(deal, key)
        if before != value:
            changed[key] = {"before": before, "after": value}
            setattr(deal, key, value)
    if changed:
        record(session, actor=actor, action="deal.updated", subject_type="deal",
               subject_id=deal.id, payload=changed)
    return deal


def deal_correction_fields() -> tuple[str, ...]:
    """The deal's fields a correction may change (the stage moves on the board only)."""
    english = tuple(name for name in ("project_name_en",) if hasattr(Deal, name))
    return DEAL_FIELDS[:1] + english + DEAL_FIELDS[1:]


def correct_deal(session: Session, deal_id: int, *, actor: str, reason: str,
                 **changes: Any) -> Deal:
    """Correct a deal's recorded application details with a reason (issue 12): `deal.corrected`.

    The stage is not a correction: it moves on the board, by R11's order and gates.
    """
    deal = lock_deal(session, deal_id)
    reason = require_reason(reason)
    names = deal_correction_fields()
    clean = {k: v for k, v in changes.items() if k in names}
    for key in ("project_name", "project_name_en", "project_summary", "milestone_plan"):
        if isinstance(clean.get(key), str):
            clean[key] = clean[key].strip()
    problems = {"manager_id": _manager_problem(session, clean.get("manager_id"))
                if clean.get("manager_id") != deal.manager_id else None,
                "roadshow_id": _roadshow_problem(session, clean.get("roadshow_id"))}
    refuse_fields({field: [message] for field, message in problems.items() if message})
    before = {k: getattr(deal, k) for k in clean}
    for key, value in clean.items():
        setattr(deal, key, value)
    record_correction(session, actor=actor, thing="deal", subject_type="deal",
                      subject_id=deal.id, reason=reason, before=before,
                      after={k: getattr(deal, k) for k in clean})
    return deal


def update_deal_memo(session: Session, deal_id: int, actor: str, **fields: Any) -> Deal:
    """Write the IC memo fields of a deal (DealMemoSchema validated them); the ledger keeps
    each changed field before and after. A closed deal's memo is kept as it was decided."""
    deal = lock_deal(session, deal_id)
    if deal.stage in CLOSED_STAGES:
        raise AppError(_l("A deal that is %(stage)s can no longer be changed.",
                          stage=stage_label(deal.stage)), status=409, code="deal_closed")
    changed = {}
    for key, value in fields.items():
        if key not in MEMO_FIELDS or value is None:
            continue
        value = value.strip()
        before = getattr(deal, key) or ""
        if before != value:
            changed[key] = {"before": before, "after": value}
            setattr(deal, key, value)
    if changed:
        record(session, actor=actor, action="deal.memo_updated", subject_type="deal",
               subject_id=deal.id, payload=changed)
    return deal


def get_deal(session: Session, deal_id: int) -> Deal:
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound(_l("No such deal."))
    return deal


def lock_deal(session: Session, deal_id: int) -> Deal:
    """The deal, locked until the unit of work ends and read afresh: concurrent moves, decisions
    and reviews of one deal check and write one after the other."""
    deal = lock(session, Deal, deal_id)  # lock() flushes first: nothing unflushed is lost
    if deal is None:
        raise NotFound(_l("No such deal."))
    return deal


def lock_roadshow(session: Session, roadshow_id: int) -> Roadshow:
    """The roadshow, locked until the unit of work ends and read afresh (its panel, slots,
    criteria, score sheets and sign-up imports are checked and written one request at a time)."""
    roadshow = lock(session, Roadshow, roadshow_id)
    if roadshow is None:
        raise NotFound(_l("No such roadshow."))
    return roadshow


def _not_in_the_future(moment: datetime, field: str) -> None:
    """What the pipeline records happened: a move or an opening is not dated after today."""
    not_after_today(shanghai_today(moment), field)


def _refuse_before_stage(deal: Deal, day: date, field: str) -> None:
    """History is entered in order: a fact about the deal is not dated before the day the deal
    entered the stage it is at (issue 12)."""
    entered = shanghai_today(deal.stage_entered_at)
    if day < entered:
        raise ValidationFailed(_l("Some fields are not valid."), details={field: [str(_l(
            "%(day)s is before %(entered)s, the day the deal reached %(stage)s.",
            day=day.isoformat(), entered=entered.isoformat(), stage=stage_label(deal.stage)))]})


def record_ic_decision(session: Session, deal: Deal, ic_decision_ref: str, *,
                       actor: str, decided_on: date | None = None) -> None:
    """Record the IC decision (投决会) reference that lets the deal go to public notice (R11).

    The investment-committee module records its decisions here; an admin may record the
    reference of a resolution by hand (IcDecisionSchema: 1 to 100 characters). `decided_on`:
    the day the committee decided (default today; issue 12).
    """
    reference = ic_decision_ref
    not_after_today(decided_on, "decided_on")
    deal = lock_deal(session, deal.id)
    if deal.stage is not DealStage.IC_DECISION:
        raise RuleRefused("R11", _l("An IC decision is recorded while the deal is at the IC "
                                    "decision stage; it is at %(stage)s.",
                                    stage=stage_label(deal.stage)))
    day = decided_on or shanghai_today()
    _refuse_before_stage(deal, day, "decided_on")
    before = deal.ic_decision_ref
    deal.ic_decision_ref = reference
    deal.ic_decided_on = day
    record(session, actor=actor, action="deal.ic_decision_recorded", subject_type="deal",
           subject_id=deal.id, happened_on=day,
           payload={"ic_decision_ref": reference, "before": before, "decided_on": day,
                    "rule": "R11"})


@dataclass(frozen=True)
class Quorum:
    approvals: int
    rejections: int
    eligible: int  # panel members who did not declare a conflict for the company
    needed: int

    @property
    def is_met(self) -> bool:
        return self.eligible > 0 and self.approvals >= self.needed


def conflicted_members(session: Session, roadshow_id: int, company_id: int) -> set[int]:
    return set(session.scalars(select(ScoreSheet.panel_member_id).where(
        ScoreSheet.roadshow_id == roadshow_id, ScoreSheet.company_id == company_id,
        ScoreSheet.has_conflict.is_(True))))


def expert_quorum(session: Session, deal: Deal, policy: PipelinePolicy | None = None) -> Quorum:
    """Approving reviews against the R11 quorum of the deal's roadshow panel."""
    policy = policy or pipeline_policy(session)
    if deal.roadshow_id is None:
        return Quorum(0, 0, 0, 0)
    panel = set(session.scalars(select(PanelMember.id)
                                .where(PanelMember.roadshow_id == deal.roadshow_id)))
    eligible = panel - conflicted_members(session, deal.roadshow_id, deal.company_id)
    reviews = session.execute(select(ExpertReview.panel_member_id, ExpertReview.is_approved)
                              .where(ExpertReview.deal_id == deal.id)).all()
    approvals = sum(1 for r in reviews if r.panel_member_id in eligible and r.is_approved)
    rejections = sum(1 for r in reviews if r.panel_member_id in eligible and not r.is_approved)
    needed = math.ceil(policy.expert_quorum * len(eligible))
    return Quorum(approvals, rejections, len(eligible), needed)


def refuse_before_roadshow(roadshow: Roadshow, today: date) -> None:
    """Judges score and review a roadshow's companies from the roadshow's day on (R11)."""
    if roadshow.held_on > today:
        raise RuleRefused("R11", _l("R11: the roadshow %(roadshow)s is held on %(on)s; its judges "
                                    "score and review from that day on (today is %(today)s, "
                                    "Shanghai time).", roadshow=roadshow.name,
                                    on=roadshow.held_on.isoformat(), today=today.isoformat()),
                          missing="roadshow_held", held_on=roadshow.held_on.isoformat())


def record_expert_review(session: Session, deal: Deal, *, panel_member_id: int,
                         is_approved: bool, comment: str = "", actor: str,
                         now: datetime | None = None,
                         reviewed_on: date | None = None) -> ExpertReview:
    """A panel member approves or rejects the deal (the R11 expert-review quorum counts these).

    `reviewed_on`: the day of the review (default today; issue 12), not before the roadshow."""
    not_after_today(reviewed_on, "reviewed_on")
    deal = lock_deal(session, deal.id)
    if deal.stage not in (DealStage.ROADSHOW, DealStage.EXPERT_REVIEW):
        raise RuleRefused("R11", _l("Expert reviews are recorded at the roadshow and expert "
                                    "review stages; this deal is at %(stage)s.",
                                    stage=stage_label(deal.stage)))
    member = session.get(PanelMember, panel_member_id)
    if member is None or deal.roadshow_id is None or member.roadshow_id != deal.roadshow_id:
        raise ValidationFailed(_l("Some fields are not valid."), details={"panel_member_id": [
            str(_l("Choose a member of the panel of this deal's roadshow."))]})
    day = reviewed_on or shanghai_today(now)
    refuse_before_roadshow(member.roadshow, day)
    if member.id in conflicted_members(session, deal.roadshow_id, deal.company_id):
        raise RuleRefused("R11", _l("%(name)s declared a conflict for this company and is "
                                    "recused from its review.", name=member.name))
    review = session.scalar(select(ExpertReview).where(
        ExpertReview.deal_id == deal.id, ExpertReview.panel_member_id == member.id))
    if review is None:
        review = ExpertReview(deal_id=deal.id, panel_member_id=member.id)
        session.add(review)
    review.is_approved = bool(is_approved)
    review.comment = comment
    review.recorded_by = actor
    session.flush()
    record(session, actor=actor, action="deal.expert_review_recorded", subject_type="deal",
           subject_id=deal.id, happened_on=day,
           payload={"panel_member_id": member.id, "panel_member": member.name,
                    "is_approved": review.is_approved, "comment": comment,
                    "reviewed_on": day, "rule": "R11"})
    return review


def _check_r2a(deal: Deal, policy: PipelinePolicy) -> None:
    requested = deal.requested_grant_amount
    if requested > policy.grant_cap_abs:
        raise RuleRefused("R2.a", _l("R2.a: the requested grant %(amount)s is above the cap of "
                                     "%(cap)s.", amount=format_money(requested),
                                     cap=format_money(policy.grant_cap_abs)),
                          requested=str(requested), cap=str(policy.grant_cap_abs))
    limit = (deal.approved_budget_amount * policy.grant_cap_pct_of_budget).quantize(
        Decimal("0.01"))
    if requested > limit:
        raise RuleRefused("R2.a", _l("R2.a: the requested grant %(amount)s is more than "
                                     "%(pct)s%% of the approved budget %(budget)s (at most "
                                     "%(limit)s).", amount=format_money(requested),
                                     pct=format_money(policy.grant_cap_pct_of_budget * 100, 0),
                                     budget=format_money(deal.approved_budget_amount),
                                     limit=format_money(limit)),
                          requested=str(requested), limit=str(limit))


def _check_r10a(session: Session, deal: Deal, policy: PipelinePolicy) -> None:
    committed = session.scalar(select(Fund.committed_amount).order_by(Fund.id).limit(1))
    if committed is None:
        raise RuleRefused("R10.a", _l(
            "R10.a: the fund is not set up yet, so the single-company limit (a share of its "
            "committed capital) cannot be checked. An administrator sets the fund up: on the "
            "dashboard after signing in, or with `fundapp fund create`."),
            who=_l("an administrator"), link=("main.dashboard", {}),
            link_label=_l("Set up the fund"))
    total = session.scalar(select(func.coalesce(func.sum(Deal.requested_grant_amount), 0))
                           .where(Deal.company_id == deal.company_id, Deal.id != deal.id,
                                  Deal.stage.not_in(list(WITHDRAWN_STAGES))))
    total = Decimal(total or 0) + deal.requested_grant_amount
    limit = (committed * policy.max_single_company_pct).quantize(Decimal("0.01"))
    if total > limit:
        raise RuleRefused("R10.a", _l("R10.a: %(company)s would receive %(total)s from the fund "
                                      "in all, more than %(pct)s%% of its committed capital "
                                      "%(committed)s (at most %(limit)s).",
                                      company=deal.company.legal_name, total=format_money(total),
                                      pct=format_money(policy.max_single_company_pct * 100, 0),
                                      committed=format_money(committed),
                                      limit=format_money(limit)),
                          total=str(total), limit=str(limit))


def _check_roadshow_held(session: Session, deal: Deal, today: date) -> None:
    roadshow = session.get(Roadshow, deal.roadshow_id) if deal.roadshow_id else None
    if roadshow is None:
        raise RuleRefused("R11", _l("R11: the roadshow is mandatory, and this deal has no "
                                    "roadshow. Set the roadshow the company pitched at."),
                          missing="roadshow")
    pitched = session.scalar(select(RoadshowSlot.id).where(
        RoadshowSlot.roadshow_id == roadshow.id, RoadshowSlot.company_id == deal.company_id))
    if pitched is None:
        raise RuleRefused("R11", _l("R11: %(company)s has no slot at the roadshow %(roadshow)s.",
                                    company=deal.company.legal_name, roadshow=roadshow.name),
                          missing="roadshow_slot")
    if roadshow.held_on > today:
        raise RuleRefused("R11", _l("R11: the roadshow %(roadshow)s is only held on %(on)s.",
                                    roadshow=roadshow.name, on=roadshow.held_on.isoformat()),
                          missing="roadshow_held")


def _ic_next_step(session: Session, deal: Deal) -> dict[str, Any]:
    """Who takes the IC decision and where (issue 12, no dead ends): the meeting on whose agenda
    the deal is, or the IC meetings page to put it on one."""
    # The agenda is read as a bare table: the pipeline does not import the IC package.
    items = table("ic_agenda_items", column("meeting_id"), column("deal_id"))
    meetings = table("ic_meetings", column("id"), column("held_on"))
    found = session.execute(select(meetings.c.id, meetings.c.held_on)
                            .join(items, items.c.meeting_id == meetings.c.id)
                            .where(items.c.deal_id == deal.id)
                            .order_by(meetings.c.held_on.desc(), meetings.c.id.desc())
                            .limit(1)).first()
    who = _l("the investment committee, at an IC meeting")
    if found is None:
        return {"who": who, "link": ("ic.meetings", {}),
                "link_label": _l("Put the deal on an IC meeting's agenda")}
    held_on = found.held_on if isinstance(found.held_on, date) else \
        date.fromisoformat(str(found.held_on))
    return {"who": who, "link": ("ic.meeting", {"meeting_id": found.id}),
            "link_label": _l("Open the IC meeting of %(day)s", day=held_on.isoformat()),
            "meeting_id": found.id}


def _check_quorum(session: Session, deal: Deal, policy: PipelinePolicy) -> None:
    quorum = expert_quorum(session, deal, policy)
    if quorum.eligible == 0:
        raise RuleRefused("R11", _l("R11: expert review needs a panel, and the deal's roadshow "
                                    "has no panel member without a conflict."),
                          missing="panel")
    if not quorum.is_met:
        raise RuleRefused("R11", _l("R11: expert review needs %(needed)s approving reviews of "
                                    "%(eligible)s panel members; it has %(approvals)s.",
                                    needed=quorum.needed, eligible=quorum.eligible,
                                    approvals=quorum.approvals),
                          missing="expert_quorum", needed=quorum.needed,
                          approvals=quorum.approvals,
                          who=_l("the expert panel of the deal's roadshow"),
                          link=("deals.deal", {"deal_id": deal.id}),
                          link_label=_l("Enter the panel's reviews on the deal page"))


def notice_end(session: Session, started_on: date, policy: PipelinePolicy) -> date:
    """The first day on which a public notice started on `started_on` has run its course."""
    horizon = started_on + timedelta(days=policy.public_notice_working_days * 3 + 60)
    overrides = calendar_overrides(session, started_on, horizon)
    return add_working_days(started_on, policy.public_notice_working_days, overrides)


def _check_public_notice(session: Session, deal: Deal, today: date,
                         policy: PipelinePolicy) -> None:
    started = deal.public_notice_started_on
    if started is None:
        raise RuleRefused("R11", _l("R11: the public notice has not started."),
                          missing="public_notice")
    overrides = calendar_overrides(session, started, max(today, started))
    ran = working_days_between(started, today, overrides)
    if ran < policy.public_notice_working_days:
        ends = notice_end(session, started, policy)
        raise RuleRefused("R11", _l("R11: the public notice started on %(start)s has run "
                                    "%(ran)s of %(needed)s working days; the agreement can be "
                                    "signed from %(end)s.", start=started.isoformat(), ran=ran,
                                    needed=policy.public_notice_working_days,
                                    end=ends.isoformat()),
                          missing="public_notice_days", ran=ran, ends_on=ends.isoformat())


def next_stage(stage: DealStage) -> DealStage | None:
    if stage not in PIPELINE:
        return None
    index = PIPELINE.index(stage)
    return PIPELINE[index + 1] if index + 1 < len(PIPELINE) else None


def advance_deal(session: Session, deal: Deal, to_stage: DealStage | str, *, actor: str,
                 reason: str = "", expected_stage: DealStage | str | None = None,
                 now: datetime | None = None, on: date | None = None) -> DealStageChange:
    """Move a deal to another stage: the one operation that enforces R11, R2.a and R10.a.

    `expected_stage`, when given, is where the mover saw the deal (a board that was open a while).
    `on` (issue 12): the day the move happened, default today: a move to public notice starts
    the notice that day, a move to "agreement signed" counts the notice's working days up to it,
    and the rules are those in force that day. Never after today, never before the day the deal
    reached its current stage (history is entered in order).
    """
    target = DealStage(to_stage)
    moment = now or datetime.now(UTC)
    _not_in_the_future(moment, "changed_at")
    not_after_today(on, "on")
    deal = lock_deal(session, deal.id)
    if expected_stage is not None and deal.stage != DealStage(expected_stage):
        raise AppError(_l("This deal was moved meanwhile: it is now at %(stage)s.",
                          stage=stage_label(deal.stage)), status=409, code="stage_changed",
                       details={"stage": deal.stage.value})
    today = on or shanghai_today(moment)  # the day the move happened
    happened = moment
    recorded = moment
    if on is not None:
        _refuse_before_stage(deal, on, "on")
        recorded = datetime.now(UTC)
        if shanghai_today(moment) != on:
            happened = datetime.combine(on, time(12), SHANGHAI).astimezone(UTC)
        happened = max(happened, deal.stage_entered_at)  # in order within one day
    policy = pipeline_policy(session, today)
    current = deal.stage
    checks: list[str] = []
    if target == current:
        raise RuleRefused("R11", _l("The deal is already at %(stage)s.",
                                    stage=stage_label(current)))
    if current in CLOSED_STAGES:
        raise RuleRefused("R11", _l("A deal that is %(stage)s does not move any more.",
                                    stage=stage_label(current)))
    if target in (DealStage.DECLINED, DealStage.WITHDRAWN, DealStage.ON_HOLD):
        if not reason:
            raise ValidationFailed(_l("Give the reason for this move."),
                                   details={"reason": [str(_l("Give the reason for this move."))]})
        if target is DealStage.ON_HOLD:
            deal.held_from_stage = current
    elif current is DealStage.ON_HOLD:
        if target != deal.held_from_stage:
            raise RuleRefused("R11", _l("R11: a deal on hold returns to the stage it was held "
                                        "at, %(stage)s.", stage=stage_label(deal.held_from_stage)),
                              returns_to=str(deal.held_from_stage))
        deal.held_from_stage = None
    else:
        expected = next_stage(current)
        if target != expected:
            raise RuleRefused("R11", _l("R11: stages cannot be skipped or gone back to; the next "
                                        "stage of this deal is %(stage)s.",
                                        stage=stage_label(expected)),
                              next_stage=str(expected))
        if target is DealStage.EXPERT_REVIEW:
            _check_roadshow_held(session, deal, today)
            checks.append("R11 roadshow")
        elif target is DealStage.DUE_DILIGENCE:
            _check_quorum(session, deal, policy)
            checks.append("R11 expert quorum")
        elif target is DealStage.PUBLIC_NOTICE:
            if not deal.ic_decision_ref:
                raise RuleRefused("R11", _l("R11: a recorded IC decision is needed before the "
                                            "public notice; none is recorded for this deal. "
                                            "The decision is taken at an IC meeting, which "
                                            "moves the deal to public notice."),
                                  missing="ic_decision_ref", **_ic_next_step(session, deal))
            if on is not None and deal.ic_decided_on is not None and on < deal.ic_decided_on:
                # issue 12: the notice follows the decision; it does not start before it (without
                # `on` the move is today's, never before a decision, which is not after today)
                raise ValidationFailed(_l("Some fields are not valid."), details={"on": [str(_l(
                    "The public notice cannot start on %(day)s, before the IC decision of "
                    "%(decided)s.", day=today.isoformat(),
                    decided=deal.ic_decided_on.isoformat()))]})
            checks.append("R11 IC decision")
        elif target is DealStage.AGREEMENT_SIGNED:
            _check_public_notice(session, deal, today, policy)
            checks.append("R11 public notice")
        _check_r2a(deal, policy)
        _check_r10a(session, deal, policy)
        checks += ["R2.a", "R10.a"]
        if target is DealStage.PUBLIC_NOTICE:
            deal.public_notice_started_on = today
    change = DealStageChange(deal_id=deal.id, from_stage=current, to_stage=target, actor=actor,
                             reason=reason, changed_at=happened)
    session.add(change)
    deal.stage = target
    deal.stage_entered_at = happened
    record(session, actor=actor, action="deal.stage_changed", subject_type="deal",
           subject_id=deal.id, at=recorded, happened_on=today,
           payload={"company": deal.company.legal_name, "from": current, "to": target,
                    "reason": reason, "checks": checks, "policy": policy.version,
                    "requested_grant_amount": deal.requested_grant_amount,
                    "ic_decision_ref": deal.ic_decision_ref or None,
                    "public_notice_started_on": deal.public_notice_started_on})
    return change


def deal_days_in_stage(deal_entered: datetime, now: datetime | None = None) -> int:
    return max(0, ((now or datetime.now(UTC)) - deal_entered).days)
