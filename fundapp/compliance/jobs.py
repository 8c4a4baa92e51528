"""The compliance area's scheduled jobs (registered in fundapp.scheduler.JOBS).

Domains add to two of them without compliance importing any domain: `register_reminder` adds a
daily reminder source (overdue KPI reports), `register_quarter_end` a step of the quarterly job
(the supervisors' portfolio report).

Each job takes no arguments, works through db.session and returns a one-line outcome for the
run history; the scheduler commits (or rolls back on an exception). Each is idempotent by a
natural key, so a catch-up run or a second scheduler process never repeats its effect:
- reminders: one notification per (check item, due date, role), ever;
- KPI requests: one ledger entry `kpi.requested` per quarter;
- the quarterly report: one system export per quarter.
They act on what exists now and grow with the data: a new check with due dates feeds the
reminders; the KPI request covers every company with a signed agreement (the portfolio work adds
holdings); the quarterly report is the quarter's signed ledger export plus the open check items.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.checks import CHECKS, CRITICAL, run_checks, shanghai_today
from fundapp.compliance.exports import ExportScope, create_export, segment_bounds
from fundapp.compliance.ledger import SYSTEM_ACTOR, verify_chain
from fundapp.compliance.models import LedgerExport
from fundapp.dates import previous_quarter
from fundapp.extensions import db
from fundapp.notifications.operations import notify
from fundapp.scheduler import JobSpec, register_job
from fundapp.unit_of_work import rollback, transaction

REMIND_DAYS = 30

# name -> function(session, today) -> a one-line outcome, run by the daily reminders job.
REMINDERS: dict[str, Callable[[Session, date], str]] = {}
# name -> function(session, quarter, first day, last day), run once per quarter before the export.
QUARTER_END: dict[str, Callable[[Session, str, date, date], None]] = {}


def register_reminder(name: str, func: Callable[[Session, date], str]) -> None:
    REMINDERS[name] = func


def register_quarter_end(name: str, func: Callable[[Session, str, date, date], None]) -> None:
    QUARTER_END[name] = func


def verify_ledger_job() -> str:
    """Nightly: walk the whole chain; on a break, alert the admins (in-app, and by e-mail when
    FUNDAPP_SMTP_HOST is set) and record the run as failed."""
    result = verify_chain(db.session)
    if result.ok:
        return f"{result.count} entries verified"
    rollback()  # the walk's read transaction; the alert is written on its own
    with transaction():  # the alert stays although the run is recorded as failed
        notify(db.session, role="admin", kind="ledger.chain_broken", severity=CRITICAL,
               clause="R12", key=f"ledger.chain_broken:{result.problem.seq}",
               message=_l("The ledger's hash chain is broken at %(problem)s. Entries may have "
                          "been changed or removed outside the application: investigate before "
                          "the next export.", problem=str(result.problem)),
               link="/compliance/checks", email=True)
    raise RuntimeError(f"ledger chain broken at {result.problem}")


def remind_deadlines_job() -> str:
    """Daily: notify the responsible roles of check items due within REMIND_DAYS days."""
    report = run_checks(db.session)
    today = shanghai_today(datetime.now(UTC))
    horizon = today + timedelta(days=REMIND_DAYS)
    due = [item for item in report.items if item.due_on is not None and item.due_on <= horizon]
    sent = 0
    for item in due:
        check = CHECKS.get(item.check)
        for role in check.notify if check else ("admin",):
            overdue = item.due_on < today
            note = notify(
                db.session, role=role, kind=f"reminder.{item.check}", clause=item.clause,
                severity="warning" if overdue else "info", once=True,
                key=f"reminder:{item.check}:{item.subject_type}:{item.subject_id}:"
                    f"{item.due_on.isoformat()}:{role}",
                message=_l("Due %(due)s (%(clause)s): %(message)s", due=item.due_on.isoformat(),
                           clause=item.clause, message=item.message),
                link="/compliance/checks")
            sent += note is not None
    others = "".join(f"; {func(db.session, today)}" for func in REMINDERS.values())
    if not due:
        return (f"no deadlines within {REMIND_DAYS} days among {len(report.items)} open items "
                f"from {len(report.checks)} checks{others}")
    return (f"{sent} reminders sent for {len(due)} items due within {REMIND_DAYS} days "
            f"({len(report.items)} open items from {len(report.checks)} checks){others}")


def quarterly_report_job() -> str:
    """After each quarter: the quarter's signed ledger export, and a summary to admins and
    auditors with the open compliance items."""
    quarter, start, end = previous_quarter(shanghai_today(datetime.now(UTC)))
    existing = db.session.scalar(select(LedgerExport.id).where(
        LedgerExport.created_by == SYSTEM_ACTOR, LedgerExport.period_from_on == start,
        LedgerExport.period_to_on == end, LedgerExport.scope_kind == "all").limit(1))
    if existing is not None:
        return f"the {quarter} report exists already (export {existing})"
    for step in QUARTER_END.values():
        step(db.session, quarter, start, end)  # e.g. the supervisors' portfolio report, once
    report = run_checks(db.session)
    counts = report.counts()
    scope = ExportScope(start, end)
    exported: dict[str, Any] = {}
    if segment_bounds(db.session, scope) is not None:
        result = create_export(db.session, scope, actor=SYSTEM_ACTOR,
                               fund_name=current_app.config.get("FUND_NAME", ""))
        exported = {"export_id": result.export.id, "entries": result.export.entry_count}
    summary = _l("Quarterly compliance report %(quarter)s: %(entries)s ledger entries exported "
                 "and signed; open items: %(critical)s critical, %(warning)s warnings, %(info)s "
                 "for information.", quarter=quarter, entries=exported.get("entries", 0),
                 critical=counts["critical"], warning=counts["warning"], info=counts["info"])
    for role in ("admin", "auditor"):
        notify(db.session, role=role, kind="report.quarterly", clause="R12", once=True,
               key=f"report.quarterly:{quarter}:{role}", severity="info", message=summary,
               link="/compliance/exports")
    if not exported:
        return (f"{quarter}: no ledger entries in the quarter, nothing to export; "
                f"{sum(counts.values())} open items reported")
    return (f"{quarter}: export {exported['export_id']} with {exported['entries']} entries; "
            f"{sum(counts.values())} open items reported")


register_job(JobSpec("ledger.verify", verify_ledger_job, {"hour": "2", "minute": "30"},
                     timedelta(days=1)))
# Daily: remind the responsible roles of compliance items due within 30 days.
register_job(JobSpec("deadlines.remind", remind_deadlines_job, {"hour": "8", "minute": "0"},
                     timedelta(hours=12)))
# At quarter end (complete at midnight): the quarter's signed ledger export and a summary.
register_job(JobSpec("report.quarterly", quarterly_report_job,
                     {"month": "1,4,7,10", "day": "1", "hour": "1", "minute": "0"},
                     timedelta(days=30), lease=timedelta(hours=6)))  # a quarter's export: long
