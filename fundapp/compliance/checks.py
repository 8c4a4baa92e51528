"""Compliance checks: what needs attention, each item naming the rule-book clause it comes from.

The registry
------------
A check is a function that takes a `CheckContext` (the session, today's date in Shanghai, the
current time) and yields `CheckItem`s. It is registered with a decorator:

    from fundapp.compliance.checks import CheckContext, CheckItem, register_check

    @register_check("portfolio.stale_marks", clause="R10.d", title=_l("Stale marks"),
                    notify=("fund_manager",))
    def stale_marks(ctx: CheckContext):
        for holding in ...:  # read-only queries through ctx.session
            yield CheckItem(clause="R10.d", severity=WARNING, subject_type="holding",
                            subject_id=holding.id, subject=holding.company_name,
                            message=_l("... %(name)s ...", name=...), due_on=...)

Put checks of a domain in `fundapp/<domain>/checks.py` (e.g. fundapp/portfolio/checks.py for
stale marks, milestone reviews, R6.g registration deadlines, R8 conversion windows ending within
90 and 30 days, R10.d holdings near the holding limit, KPI reports and R9.a appraisals) and list
the module in fundapp/app.py DOMAIN_MODULES: the app factory imports it, so compliance never
imports a domain. Rules for a check:
- read only; never flush or commit (the page, the API, the export and the reminder job all run it);
- name the clause on every item, and give a due date where there is a deadline: the daily
  reminder job (fundapp.compliance.jobs) notifies the check's `notify` roles of items due within
  REMIND_DAYS, once per item and due date;
- messages are lazy (`_l`) with named placeholders: they are shown in English and Chinese.
A check that raises does not break the others: it becomes a critical item saying it could not run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundapp.auth.models import User, UserRole
from fundapp.compliance.book_cache import cached
from fundapp.compliance.models import JobRun
from fundapp.dates import shanghai_today
from fundapp.scheduler import JOBS, TIMEZONE
from fundapp.ui import job_label

log = logging.getLogger("fundapp.compliance.checks")

CRITICAL, WARNING, INFO = "critical", "warning", "info"
SEVERITY_ORDER = {CRITICAL: 0, WARNING: 1, INFO: 2}
SEVERITY_LABELS = {CRITICAL: _l("Critical"), WARNING: _l("Warning"), INFO: _l("Information")}
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEAR_LIMIT = Decimal("0.80")  # R10.a: warn from 80% of the single-company limit
VERIFY_STALE = timedelta(hours=36)  # the nightly verification should have run within this
RUNNING_STALE = timedelta(hours=2)  # a job still "running" after this has died mid-run


@dataclass(frozen=True)
class CheckContext:
    session: Session
    today: date
    now: datetime


@dataclass(frozen=True)
class CheckItem:
    clause: str
    severity: str
    subject_type: str
    subject_id: str | int
    subject: str
    message: Any  # a lazy string; rendered in both languages by as_dict()
    due_on: date | None = None
    check: str = ""

    def as_dict(self) -> dict[str, Any]:
        return item_dicts([self])[0]


def item_dicts(items: list[CheckItem]) -> list[dict[str, Any]]:
    """Each item's as_dict(), its message in both languages: the locale is switched twice for
    all the items (an export's hundreds), not twice for each."""
    with force_locale("en"):
        english = [str(item.message) for item in items]
    with force_locale("zh"):
        chinese = [str(item.message) for item in items]
    return [{"check": item.check, "clause": item.clause, "severity": item.severity,
             "subject_type": item.subject_type, "subject_id": str(item.subject_id),
             "subject": item.subject, "message": {"en": en, "zh": zh},
             "due_on": item.due_on.isoformat() if item.due_on else None}
            for item, en, zh in zip(items, english, chinese, strict=True)]


@dataclass(frozen=True)
class Check:
    id: str
    clause: str
    title: Any
    func: Callable[[CheckContext], Iterable[CheckItem]]
    notify: tuple[str, ...] = ("admin",)
    # Reads only the book and the day (deals, grants, holdings, marks, policies, the calendar:
    # all changed through ledgered operations): its items are kept per book version and day.
    by_book: bool = False


CHECKS: dict[str, Check] = {}


def register_check(check_id: str, *, clause: str, title: Any,
                   notify: tuple[str, ...] = ("admin",), by_book: bool = False) -> Callable:
    """Add a check function to the registry (see the module docstring)."""

    def decorate(func: Callable[[CheckContext], Iterable[CheckItem]]) -> Callable:
        CHECKS[check_id] = Check(check_id, clause, title, func, notify, by_book)
        return func

    return decorate


@dataclass
class CheckReport:
    items: list[CheckItem] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    ran_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def counts(self) -> dict[str, int]:
        counts = {CRITICAL: 0, WARNING: 0, INFO: 0}
        for item in self.items:
            counts[item.severity] = counts.get(item.severity, 0) + 1
        return counts

    def filtered(self, severity: str = "", check: str = "") -> list[CheckItem]:
        """The items of one severity and/or one check; a value that names no severity or no
        check that ran does not filter (the page's and the API's `?severity=` and `?check=`)."""
        if severity not in SEVERITY_ORDER:
            severity = ""
        if check not in {c.id for c in self.checks}:
            check = ""
        return [item for item in self.items if (not severity or item.severity == severity)
                and (not check or item.check == check)]


def run_checks(session: Session, now: datetime | None = None,
               only: Iterable[str] | None = None) -> CheckReport:
    """Run every registered check (or those named); items ordered by severity, then due date."""
    now = now or datetime.now(UTC)
    ctx = CheckContext(session, shanghai_today(now), now)
    report = CheckReport(ran_at=now)
    wanted = set(only) if only is not None else None
    for check in CHECKS.values():
        if wanted is not None and check.id not in wanted:
            continue
        report.checks.append(check)
        try:
            report.items.extend(_items(ctx, check))
        except Exception as exc:  # one broken check must not hide the others
            session.rollback()
            log.exception("compliance check %s failed", check.id)
            report.items.append(CheckItem(
                clause=check.clause, severity=CRITICAL, subject_type="check",
                subject_id=check.id, subject=check.id, check=check.id,
                message=_l("This check could not run: %(error)s", error=str(exc)[:300])))
    report.items.sort(key=lambda i: (SEVERITY_ORDER.get(i.severity, 9),
                                     i.due_on or date.max, i.clause, str(i.subject_id)))
    return report


def _items(ctx: CheckContext, check: Check) -> list[CheckItem]:
    """A check's items, each naming the check; a check of the book alone is run once per book
    version and day while serving pages (compliance/book_cache.py: its messages are rendered
    later, in each reader's language, so one list serves both)."""
    def run() -> list[CheckItem]:
        return [item if item.check else _with_check(item, check.id) for item in check.func(ctx)]

    if not check.by_book:
        return run()
    return cached(ctx.session, "check", (check.id, ctx.today), run, by_language=False)


def _with_check(item: CheckItem, check_id: str) -> CheckItem:
    """The item naming its check (built directly: dataclasses.replace is slow for the hundreds of
    items of a full portfolio)."""
    return CheckItem(item.clause, item.severity, item.subject_type, item.subject_id, item.subject,
                     item.message, item.due_on, check_id)


# ---- checks whose data exists now ---------------------------------------------------------------

@register_check("ledger.chain", clause="R12", title=_l("Ledger chain verification"))
def ledger_chain(ctx: CheckContext) -> Iterable[CheckItem]:
    """The nightly verification's latest outcome (walking a million entries per page view would
    be too slow; the verification PDF verifies live)."""
    run = ctx.session.scalars(
        select(JobRun).where(JobRun.job_id == "ledger.verify", JobRun.finished_at.is_not(None))
        .order_by(JobRun.scheduled_for.desc(), JobRun.attempt.desc()).limit(1)).first()
    if run is None:
        yield CheckItem("R12", WARNING, "ledger", "chain", _l("Ledger"),
                        _l("The ledger's hash chain has not been verified by the nightly job "
                           "yet. Is the scheduler process running?"))
        return
    when = run.finished_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    if run.outcome != "ok":
        yield CheckItem("R12", CRITICAL, "ledger", "chain", _l("Ledger"),
                        _l("The nightly verification on %(when)s found the ledger's hash chain "
                           "broken: %(problem)s", when=when, problem=run.message))
    elif ctx.now - run.finished_at > VERIFY_STALE:
        yield CheckItem("R12", WARNING, "ledger", "chain", _l("Ledger"),
                        _l("The ledger's hash chain was last verified on %(when)s. Is the "
                           "scheduler process running?", when=when))


@register_check("scheduler.jobs", clause="R12", title=_l("Scheduled jobs"))
def scheduled_jobs(ctx: CheckContext) -> Iterable[CheckItem]:
    """Jobs whose last run failed, runs that died mid-way, and occurrences that never ran."""
    for job in JOBS:
        last = ctx.session.scalars(select(JobRun).where(JobRun.job_id == job.id)
                                   .order_by(JobRun.scheduled_for.desc(), JobRun.attempt.desc())
                                   .limit(1)).first()
        if last is not None and last.outcome == "running" and \
                ctx.now - last.started_at > RUNNING_STALE:
            yield CheckItem(job.clause, WARNING, "job", job.id, job_label(job.id),
                            _l("Job %(job)s has been marked running since %(when)s: the "
                               "scheduler probably stopped during the run.", job=job_label(job.id),
                               when=_local(last.started_at)))
        elif last is not None and last.outcome == "failed" and job.id != "ledger.verify":
            yield CheckItem(job.clause, WARNING, "job", job.id, job_label(job.id),
                            _l("The last run of job %(job)s (%(when)s) failed: %(message)s",
                               job=job_label(job.id), when=_local(last.scheduled_for),
                               message=last.message[:300]))
        # An occurrence due more than an hour ago (within the catch-up window) that never ran.
        trigger = CronTrigger(timezone=TIMEZONE, **job.cron)
        horizon = ctx.now - timedelta(hours=1)
        due, fire = None, trigger.get_next_fire_time(None, horizon - job.catch_up)
        while fire is not None and fire <= horizon:
            due, fire = fire, trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if due is not None and (last is None or last.scheduled_for < due):
            yield CheckItem(job.clause, WARNING, "job", job.id, job_label(job.id),
                            _l("Job %(job)s did not run at %(when)s. Is the scheduler process "
                               "running?", job=job_label(job.id), when=_local(due)))


@register_check("users.without_roles", clause="R12", title=_l("Users without roles"))
def users_without_roles(ctx: CheckContext) -> Iterable[CheckItem]:
    stmt = (select(User.id, User.email).outerjoin(UserRole)
            .where(User.is_active.is_(True)).group_by(User.id, User.email)
            .having(func.count(UserRole.id) == 0).order_by(User.email))
    for user_id, email in ctx.session.execute(stmt):
        yield CheckItem("R12", INFO, "user", user_id, email,
                        _l("%(email)s can sign in but holds no role: give them a role or "
                           "deactivate the account.", email=email))


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
