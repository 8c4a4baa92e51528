"""The dashboard's inbox: what waits for the signed-in user, by role, one sentence per item.

A read model spanning the domains, so it lives here (the dashboard), which may import them; the
compliance area, the notifications and the scheduler import no domain (tests/test_architecture.py).
Each kind is one bounded query (never one per row), read only; sentences are translated into the
reader's language when the inbox is built, dates are days in Asia/Shanghai.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from fundapp.auth.models import Role, User, UserRole
from fundapp.auth.schemas import ROLE_LABELS
from fundapp.compliance.models import JobRun, LedgerExport
from fundapp.dates import SHANGHAI, shanghai_today
from fundapp.deals.models import Company, Deal, DealStage
from fundapp.deals.operations import OPEN_STAGES, stage_label
from fundapp.ic.models import (
    IcAgendaItem,
    IcDecision,
    IcMeeting,
    IcMember,
    IcMinutes,
    IcPack,
    IcRecusal,
    IcVote,
)
from fundapp.portfolio.conversion.models import Conversion
from fundapp.portfolio.exits.models import Exit, ExitInstalment
from fundapp.portfolio.grants.models import (
    OPEN_STATUSES,
    Grant,
    GrantStatus,
    MilestoneReview,
    Tranche,
    TrancheStatus,
)
from fundapp.portfolio.holdings.models import Holding, MarkStatus, ValuationMark
from fundapp.portfolio.kpis.models import KpiReport
from fundapp.ui import reader_name

LIMIT = 50  # items of one kind at most: the inbox is a to-do list, the pages hold the rest
WINDOW_DAYS = (90, 30)  # R3.b / R8.a: conversion windows ending within these many days
MILESTONE_DAYS = 30  # R2.c: reviews due this many days before the project period ends
REGISTRATION_DAYS = 30  # R6.g: registrations due within this many days (or overdue)
INSTALMENT_DAYS = 30  # R9.d: exit instalments due within this many days (or overdue)
EXPORT_DAYS = 30  # a ledger export is new for this many days
ROLE_ORDER = (Role.FUND_MANAGER, Role.IC_MEMBER, Role.AUDITOR, Role.ADMIN)


@dataclass(frozen=True)
class InboxItem:
    kind: str
    text: str  # the sentence, in the reader's language
    url: str
    due_on: date | None = None  # the deadline, a day in Asia/Shanghai
    is_overdue: bool = False
    is_event: bool = False  # due_on is the day something happens (a meeting), not a deadline


@dataclass(frozen=True)
class InboxSection:
    role: str
    title: str
    items: list[InboxItem]


# While the badge counts (badge_count), the kinds hand over their statements instead of rows.
_counting: ContextVar[list[Select] | None] = ContextVar("inbox_counting", default=None)


def _rows(session: Session, stmt: Select) -> list[Any]:
    """The first LIMIT rows of a kind's statement (nothing while the badge collects them)."""
    collected = _counting.get()
    if collected is not None:
        collected.append(stmt)
        return []
    return list(session.execute(stmt.limit(LIMIT)).all())


def _day(day: date) -> str:
    return day.isoformat()


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- fund managers


def marks_to_approve(session: Session, user: User, today: date) -> list[InboxItem]:
    """Draft marks by someone else: four-eyes, the author never finalises their own."""
    rows = _rows(session,
        select(ValuationMark.id, ValuationMark.holding_id, ValuationMark.measured_on,
               ValuationMark.author, Company.legal_name, Company.name_en, User.name,
               User.name_en.label("author_en"))
        .join(Holding, Holding.id == ValuationMark.holding_id)
        .join(Company, Company.id == Holding.company_id)
        .outerjoin(User, User.email == ValuationMark.author)
        .where(ValuationMark.status == MarkStatus.DRAFT, ValuationMark.author != user.email)
        .order_by(ValuationMark.measured_on, ValuationMark.id))
    return [InboxItem("mark", _("%(author)s's valuation mark of %(company)s as of %(day)s waits "
                                "for a second person to finalise it.",
                                author=reader_name(row.name, row.author_en) or row.author,
                                company=reader_name(row.legal_name, row.name_en),
                                day=_day(row.measured_on)),
                      f"/portfolio/holdings/{row.holding_id}#marks")
            for row in rows]


