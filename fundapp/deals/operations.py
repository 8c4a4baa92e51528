"""Companies, deals and the R11 pipeline, roadshows and their judging.

Every operation validates its input, only flushes (the caller commits once) and writes what it
changed to the compliance ledger in the same transaction. Refusals by the rule book raise
RuleRefused naming the clause (R2.a, R10.a, R11) and what is missing.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundapp.auth.models import Role, User
from fundapp.compliance.ledger import record
from fundapp.deals.models import (
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
    RoadshowCriterion,
    RoadshowFormat,
    RoadshowSlot,
    Score,
    ScoreSheet,
)
from fundapp.deals.policy import PipelinePolicy, pipeline_policy
from fundapp.deals.scoring import DEFAULT_CRITERIA, MAX_SCORE, MIN_SCORE
from fundapp.deals.sectors import SECTORS
from fundapp.deals.uscc import normalise_uscc, uscc_problem
from fundapp.errors import AppError, NotFound, RuleRefused, ValidationFailed
from fundapp.portfolio.models import Fund
from fundapp.reference.calendar import add_working_days, working_days_between
from fundapp.reference.queries import calendar_overrides
from fundapp.ui import format_money

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Anything above this is a typing error, not an amount this fund will ever see (CNY).
MAX_AMOUNT = Decimal("10000000000.00")
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

USCC_MESSAGES = {
    "length": _l("A unified social credit code has 18 characters."),
    "characters": _l("A unified social credit code uses only digits and the letters "
                     "A-H, J-N, P-R, T, U, W-Y."),
    "check": _l("The check character (the 18th) does not match: the code is mistyped."),
}


def stage_label(stage: DealStage | str | None) -> str:
    if stage is None:
        return ""
    return str(STAGE_LABELS.get(DealStage(stage), stage))


def shanghai_today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(SHANGHAI).date()


# ---------------------------------------------------------------------------------------------
# Input helpers shared by companies, deals and the sign-up sheet import


class Problems:
    """Collects field -> messages, then raises them all at once."""

    def __init__(self) -> None:
        self.details: dict[str, list[str]] = {}

    def add(self, field: str, message: Any) -> None:
        self.details.setdefault(field, []).append(str(message))

    def __bool__(self) -> bool:
        return bool(self.details)

    def raise_if_any(self) -> None:
        if self.details:
            raise ValidationFailed(_l("Some fields are not valid."), details=self.details)


def parse_amount(value: Any, field: str, problems: Problems, *, required: bool = True,
                 allow_zero: bool = False) -> Decimal | None:
    """CNY with at most 2 places, positive and not absurd (R1). Floats are refused outright."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(field, _l("Enter an amount."))
        return None
    if isinstance(value, (float, bool)):
        problems.add(field, _l("Enter the amount as text or a whole number, not a float."))
        return None
    try:
        text = value.strip().replace(",", "").replace("，", "") if isinstance(value, str) else value
        amount = Decimal(text)
    except (InvalidOperation, ValueError, TypeError):
        problems.add(field, _l("Enter an amount in yuan, such as 1500000.00."))
        return None
    if not amount.is_finite():
        problems.add(field, _l("Enter an amount in yuan, such as 1500000.00."))
        return None
    if amount.as_tuple().exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        problems.add(field, _l("An amount has at most 2 decimal places (fen)."))
        return None
    if amount < 0 or (amount == 0 and not allow_zero):
        problems.add(field, _l("The amount must be greater than zero."))
        return None
    if amount > MAX_AMOUNT:
        problems.add(field, _l("The amount is not plausible (more than %(max)s).",
                               max=format_money(MAX_AMOUNT)))
        return None
    return amount.quantize(Decimal("0.01"))


def _text(value: Any, field: str, problems: Problems, *, max_length: int,
          required: bool = False) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        problems.add(field, _l("This field is required."))
    elif len(text) > max_length:
        problems.add(field, _l("At most %(n)s characters.", n=max_length))
    return text


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
                  "founded_on", "website", "description")


