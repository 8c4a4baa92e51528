"""The compliance area's scheduled jobs (registered in fundapp.scheduler.JOBS).

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

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from fundapp.compliance.checks import CRITICAL, load_checks, run_checks, shanghai_today
from fundapp.compliance.ledger import SYSTEM_ACTOR, verify_chain
from fundapp.compliance.models import LedgerExport
from fundapp.extensions import db
from fundapp.notifications.operations import notify

REMIND_DAYS = 30


def previous_quarter(today: date) -> tuple[str, date, date]:
    """('2026Q1', first day, last day) of the quarter before the one `today` is in."""
    first_month = (today.month - 1) // 3 * 3 + 1
    this_start = date(today.year, first_month, 1)
    end = this_start - timedelta(days=1)
    start = date(end.year, (end.month - 1) // 3 * 3 + 1, 1)
    return f"{start.year}Q{(start.month - 1) // 3 + 1}", start, end


def verify_ledger_job() -> str:
    """Nightly: walk the whole chain; on a break, alert the admins (in-app, and by e-mail when
    FUNDAPP_SMTP_HOST is set) and record the run as failed."""
    result = verify_chain(db.session)
    if result.ok:
        return f"{result.count} entries verified"
    db.session.rollback()  # the walk's read transaction; the alert is written fresh
    notify(db.session, role="admin", kind="ledger.chain_broken", severity=CRITICAL, clause="R12",
           key=f"ledger.chain_broken:{result.problem.seq}",
           message=_l("The ledger's hash chain is broken at %(problem)s. Entries may have been "
                      "changed or removed outside the application: investigate before the next "
                      "export.", problem=str(result.problem)),
           link="/compliance/checks", email=True)
    db.session.commit()  # the alert stays although the run is recorded as failed
    raise RuntimeError(f"ledger chain broken at {result.problem}")


def remind_deadlines_job() -> str:
    """Daily: notify the responsible roles of check items due within REMIND_DAYS days."""
    load_checks()
    from fundapp.compliance.checks import CHECKS

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
    from fundapp.portfolio.kpis import remind_overdue_kpis

    overdue = remind_overdue_kpis(db.session, today)
    if not due:
        return (f"no deadlines within {REMIND_DAYS} days among {len(report.items)} open items "
                f"from {len(report.checks)} checks; {overdue} overdue KPI reports flagged")
    return (f"{sent} reminders sent for {len(due)} items due within {REMIND_DAYS} days "
            f"({len(report.items)} open items from {len(report.checks)} checks); "
            f"{overdue} overdue KPI reports flagged")


def request_kpis_job() -> str:
    """Quarterly: open last quarter's KPI report requests (with due dates) for every portfolio
    company; fundapp.portfolio.kpis keeps them, so a second run asks nobody twice."""
    from fundapp.portfolio.kpis import request_quarterly_kpis

    quarter, start, end = previous_quarter(shanghai_today(datetime.now(UTC)))
    made = request_quarterly_kpis(db.session, quarter, start, end, actor=SYSTEM_ACTOR)
    if not made:
        return f"KPI reports for {quarter}: nothing new to request"
    return f"KPI reports for {quarter} requested from {made} companies"


def quarterly_report_job() -> str:
    """After each quarter: the quarter's signed ledger export, and a summary to admins and
    auditors with the open compliance items."""
    from fundapp.compliance.exports import ExportScope, create_export

    quarter, start, end = previous_quarter(shanghai_today(datetime.now(UTC)))
    existing = db.session.scalar(select(LedgerExport.id).where(
        LedgerExport.created_by == SYSTEM_ACTOR, LedgerExport.period_from_on == start,
        LedgerExport.period_to_on == end, LedgerExport.scope_kind == "all").limit(1))
    if existing is not None:
        return f"the {quarter} report exists already (export {existing})"
    from fundapp.ic.quarterly import generate_quarterly_report, latest_report

    if latest_report(db.session, quarter) is None:
        # The portfolio report for supervisors (issue 6), once per quarter.
        generate_quarterly_report(db.session, quarter, actor=SYSTEM_ACTOR)
    report = run_checks(db.session)
    counts = report.counts()
    scope = ExportScope(start, end)
    from fundapp.compliance.exports import segment_bounds

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