def milestone_reviews(session: Session, user: User, today: date) -> list[InboxItem]:
    """R2.c: tranches after the first still pending without a passed review, the project period
    ending within 30 days or over."""
    passed = exists().where(MilestoneReview.tranche_id == Tranche.id,
                            MilestoneReview.is_passed.is_(True))
    rows = _rows(session,
        select(Tranche.position, Grant.id, Grant.agreement_no, Grant.rd_due_on,
               Company.legal_name, Company.name_en)
        .join(Grant, Grant.id == Tranche.grant_id).join(Company, Company.id == Grant.company_id)
        .where(Grant.status == GrantStatus.DISBURSING, Tranche.status == TrancheStatus.PENDING,
               Tranche.position > 1, ~passed,
               Grant.rd_due_on <= today + timedelta(days=MILESTONE_DAYS))
        .order_by(Grant.rd_due_on, Grant.id, Tranche.position))
    return [InboxItem("milestone_review",
                      _("Tranche %(n)s of %(company)s (%(agreement)s) needs its milestone review "
                        "by %(due)s.", n=row.position,
                        company=reader_name(row.legal_name, row.name_en),
                        agreement=row.agreement_no or "—", due=_day(row.rd_due_on)),
                      f"/grants/{row.id}", row.rd_due_on, row.rd_due_on < today)
            for row in rows]


def conversion_windows(session: Session, user: User, today: date) -> list[InboxItem]:
    """R3.b / R8.a: open grants whose window, with its grace days, ends within 90 days."""
    rows = _rows(session,
        select(Grant.id, Grant.agreement_no, Grant.grace_end_on, Company.legal_name,
               Company.name_en)
        .join(Company, Company.id == Grant.company_id)
        .where(Grant.status.in_(OPEN_STATUSES), Grant.grace_end_on >= today,
               Grant.grace_end_on <= today + timedelta(days=WINDOW_DAYS[0]))
        .order_by(Grant.grace_end_on, Grant.id))
    items = []
    for row in rows:
        days = (row.grace_end_on - today).days
        limit = WINDOW_DAYS[1] if days <= WINDOW_DAYS[1] else WINDOW_DAYS[0]
        items.append(InboxItem(
            "conversion_window",
            _("The conversion window of %(company)s (%(agreement)s) ends within %(limit)s days, "
              "on %(due)s; without a qualifying financing the grant then closes as a grant.",
              company=reader_name(row.legal_name, row.name_en),
              agreement=row.agreement_no or "—", limit=limit, due=_day(row.grace_end_on)),
            f"/grants/{row.id}", row.grace_end_on))
    return items


def registrations(session: Session, user: User, today: date) -> list[InboxItem]:
    """R6.g: converted equity not yet registered, due within 30 days or overdue."""
    rows = _rows(session,
        select(Grant.id, Conversion.registration_due_on, Conversion.converted_on,
               Company.legal_name, Company.name_en)
        .join(Grant, Grant.id == Conversion.grant_id)
        .join(Company, Company.id == Grant.company_id)
        .where(Conversion.registered_on.is_(None), Conversion.reversed_at.is_(None),
               Conversion.registration_due_on <= today + timedelta(days=REGISTRATION_DAYS))
        .order_by(Conversion.registration_due_on, Conversion.id))
    items = []
    for row in rows:
        overdue = row.registration_due_on < today
        if overdue:
            text = _("%(company)s has not registered the equity converted on %(converted)s; "
                     "registration was due by %(due)s (R6.g).",
                     company=reader_name(row.legal_name, row.name_en),
                     converted=_day(row.converted_on), due=_day(row.registration_due_on))
        else:
            text = _("%(company)s must register the equity converted on %(converted)s by "
                     "%(due)s (R6.g).", company=reader_name(row.legal_name, row.name_en),
                     converted=_day(row.converted_on), due=_day(row.registration_due_on))
        items.append(InboxItem("registration", text, f"/grants/{row.id}/conversion",
                               row.registration_due_on, overdue))
    return items