def _clean_company(session: Session, data: Mapping[str, Any], problems: Problems, *,
                   company: Company | None = None, today: date | None = None) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    clean["legal_name"] = _text(data.get("legal_name"), "legal_name", problems, max_length=200,
                                required=True)
    clean["name_en"] = _text(data.get("name_en"), "name_en", problems, max_length=200)
    clean["district"] = _text(data.get("district"), "district", problems, max_length=100)
    clean["website"] = _text(data.get("website"), "website", problems, max_length=300)
    clean["description"] = _text(data.get("description"), "description", problems,
                                 max_length=20000)
    code = normalise_uscc(str(data.get("uscc") or ""))
    if code:
        problem = uscc_problem(code)
        if problem:
            problems.add("uscc", USCC_MESSAGES[problem])
        else:
            other = session.scalar(select(Company).where(Company.uscc == code))
            if other is not None and (company is None or other.id != company.id):
                problems.add("uscc", _l("This credit code is already registered to %(name)s.",
                                        name=other.legal_name))
    clean["uscc"] = code or None
    sector = str(data.get("sector") or "").strip()
    if not sector:
        problems.add("sector", _l("Choose a sector."))
    elif sector not in SECTORS:
        problems.add("sector", _l("Unknown sector: %(code)s.", code=sector))
    clean["sector"] = sector
    try:
        form = LegalForm(data.get("legal_form") or LegalForm.LLC)
    except ValueError:
        problems.add("legal_form", _l("Choose LLC or joint-stock company."))
        form = LegalForm.LLC
    clean["legal_form"] = form
    clean["registered_capital_amount"] = parse_amount(
        data.get("registered_capital_amount"), "registered_capital_amount", problems,
        required=False)
    shares = data.get("share_count")
    clean["share_count"] = None
    if shares not in (None, ""):
        try:
            count = int(str(shares).strip().replace(",", ""))
        except ValueError:
            problems.add("share_count", _l("Enter a whole number of shares."))
        else:
            if count <= 0 or count > 10**15:
                problems.add("share_count", _l("Enter a whole number of shares."))
            else:
                clean["share_count"] = count
    par = data.get("par_value_amount")
    clean["par_value_amount"] = Decimal("1.00")
    if par not in (None, ""):
        try:
            par_value = Decimal(str(par).strip())
        except InvalidOperation:
            problems.add("par_value_amount", _l("Enter a par value such as 1.00."))
        else:
            if not par_value.is_finite() or par_value <= 0 or par_value > 1000 or \
                    par_value != par_value.quantize(Decimal("0.0001")):
                problems.add("par_value_amount", _l("Enter a par value such as 1.00."))
            else:
                clean["par_value_amount"] = par_value
    if form is LegalForm.LLC and clean["share_count"] is not None:
        problems.add("share_count", _l("A limited-liability company has registered capital, "
                                       "not shares."))
    if form is LegalForm.JSC and clean["registered_capital_amount"] is not None \
            and clean["share_count"] is None:
        problems.add("share_count", _l("Enter the number of shares of a joint-stock company."))
    founded = data.get("founded_on")
    if isinstance(founded, str):
        founded = founded.strip() or None
        if founded:
            try:
                founded = date.fromisoformat(founded)
            except ValueError:
                problems.add("founded_on", _l("Enter a date as YYYY-MM-DD."))
                founded = None
    if isinstance(founded, datetime):
        founded = founded.date()
    if founded is not None and founded > (today or shanghai_today()):
        problems.add("founded_on", _l("The founding date is in the future."))
    clean["founded_on"] = founded
    if clean["legal_name"]:
        normalised = normalise_name(clean["legal_name"])
        stmt = select(Company).where(Company.normalised_name == normalised)
        if company is not None:
            stmt = stmt.where(Company.id != company.id)
        other = session.scalars(stmt.limit(1)).first()
        if other is not None and (not clean["uscc"] or not other.uscc
                                  or other.uscc == clean["uscc"]):
            problems.add("legal_name", _l("A company with this name already exists: %(name)s.",
                                          name=other.legal_name))
        clean["normalised_name"] = normalised
    return clean


def _people(data: Mapping[str, Any], key: str, fields: tuple[str, ...],
            problems: Problems) -> list[dict[str, str]]:
    people = []
    for index, person in enumerate(data.get(key) or []):
        row = {f: _text(person.get(f), f"{key}.{index}.{f}", problems, max_length=320)
               for f in fields}
        if row["name"]:
            people.append(row)
    return people


def _company_payload(company: Company) -> dict[str, Any]:
    return {f: getattr(company, f) for f in COMPANY_FIELDS}


def create_company(session: Session, *, actor: str, **data: Any) -> Company:
    """Register a company; the credit code is checked (GB 32100-2015) and must be new."""
    problems = Problems()
    clean = _clean_company(session, data, problems)
    founders = _people(data, "founders", ("name", "title", "background"), problems)
    contacts = _people(data, "contacts", ("name", "phone", "email"), problems)
    problems.raise_if_any()
    company = Company(**clean, founders=[Founder(**f) for f in founders],
                      contacts=[Contact(**c) for c in contacts])
    session.add(company)
    session.flush()
    record(session, actor=actor, action="company.created", subject_type="company",
           subject_id=company.id, payload={**_company_payload(company),
                                           "founders": [f["name"] for f in founders],
                                           "contacts": [c["name"] for c in contacts]})
    return company


def update_company(session: Session, company: Company, *, actor: str, **data: Any) -> Company:
    """Change a company's details; the ledger keeps what changed, before and after."""
    problems = Problems()
    merged = {**_company_payload(company), **{k: v for k, v in data.items()
                                              if k in COMPANY_FIELDS}}
    clean = _clean_company(session, merged, problems, company=company)
    founders = _people(data, "founders", ("name", "title", "background"), problems) \
        if "founders" in data else None
    contacts = _people(data, "contacts", ("name", "phone", "email"), problems) \
        if "contacts" in data else None
    problems.raise_if_any()
    before = _company_payload(company)
    for key, value in clean.items():
        setattr(company, key, value)
    after = _company_payload(company)
    changes = {k: {"before": before[k], "after": after[k]} for k in COMPANY_FIELDS
               if before[k] != after[k]}
    if founders is not None:
        company.founders = [Founder(**f) for f in founders]
        changes["founders"] = [f["name"] for f in founders]
    if contacts is not None:
        company.contacts = [Contact(**c) for c in contacts]
        changes["contacts"] = [c["name"] for c in contacts]
    if changes:
        record(session, actor=actor, action="company.updated", subject_type="company",
               subject_id=company.id, payload=changes)
    return company


def get_company(session: Session, company_id: int) -> Company:
    company = session.get(Company, company_id)
    if company is None:
        raise NotFound(_l("No such company."))
    return company


# ---------------------------------------------------------------------------------------------
# Deals


def _check_manager(session: Session, manager_id: Any, problems: Problems) -> int | None:
    if manager_id in (None, "", 0):
        return None
    try:
        manager_id = int(manager_id)
    except (TypeError, ValueError):
        problems.add("manager_id", _l("Choose a fund manager."))
        return None
    user = session.get(User, manager_id)
    if user is None or not user.is_active or Role.FUND_MANAGER not in user.roles:
        problems.add("manager_id", _l("Choose an active fund manager."))
        return None
    return manager_id


def _check_roadshow(session: Session, roadshow_id: Any, problems: Problems) -> int | None:
    if roadshow_id in (None, "", 0):
        return None
    try:
        roadshow_id = int(roadshow_id)
    except (TypeError, ValueError):
        problems.add("roadshow_id", _l("No such roadshow."))
        return None
    if session.get(Roadshow, roadshow_id) is None:
        problems.add("roadshow_id", _l("No such roadshow."))
        return None
    return roadshow_id