def kpi_reports(session: Session, user: User, today: date) -> list[InboxItem]:
    rows = _rows(session,
        select(KpiReport.quarter, KpiReport.due_on, Company.legal_name, Company.name_en)
        .join(Company, Company.id == KpiReport.company_id)
        .where(KpiReport.answered_on.is_(None), KpiReport.due_on < today)
        .order_by(KpiReport.due_on, KpiReport.id))
    return [InboxItem("kpi_report",
                      _("The %(quarter)s KPI report of %(company)s was due on %(due)s and has not "
                        "been answered.", quarter=row.quarter,
                        company=reader_name(row.legal_name, row.name_en), due=_day(row.due_on)),
                      "/portfolio/kpis", row.due_on, True)
            for row in rows]


def exit_instalments(session: Session, user: User, today: date) -> list[InboxItem]:
    """R9.d: unpaid instalments of deferred exit balances due within 30 days or overdue."""
    rows = _rows(session,
        select(ExitInstalment.number, ExitInstalment.exit_id, ExitInstalment.due_on,
               Exit.holding_id, Company.legal_name, Company.name_en)
        .join(Exit, Exit.id == ExitInstalment.exit_id)
        .join(Holding, Holding.id == Exit.holding_id)
        .join(Company, Company.id == Holding.company_id)
        .where(ExitInstalment.paid_on.is_(None),
               ExitInstalment.due_on <= today + timedelta(days=INSTALMENT_DAYS))
        .order_by(ExitInstalment.due_on, ExitInstalment.id))
    items = []
    for row in rows:
        overdue = row.due_on < today
        company = reader_name(row.legal_name, row.name_en)
        if overdue:
            text = _("Instalment %(n)s of exit %(exit)s (%(company)s) was due on %(due)s and has "
                     "not been paid.", n=row.number, exit=row.exit_id, company=company,
                     due=_day(row.due_on))
        else:
            text = _("Instalment %(n)s of exit %(exit)s (%(company)s) is due on %(due)s.",
                     n=row.number, exit=row.exit_id, company=company, due=_day(row.due_on))
        items.append(InboxItem("exit_instalment", text,
                               f"/portfolio/holdings/{row.holding_id}#exit-{row.exit_id}",
                               row.due_on, overdue))
    return items


def managed_deals(session: Session, user: User, today: date) -> list[InboxItem]:
    """Deals the user manages that wait at an open pipeline stage (not on hold)."""
    rows = _rows(session,
        select(Deal.id, Deal.project_name, Deal.project_name_en, Deal.stage, Deal.stage_entered_at,
               Company.legal_name, Company.name_en)
        .join(Company, Company.id == Deal.company_id)
        .where(Deal.manager_id == user.id, Deal.stage.in_(OPEN_STAGES),
               Deal.stage != DealStage.ON_HOLD)
        .order_by(Deal.stage_entered_at, Deal.id))
    return [InboxItem("deal",
                      _("%(project)s of %(company)s has been at the stage “%(stage)s” since "
                        "%(since)s.", project=reader_name(row.project_name, row.project_name_en),
                        company=reader_name(row.legal_name, row.name_en),
                        stage=stage_label(row.stage), since=_local(row.stage_entered_at)[:10]),
                      f"/deals/{row.id}")
            for row in rows]


# --------------------------------------------------------------------------- IC members


def _my_meetings(user: User):
    """Meetings the user sits on (as a member or as the chair)."""
    member = exists().where(IcMember.meeting_id == IcMeeting.id, IcMember.user_id == user.id)
    return or_(IcMeeting.chair_id == user.id, member)


def upcoming_meetings(session: Session, user: User, today: date) -> list[InboxItem]:
    rows = _rows(session,
        select(IcMeeting.id, IcMeeting.title, IcMeeting.title_en, IcMeeting.held_on,
               IcMeeting.location, IcMeeting.location_en, IcMeeting.chair_id)
        .where(_my_meetings(user), IcMeeting.held_on >= today)
        .order_by(IcMeeting.held_on, IcMeeting.id))
    items = []
    for row in rows:
        if row.chair_id == user.id:
            text = _("You chair the IC meeting “%(title)s” on %(day)s.", title=reader_name(row.title, row.title_en),
                     day=_day(row.held_on))
        else:
            text = _("You sit on the IC meeting “%(title)s” on %(day)s.", title=reader_name(row.title, row.title_en),
                     day=_day(row.held_on))
        if row.location:
            text = _("%(sentence)s Place: %(place)s.", sentence=text,
                     place=reader_name(row.location, row.location_en))
        items.append(InboxItem("meeting", text, f"/ic/meetings/{row.id}", row.held_on,
                               is_event=True))
    return items