def create_deal(session: Session, *, actor: str, company_id: int, project_name: str,
                requested_grant_amount: Any, approved_budget_amount: Any,
                project_summary: str = "", milestone_plan: str = "",
                manager_id: int | None = None, roadshow_id: int | None = None,
                now: datetime | None = None) -> Deal:
    """Open a company's application; it starts at the formal check (R11)."""
    problems = Problems()
    company = session.get(Company, company_id) if company_id else None
    if company is None:
        problems.add("company_id", _l("No such company."))
    name = _text(project_name, "project_name", problems, max_length=200, required=True)
    requested = parse_amount(requested_grant_amount, "requested_grant_amount", problems)
    budget = parse_amount(approved_budget_amount, "approved_budget_amount", problems)
    summary = _text(project_summary, "project_summary", problems, max_length=20000)
    plan = _text(milestone_plan, "milestone_plan", problems, max_length=20000)
    manager = _check_manager(session, manager_id, problems)
    roadshow = _check_roadshow(session, roadshow_id, problems)
    problems.raise_if_any()
    moment = now or datetime.now(UTC)
    deal = Deal(company=company, project_name=name, requested_grant_amount=requested,
                approved_budget_amount=budget, project_summary=summary, milestone_plan=plan,
                manager_id=manager, roadshow_id=roadshow, stage=DealStage.FORMAL_CHECK,
                stage_entered_at=moment, created_at=moment)
    session.add(deal)
    session.flush()
    session.add(DealStageChange(deal_id=deal.id, from_stage=None, to_stage=DealStage.FORMAL_CHECK,
                                actor=actor, reason="", changed_at=moment))
    record(session, actor=actor, action="deal.created", subject_type="deal", subject_id=deal.id,
           at=moment, payload={"company_id": company.id, "company": company.legal_name,
                               "project_name": name, "requested_grant_amount": requested,
                               "approved_budget_amount": budget, "manager_id": manager,
                               "roadshow_id": roadshow, "stage": DealStage.FORMAL_CHECK})
    return deal


DEAL_FIELDS = ("project_name", "requested_grant_amount", "approved_budget_amount",
               "project_summary", "milestone_plan", "manager_id", "roadshow_id")


def update_deal(session: Session, deal: Deal, *, actor: str, **data: Any) -> Deal:
    """Change an open deal's application details; the rules apply again at its next move."""
    if deal.stage in CLOSED_STAGES:
        raise AppError(_l("A deal that is %(stage)s can no longer be changed.",
                          stage=stage_label(deal.stage)), status=409, code="deal_closed")
    problems = Problems()
    clean: dict[str, Any] = {}
    if "project_name" in data:
        clean["project_name"] = _text(data["project_name"], "project_name", problems,
                                      max_length=200, required=True)
    for key in ("requested_grant_amount", "approved_budget_amount"):
        if key in data:
            clean[key] = parse_amount(data[key], key, problems)
    for key in ("project_summary", "milestone_plan"):
        if key in data:
            clean[key] = _text(data[key], key, problems, max_length=20000)
    if "manager_id" in data:
        clean["manager_id"] = _check_manager(session, data["manager_id"], problems)
    if "roadshow_id" in data:
        clean["roadshow_id"] = _check_roadshow(session, data["roadshow_id"], problems)
    problems.raise_if_any()
    changes = {}
    for key, value in clean.items():
        before = getattr(deal, key)
        if before != value:
            changes[key] = {"before": before, "after": value}
            setattr(deal, key, value)
    if changes:
        record(session, actor=actor, action="deal.updated", subject_type="deal",
               subject_id=deal.id, payload=changes)
    return deal


def get_deal(session: Session, deal_id: int) -> Deal:
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise NotFound(_l("No such deal."))
    return deal


def record_ic_decision(session: Session, deal: Deal, reference: str, *, actor: str) -> None:
    """Record the IC decision (投决会) reference that lets the deal go to public notice (R11).

    The investment-committee module will supply decisions itself; until then an admin records
    the reference of the resolution here.
    """
    reference = (reference or "").strip()
    if not reference:
        raise ValidationFailed(_l("Enter the IC decision reference."),
                               details={"ic_decision_ref": [str(_l("This field is required."))]})
    if len(reference) > 100:
        raise ValidationFailed(_l("Some fields are not valid."),
                               details={"ic_decision_ref": [str(_l("At most %(n)s characters.",
                                                                   n=100))]})
    if deal.stage is not DealStage.IC_DECISION:
        raise RuleRefused("R11", _l("An IC decision is recorded while the deal is at the IC "
                                    "decision stage; it is at %(stage)s.",
                                    stage=stage_label(deal.stage)))
    before = deal.ic_decision_ref
    deal.ic_decision_ref = reference
    record(session, actor=actor, action="deal.ic_decision_recorded", subject_type="deal",
           subject_id=deal.id, payload={"ic_decision_ref": reference, "before": before,
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


def record_expert_review(session: Session, deal: Deal, *, panel_member_id: int,
                         is_approved: bool, comment: str = "", actor: str) -> ExpertReview:
    """A panel member approves or rejects the deal (the R11 expert-review quorum counts these)."""
    if deal.stage not in (DealStage.ROADSHOW, DealStage.EXPERT_REVIEW):
        raise RuleRefused("R11", _l("Expert reviews are recorded at the roadshow and expert "
                                    "review stages; this deal is at %(stage)s.",
                                    stage=stage_label(deal.stage)))
    member = session.get(PanelMember, panel_member_id) if panel_member_id else None
    if member is None or deal.roadshow_id is None or member.roadshow_id != deal.roadshow_id:
        raise ValidationFailed(_l("Some fields are not valid."), details={"panel_member_id": [
            str(_l("Choose a member of the panel of this deal's roadshow."))]})
    if member.id in conflicted_members(session, deal.roadshow_id, deal.company_id):
        raise RuleRefused("R11", _l("%(name)s declared a conflict for this company and is "
                                    "recused from its review.", name=member.name))
    problems = Problems()
    comment = _text(comment, "comment", problems, max_length=5000)
    problems.raise_if_any()
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
           subject_id=deal.id, payload={"panel_member_id": member.id, "panel_member": member.name,
                                        "is_approved": review.is_approved, "comment": comment,
                                        "rule": "R11"})
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
        raise RuleRefused("R10.a", _l("R10.a: no fund with committed capital is recorded, so "
                                      "the single-company limit cannot be checked."))
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
                          approvals=quorum.approvals)


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
                 now: datetime | None = None) -> DealStageChange:
    """Move a deal to another stage: the one operation that enforces R11, R2.a and R10.a."""
    try:
        target = DealStage(to_stage)
    except ValueError:
        raise ValidationFailed(_l("Some fields are not valid."),
                               details={"to_stage": [str(_l("Unknown stage."))]}) from None
    if expected_stage is not None and str(expected_stage) and deal.stage != DealStage(
            expected_stage):
        raise AppError(_l("This deal was moved meanwhile: it is now at %(stage)s.",
                          stage=stage_label(deal.stage)), status=409, code="stage_changed",
                       details={"stage": deal.stage.value})
    problems = Problems()
    reason = _text(reason, "reason", problems, max_length=5000)
    problems.raise_if_any()
    policy = pipeline_policy(session)
    moment = now or datetime.now(UTC)
    today = shanghai_today(moment)
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
                                   details={"reason": [str(_l("This field is required."))]})
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
                                            "public notice; none is recorded for this deal."),
                                  missing="ic_decision_ref")
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
                             reason=reason, changed_at=moment)
    session.add(change)
    deal.stage = target
    deal.stage_entered_at = moment
    record(session, actor=actor, action="deal.stage_changed", subject_type="deal",
           subject_id=deal.id, at=moment,
           payload={"company": deal.company.legal_name, "from": current, "to": target,
                    "reason": reason, "checks": checks, "policy": policy.version,
                    "requested_grant_amount": deal.requested_grant_amount,
                    "ic_decision_ref": deal.ic_decision_ref or None,
                    "public_notice_started_on": deal.public_notice_started_on})
    return change


# ---------------------------------------------------------------------------------------------
# Roadshows and judging