def packs_to_read(session: Session, user: User, today: date) -> list[InboxItem]:
    """The latest pack of each of the user's meetings still to come (or held today)."""
    latest = (select(IcPack.meeting_id, func.max(IcPack.version).label("version"))
              .group_by(IcPack.meeting_id).subquery())
    rows = _rows(session,
        select(IcMeeting.id, IcMeeting.title, IcMeeting.title_en, IcMeeting.held_on, IcPack.version,
               IcPack.is_final)
        .join(latest, latest.c.meeting_id == IcMeeting.id)
        .join(IcPack, and_(IcPack.meeting_id == IcMeeting.id,
                           IcPack.version == latest.c.version))
        .where(_my_meetings(user), IcMeeting.held_on >= today)
        .order_by(IcMeeting.held_on, IcMeeting.id))
    items = []
    for row in rows:
        if row.is_final:
            text = _("Read the final pack (version %(v)s) of the IC meeting “%(title)s” before "
                     "%(day)s.", v=row.version, title=reader_name(row.title, row.title_en), day=_day(row.held_on))
        else:
            text = _("Read the draft pack (version %(v)s) of the IC meeting “%(title)s” before "
                     "%(day)s.", v=row.version, title=reader_name(row.title, row.title_en), day=_day(row.held_on))
        items.append(InboxItem("pack", text, f"/ic/meetings/{row.id}/pack.pdf?version={row.version}", row.held_on))
    return items


def votes_due(session: Session, user: User, today: date) -> list[InboxItem]:
    """Undecided deals of meetings that have started, whose latest pack is final, on which the
    user (a member, not recused) has not voted."""
    # the meeting's latest pack, final: no newer version (each meeting's packs by index)
    final, newer = aliased(IcPack), aliased(IcPack)
    rows = _rows(session,
        select(IcAgendaItem.meeting_id, IcMeeting.title, IcMeeting.title_en, IcMeeting.held_on,
               Deal.project_name, Deal.project_name_en, Company.legal_name, Company.name_en)
        .join(IcMeeting, IcMeeting.id == IcAgendaItem.meeting_id)
        .join(IcMember, and_(IcMember.meeting_id == IcMeeting.id, IcMember.user_id == user.id))
        .join(final, and_(final.meeting_id == IcMeeting.id, final.is_final.is_(True),
                          ~exists().where(newer.meeting_id == IcMeeting.id,
                                          newer.version > final.version)))
        .join(Deal, Deal.id == IcAgendaItem.deal_id).join(Company, Company.id == Deal.company_id)
        .where(IcMeeting.held_on <= today,
               ~exists().where(IcDecision.item_id == IcAgendaItem.id),
               ~exists().where(IcVote.item_id == IcAgendaItem.id, IcVote.user_id == user.id),
               ~exists().where(IcRecusal.item_id == IcAgendaItem.id,
                               IcRecusal.user_id == user.id))
        .order_by(IcMeeting.held_on, IcMeeting.id, IcAgendaItem.position))
    return [InboxItem("vote",
                      _("Cast your vote on %(project)s of %(company)s at the IC meeting "
                        "“%(title)s” of %(day)s.", project=reader_name(row.project_name, row.project_name_en),
                        company=reader_name(row.legal_name, row.name_en), title=reader_name(row.title, row.title_en),
                        day=_day(row.held_on)),
                      f"/ic/meetings/{row.meeting_id}", row.held_on, row.held_on < today)
            for row in rows]


def minutes_to_sign(session: Session, user: User, today: date) -> list[InboxItem]:
    """Meetings the user chairs whose every deal is decided and whose minutes (or their newest
    version, opened for a correction) are not signed."""
    has_item = exists().where(IcAgendaItem.meeting_id == IcMeeting.id)
    undecided = exists().where(IcAgendaItem.meeting_id == IcMeeting.id,
                               ~exists().where(IcDecision.item_id == IcAgendaItem.id))
    any_minutes = exists().where(IcMinutes.meeting_id == IcMeeting.id)
    unsigned = exists().where(IcMinutes.meeting_id == IcMeeting.id, IcMinutes.signed_at.is_(None))
    rows = _rows(session,
        select(IcMeeting.id, IcMeeting.title, IcMeeting.title_en, IcMeeting.held_on)
        .where(IcMeeting.chair_id == user.id, has_item, ~undecided,
               or_(~any_minutes, unsigned))
        .order_by(IcMeeting.held_on, IcMeeting.id))
    return [InboxItem("minutes",
                      _("Sign the minutes of the IC meeting “%(title)s” of %(day)s: every deal "
                        "on its agenda is decided.", title=reader_name(row.title, row.title_en), day=_day(row.held_on)),
                      f"/ic/meetings/{row.id}#minutes", row.held_on)
            for row in rows]


# --------------------------------------------------------------------------- auditors


def new_exports(session: Session, user: User, today: date, now: datetime) -> list[InboxItem]:
    rows = _rows(session,
        select(LedgerExport.id, LedgerExport.created_at, LedgerExport.period_from_on,
               LedgerExport.period_to_on, LedgerExport.entry_count)
        .where(LedgerExport.created_at >= now - timedelta(days=EXPORT_DAYS))
        .order_by(LedgerExport.created_at.desc(), LedgerExport.id.desc()))
    return [InboxItem("export",
                      _("A signed ledger export of %(start)s to %(end)s (%(n)s entries) was made "
                        "on %(when)s.", start=_day(row.period_from_on),
                        end=_day(row.period_to_on), n=row.entry_count,
                        when=_local(row.created_at)),
                      "/compliance/exports")
            for row in rows]


CHECKS_FRESH_SECONDS = 300
_checks_cache: dict[str, tuple[float, dict[str, dict[str, Any]], dict[str, Any]]] = {}


def _check_findings(session: Session, now: datetime):
    """The findings of every compliance check, by check: computed at most every
    CHECKS_FRESH_SECONDS per database and process, since the badge asks on every page an
    auditor opens and the checks read the whole portfolio (the checks page itself is always
    current)."""
    from fundapp.compliance.checks import CRITICAL, run_checks

    key = str(session.get_bind().url)
    cached = _checks_cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < CHECKS_FRESH_SECONDS:
        return cached[1], cached[2]
    report = run_checks(session, now=now)
    by_check: dict[str, dict[str, Any]] = {}
    for item in report.items:
        found = by_check.setdefault(item.check, {"n": 0, "critical": 0, "due": None})
        found["n"] += 1
        found["critical"] += item.severity == CRITICAL
        if item.due_on is not None and (found["due"] is None or item.due_on < found["due"]):
            found["due"] = item.due_on
    titles = {check.id: check.title for check in report.checks}
    _checks_cache[key] = (time.monotonic(), by_check, titles)
    return by_check, titles


def checks_with_findings(session: Session, user: User, today: date,
                         now: datetime) -> list[InboxItem]:
    """One item per compliance check that has findings, with its earliest deadline."""
    by_check, titles = _check_findings(session, now)
    items = []
    for check_id, found in by_check.items():
        title = titles.get(check_id, check_id)
        if found["critical"]:
            text = _("The compliance check “%(check)s” has %(n)s findings, %(critical)s of them "
                     "critical.", check=title, n=found["n"], critical=found["critical"])
        else:
            text = _("The compliance check “%(check)s” has %(n)s findings.", check=title,
                     n=found["n"])
        due = found["due"]
        items.append(InboxItem("check", text, "/compliance/checks", due,
                               due is not None and due < today))
    items.sort(key=lambda i: (i.due_on or date.max, i.text))
    return items[:LIMIT]


# --------------------------------------------------------------------------- admins