def _clean_roadshow(data: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
    clean = {
        "name": _text(data.get("name"), "name", problems, max_length=200, required=True),
        "venue": _text(data.get("venue"), "venue", problems, max_length=200),
        "organiser": _text(data.get("organiser"), "organiser", problems, max_length=200),
    }
    held = data.get("held_on")
    if isinstance(held, str):
        try:
            held = date.fromisoformat(held.strip())
        except ValueError:
            held = None
    if not isinstance(held, date):
        problems.add("held_on", _l("Enter a date as YYYY-MM-DD."))
    elif not date(2000, 1, 1) <= held <= date(2100, 12, 31):
        problems.add("held_on", _l("Enter a date between 2000 and 2100."))
    clean["held_on"] = held
    try:
        clean["format"] = RoadshowFormat(data.get("format") or RoadshowFormat.OFFLINE)
    except ValueError:
        problems.add("format", _l("Choose online or offline."))
    return clean


def create_roadshow(session: Session, *, actor: str, **data: Any) -> Roadshow:
    """A roadshow with the default criteria (20% each) unless criteria are given."""
    problems = Problems()
    clean = _clean_roadshow(data, problems)
    criteria = data.get("criteria")
    if criteria:
        checked = _clean_criteria(criteria, problems)
    else:
        checked = [{"code": c, "label": label, "weight_pct": w} for c, label, w in DEFAULT_CRITERIA]
    problems.raise_if_any()
    roadshow = Roadshow(**clean, criteria=[RoadshowCriterion(position=i, **c)
                                           for i, c in enumerate(checked)])
    session.add(roadshow)
    session.flush()
    record(session, actor=actor, action="roadshow.created", subject_type="roadshow",
           subject_id=roadshow.id, payload={**clean, "criteria": [
               {"code": c["code"], "weight_pct": c["weight_pct"]} for c in checked]})
    return roadshow


def update_roadshow(session: Session, roadshow: Roadshow, *, actor: str, **data: Any) -> None:
    problems = Problems()
    merged = {"name": roadshow.name, "held_on": roadshow.held_on, "venue": roadshow.venue,
              "organiser": roadshow.organiser, "format": roadshow.format, **data}
    clean = _clean_roadshow(merged, problems)
    problems.raise_if_any()
    changes = {}
    for key, value in clean.items():
        if getattr(roadshow, key) != value:
            changes[key] = {"before": getattr(roadshow, key), "after": value}
            setattr(roadshow, key, value)
    if changes:
        record(session, actor=actor, action="roadshow.updated", subject_type="roadshow",
               subject_id=roadshow.id, payload=changes)


def get_roadshow(session: Session, roadshow_id: int) -> Roadshow:
    roadshow = session.get(Roadshow, roadshow_id)
    if roadshow is None:
        raise NotFound(_l("No such roadshow."))
    return roadshow


_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _clean_criteria(criteria: Iterable[Mapping[str, Any]], problems: Problems) -> list[dict]:
    checked = []
    codes: set[str] = set()
    for index, item in enumerate(criteria):
        label = _text(item.get("label"), f"criteria.{index}.label", problems, max_length=100,
                      required=True)
        code = str(item.get("code") or "").strip() or re.sub(r"\W+", "_", label.lower()).strip("_")
        if not _CODE.match(code):
            code = f"c{index + 1}"
        if code in codes:
            problems.add(f"criteria.{index}.code", _l("Each criterion appears once."))
        codes.add(code)
        weight = item.get("weight_pct")
        try:
            weight = Decimal(str(weight).strip()) if weight not in (None, "") else None
        except InvalidOperation:
            weight = None
        if weight is None or isinstance(item.get("weight_pct"), float) or not weight.is_finite() \
                or weight <= 0 or weight > 100 or weight != weight.quantize(Decimal("0.01")):
            problems.add(f"criteria.{index}.weight_pct",
                         _l("A weight is a percentage above 0 and at most 100, such as 20."))
            weight = Decimal(0)
        checked.append({"code": code, "label": label, "weight_pct": weight})
    if not checked:
        problems.add("criteria", _l("Give at least one criterion."))
    elif not problems:
        total = sum((c["weight_pct"] for c in checked), Decimal(0))
        if total != 100:
            problems.add("criteria", _l("The weights add up to %(total)s%%; they must add up to "
                                        "100%%.", total=format_money(total)))
    return checked


def set_criteria(session: Session, roadshow: Roadshow, criteria: list[Mapping[str, Any]], *,
                 actor: str) -> None:
    """Replace the roadshow's criteria and weights (summing to 100%); scores already given to a
    criterion that stays are kept, and a criterion that has scores cannot be removed."""
    problems = Problems()
    checked = _clean_criteria(criteria, problems)
    problems.raise_if_any()
    existing = {c.code: c for c in roadshow.criteria}
    wanted = {c["code"] for c in checked}
    removed = [c for code, c in existing.items() if code not in wanted]
    if removed:
        scored = session.scalar(select(func.count()).select_from(Score).where(
            Score.criterion_id.in_([c.id for c in removed])))
        if scored:
            raise ValidationFailed(_l("Some fields are not valid."), details={"criteria": [
                str(_l("%(label)s already has scores and cannot be removed.",
                       label=removed[0].label))]})
    kept = []
    for position, item in enumerate(checked):
        criterion = existing.get(item["code"])
        if criterion is None:
            criterion = RoadshowCriterion(code=item["code"])
        criterion.label = item["label"]
        criterion.weight_pct = item["weight_pct"]
        criterion.position = position
        kept.append(criterion)
    roadshow.criteria = kept
    session.flush()
    record(session, actor=actor, action="roadshow.criteria_set", subject_type="roadshow",
           subject_id=roadshow.id, payload={"criteria": [
               {"code": c["code"], "label": c["label"], "weight_pct": c["weight_pct"]}
               for c in checked]})


def add_panel_member(session: Session, roadshow: Roadshow, *, actor: str,
                     user_id: int | None = None, name: str = "",
                     affiliation: str = "") -> PanelMember:
    """A judge: a user of fundapp, or an external expert by name."""
    problems = Problems()
    name = _text(name, "name", problems, max_length=200)
    affiliation = _text(affiliation, "affiliation", problems, max_length=200)
    user = None
    if user_id:
        user = session.get(User, int(user_id))
        if user is None or not user.is_active:
            problems.add("user_id", _l("No such user."))
        elif session.scalar(select(PanelMember.id).where(PanelMember.roadshow_id == roadshow.id,
                                                         PanelMember.user_id == user.id)):
            problems.add("user_id", _l("This user is already on the panel."))
        else:
            name = name or user.display_name
    elif not name:
        problems.add("name", _l("Choose a user or enter the expert's name."))
    problems.raise_if_any()
    member = PanelMember(roadshow_id=roadshow.id, user_id=user.id if user else None, name=name,
                         affiliation=affiliation)
    session.add(member)
    session.flush()
    record(session, actor=actor, action="roadshow.panel_member_added", subject_type="roadshow",
           subject_id=roadshow.id, payload={"panel_member_id": member.id, "name": name,
                                            "user_id": member.user_id,
                                            "affiliation": affiliation})
    return member


def add_slot(session: Session, roadshow: Roadshow, company: Company, *, actor: str,
             position: int | None = None) -> RoadshowSlot:
    """The company pitches at the roadshow, by default after the last slot."""
    slot = session.scalar(select(RoadshowSlot).where(RoadshowSlot.roadshow_id == roadshow.id,
                                                     RoadshowSlot.company_id == company.id))
    if slot is not None:
        return slot
    if position is None:
        last = session.scalar(select(func.max(RoadshowSlot.position))
                              .where(RoadshowSlot.roadshow_id == roadshow.id))
        position = (last or 0) + 1
    elif not 1 <= position <= 10000:
        raise ValidationFailed(_l("Some fields are not valid."), details={"position": [
            str(_l("A slot number is between 1 and 10000."))]})
    slot = RoadshowSlot(roadshow_id=roadshow.id, company_id=company.id, position=position)
    session.add(slot)
    session.flush()
    record(session, actor=actor, action="roadshow.slot_added", subject_type="roadshow",
           subject_id=roadshow.id, payload={"company_id": company.id,
                                            "company": company.legal_name, "position": position})
    return slot


def record_score_sheet(session: Session, roadshow: Roadshow, *, panel_member_id: int,
                       company_id: int, scores: Mapping[str, Any] | None = None,
                       has_conflict: bool = False, comment: str = "",
                       actor: str) -> ScoreSheet:
    """A judge's scores for a company (every criterion, 0 to 10), or a declared conflict.

    A conflicted judge's sheet carries no scores and is left out of the company's ranking.
    """
    problems = Problems()
    member = session.get(PanelMember, panel_member_id) if panel_member_id else None
    if member is None or member.roadshow_id != roadshow.id:
        problems.add("panel_member_id", _l("Choose a member of this roadshow's panel."))
    pitched = session.scalar(select(RoadshowSlot.id).where(
        RoadshowSlot.roadshow_id == roadshow.id, RoadshowSlot.company_id == company_id))
    if pitched is None:
        problems.add("company_id", _l("This company has no slot at this roadshow."))
    comment = _text(comment, "comment", problems, max_length=5000)
    values: dict[int, Decimal] = {}
    if not has_conflict:
        given = dict(scores or {})
        for criterion in roadshow.criteria:
            raw = given.pop(criterion.code, given.pop(str(criterion.id), None))
            field = f"scores.{criterion.code}"
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                problems.add(field, _l("Score %(label)s.", label=criterion_label(criterion)))
                continue
            try:
                value = Decimal(str(raw).strip()) if not isinstance(raw, bool) else None
            except InvalidOperation:
                value = None
            if value is None or not value.is_finite() or not MIN_SCORE <= value <= MAX_SCORE \
                    or value != value.quantize(Decimal("0.01")):
                problems.add(field, _l("A score is a number from %(min)s to %(max)s.",
                                       min=MIN_SCORE, max=MAX_SCORE))
                continue
            values[criterion.id] = value
        for unknown in given:
            problems.add(f"scores.{unknown}", _l("Unknown criterion."))
    problems.raise_if_any()
    sheet = session.scalar(select(ScoreSheet).where(ScoreSheet.panel_member_id == member.id,
                                                    ScoreSheet.company_id == company_id))
    if sheet is None:
        sheet = ScoreSheet(roadshow_id=roadshow.id, panel_member_id=member.id,
                           company_id=company_id)
        session.add(sheet)
    sheet.has_conflict = bool(has_conflict)
    sheet.comment = comment
    sheet.recorded_by = actor
    sheet.scores = [Score(criterion_id=cid, value=v) for cid, v in values.items()]
    session.flush()
    by_code = {c.id: c.code for c in roadshow.criteria}
    record(session, actor=actor, action="roadshow.scores_recorded", subject_type="roadshow",
           subject_id=roadshow.id, payload={"panel_member_id": member.id,
                                            "panel_member": member.name,
                                            "company_id": company_id,
                                            "has_conflict": sheet.has_conflict,
                                            "scores": {by_code[k]: v for k, v in values.items()}})
    return sheet


DEFAULT_CRITERION_LABELS = {
    "technology": _l("Technology"),
    "team": _l("Team"),
    "market": _l("Market"),
    "park_fit": _l("Fit with the park's industries"),
    "policy_value": _l("Policy value"),
}


def criterion_label(criterion: RoadshowCriterion) -> str:
    """Default criteria in the reader's language; criteria an editor named, as named."""
    default = dict((c, label) for c, label, _w in DEFAULT_CRITERIA)
    if criterion.code in DEFAULT_CRITERION_LABELS and default.get(criterion.code) == \
            criterion.label:
        return str(DEFAULT_CRITERION_LABELS[criterion.code])
    return criterion.label


def deal_days_in_stage(deal_entered: datetime, now: datetime | None = None) -> int:
    return max(0, ((now or datetime.now(UTC)) - deal_entered).days)