def failed_jobs(session: Session, user: User, today: date) -> list[InboxItem]:
    """Scheduled jobs whose latest run failed."""
    ranked = (select(JobRun.id, func.row_number().over(
        partition_by=JobRun.job_id,
        order_by=(JobRun.scheduled_for.desc(), JobRun.attempt.desc())).label("n")).subquery())
    rows = _rows(session,
        select(JobRun.job_id, JobRun.scheduled_for, JobRun.message)
        .join(ranked, and_(ranked.c.id == JobRun.id, ranked.c.n == 1))
        .where(JobRun.outcome == "failed").order_by(JobRun.scheduled_for.desc())
        )
    return [InboxItem("job", _("The last run of the scheduled job “%(job)s” (%(when)s) failed.",
                               job=_job_title(row.job_id), when=_local(row.scheduled_for)),
                      "/compliance/jobs")
            for row in rows]


# The scheduled jobs by name (fundapp.scheduler.JOBS holds only their fixed ids).
JOB_LABELS = {
    "notifications.digest": _l("Daily e-mail digest"),
    "ledger.verify": _l("Nightly ledger verification"),
    "deadlines.remind": _l("Daily deadline reminders"),
    "report.quarterly": _l("Quarterly compliance report"),
    "grants.close_expired": _l("Closing grants whose conversion window ended"),
    "kpi.request": _l("Quarterly KPI requests"),
    "exits.instalments": _l("Reminders of exit instalments"),
}


def _job_title(job_id: str) -> str:
    label = JOB_LABELS.get(job_id)
    return str(label) if label is not None else job_id


def users_without_roles(session: Session, user: User, today: date) -> list[InboxItem]:
    rows = _rows(session,
        select(User.id, User.email, User.name).outerjoin(UserRole, UserRole.user_id == User.id)
        .where(User.is_active.is_(True)).group_by(User.id, User.email, User.name)
        .having(func.count(UserRole.id) == 0).order_by(User.email))
    return [InboxItem("user", _("%(user)s can sign in but holds no role: give them a role or "
                                "deactivate the account.",
                                user=f"{row.name} ({row.email})" if row.name else row.email),
                      f"/admin/users/{row.id}")
            for row in rows]


# --------------------------------------------------------------------------- the inbox


def build_inbox(session: Session, user: User, now: datetime | None = None) -> list[InboxSection]:
    """The user's inbox: one section per role they hold, each a list of items."""
    now = now or datetime.now(UTC)
    today = shanghai_today(now)
    sections = []
    for role in ROLE_ORDER:
        if role not in user.roles:
            continue
        if role is Role.FUND_MANAGER:
            items = [*marks_to_approve(session, user, today),
                     *registrations(session, user, today),
                     *milestone_reviews(session, user, today),
                     *conversion_windows(session, user, today),
                     *kpi_reports(session, user, today),
                     *exit_instalments(session, user, today),
                     *managed_deals(session, user, today)]
        elif role is Role.IC_MEMBER:
            items = [*votes_due(session, user, today), *minutes_to_sign(session, user, today),
                     *upcoming_meetings(session, user, today),
                     *packs_to_read(session, user, today)]
        elif role is Role.AUDITOR:
            items = [*checks_with_findings(session, user, today, now),
                     *new_exports(session, user, today, now)]
        else:
            items = [*failed_jobs(session, user, today), *users_without_roles(session, user, today)]
        items.sort(key=lambda i: (not i.is_overdue, i.due_on or date.max))
        sections.append(InboxSection(role.value, str(ROLE_LABELS[role]), items))
    return sections


def inbox_count(sections: list[InboxSection]) -> int:
    return sum(len(section.items) for section in sections)


def badge_count(session: Session, user: User, now: datetime | None = None) -> int:
    """The badge's number, as inbox_count(build_inbox(...)) counts it, without building the
    items: every kind's statement is counted (at most LIMIT each) in one SELECT (issue 14)."""
    token = _counting.set([])
    try:
        built = inbox_count(build_inbox(session, user, now))  # kinds counted in Python
        statements = _counting.get() or []
    finally:
        _counting.reset(token)
    if not statements:
        return built
    counts = session.execute(select(*(
        select(func.count()).select_from(stmt.limit(LIMIT).subquery()).scalar_subquery()
        for stmt in statements))).one()
    return built + sum(counts)
