"""Portfolio-company KPIs: quarterly requests, answers (form, API or CSV), overdue flags, and the
dashboard against the park's 2026 targets (value added per employee 750,000 CNY, a rising
R&D-to-revenue ratio, rising PCT applications).

`request_quarterly_kpis` is what the scheduler's kpi.request job calls; it is idempotent by
(company, quarter), so a second run asks nobody twice. Operations flush only; the caller commits.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.dates import not_after_today
from fundapp.deals.models import Company
from fundapp.errors import NotFound, ValidationFailed
from fundapp.inputs import load
from fundapp.portfolio.grants.models import Grant, GrantStatus
from fundapp.portfolio.holdings.models import Holding, HoldingStatus
from fundapp.portfolio.kpis.models import KpiReport
from fundapp.portfolio.kpis.schemas import KpiValuesSchema
from fundapp.textfiles import NotText, decode_csv
from fundapp.ui import ReaderName

TARGET_VALUE_ADDED_PER_EMPLOYEE = Decimal("750000.00")  # CNY per person per year, 2026 target
TARGET_YEAR = 2026
DUE_DAYS = 30
MONEY_FIELDS = ("revenue_amount", "rd_spend_amount", "value_added_amount")
COUNT_FIELDS = ("headcount", "pct_applications")
FIELDS = MONEY_FIELDS + COUNT_FIELDS
FEN = Decimal("0.01")
QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def quarter_bounds(label: str) -> tuple[date, date]:
    match = QUARTER.match(label or "")
    if not match:
        raise ValidationFailed(_l("Some fields are not valid."), details={"quarter": [str(_l(
            "Write the quarter as YYYYQn, e.g. 2026Q3."))]})
    year, q = int(match.group(1)), int(match.group(2))
    start = date(year, 3 * q - 2, 1)
    end = (date(year + (q == 4), (3 * q) % 12 + 1, 1) - timedelta(days=1))
    return start, end


def portfolio_company_ids(session: Session, start: date, end: date) -> list[int]:
    """Companies with an agreement signed by `end` and not closed before `start`, or a holding."""
    grant_ids = session.scalars(select(Grant.company_id).where(
        Grant.signed_on <= end,
        or_(Grant.status.notin_([GrantStatus.CLOSED, GrantStatus.CLOSED_TOLERANCE]),
            Grant.closed_on >= start))).all()
    holding_ids = session.scalars(select(Holding.company_id).where(
        Holding.acquired_on <= end, or_(Holding.status == HoldingStatus.ACTIVE,
                                        Holding.closed_on >= start))).all()
    return sorted(set(grant_ids) | set(holding_ids))


def request_quarterly_kpis(session: Session, quarter_label: str, start: date, end: date, *,
                           requested_on: date | None = None, due_days: int = DUE_DAYS,
                           actor: str = "scheduler") -> int:
    """Ask every portfolio company for the quarter's KPIs; returns how many requests are new."""
    requested_on = requested_on or end + timedelta(days=1)
    due_on = end + timedelta(days=due_days)
    existing = set(session.scalars(select(KpiReport.company_id)
                                   .where(KpiReport.quarter == quarter_label)))
    made = []
    names = {company_id: ReaderName(legal_name, name_en) for company_id, legal_name, name_en
             in session.execute(select(Company.id, Company.legal_name, Company.name_en))}
    for company_id in portfolio_company_ids(session, start, end):
        if company_id in existing:
            continue
        session.add(KpiReport(company_id=company_id, quarter=quarter_label, period_start_on=start,
                              period_end_on=end, requested_on=requested_on, due_on=due_on))
        made.append(company_id)
        _notify(session, kind="kpi.request", key=f"kpi.request:{quarter_label}:{company_id}",
                severity="info", message=_l(
                    "KPI report %(quarter)s requested from %(company)s, due %(due)s.",
                    quarter=quarter_label, company=names.get(company_id, ""),
                    due=due_on.isoformat()))
    if made:
        session.flush()
        record(session, actor=actor, action="kpi.requests_created", subject_type="quarter",
               subject_id=quarter_label, payload={"quarter": quarter_label,
                                                  "period": [start, end], "due_on": due_on,
                                                  "company_ids": made})
    return len(made)


def _notify(session: Session, **kwargs: Any) -> None:
    try:
        from fundapp.notifications.operations import notify
    except ImportError:  # notifications are optional
        return
    notify(session, role="fund_manager", once=True, link="/portfolio/kpis", **kwargs)


def remind_overdue_kpis(session: Session, today: date) -> int:
    """Notify fund managers once of each unanswered request past its due date."""
    rows = session.execute(select(KpiReport, Company.legal_name)
                           .join(Company, Company.id == KpiReport.company_id)
                           .where(KpiReport.answered_on.is_(None), KpiReport.due_on < today)
                           ).all()
    for report, name in rows:
        _notify(session, kind="kpi.overdue", severity="warning",
                key=f"kpi.overdue:{report.quarter}:{report.company_id}",
                message=_l("The %(quarter)s KPI report of %(company)s was due %(due)s and has "
                           "not arrived.", quarter=report.quarter, company=name,
                           due=report.due_on.isoformat()))
    return len(rows)


def _row_values(row: Mapping[str, Any], number: int) -> dict[str, Any]:
    """A CSV row's five figures through the answer's schema; errors name the row."""
    cells = {k: v for k, v in row.items() if k and isinstance(v, str) and v.strip()}
    try:
        return load(KpiValuesSchema(unknown=EXCLUDE), cells)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, details={
            f"row {number}: {field}": messages for field, messages in exc.details.items()
        }) from None


def get_report(session: Session, report_id: int) -> KpiReport:
    report = session.get(KpiReport, report_id) if 0 < report_id < 2**31 else None
    if report is None:
        raise NotFound(_l("No such KPI request."))
    return report


def record_kpi_answer(session: Session, report: KpiReport, values: Mapping[str, Any], *,
                      answered_on: date, actor: str, source: str = "form") -> KpiReport:
    """A fund manager enters (or corrects) a company's answer; ledgered.

    `values`: the five figures as KpiValuesSchema loads them (the API, the page and the CSV
    import load them through it)."""
    clean = {name: values[name] for name in FIELDS}
    not_after_today(answered_on, "answered_on")
    if answered_on < report.period_start_on:
        raise ValidationFailed(_l("Some fields are not valid."), details={"answered_on": [str(
            _l("The answer cannot precede the quarter it reports."))]})
    before = {name: getattr(report, name) for name in FIELDS}
    for name, value in clean.items():
        setattr(report, name, value)
    report.answered_on = answered_on
    report.entered_by = actor
    report.source = source
    record(session, actor=actor, action="kpi.answered", subject_type="kpi_report",
           happened_on=answered_on,
           subject_id=report.id, payload={"company_id": report.company_id,
                                          "quarter": report.quarter, "answered_on": answered_on,
                                          "source": source, "values": clean,
                                          "before": before if any(before.values()) else None})
    return report


def import_kpi_csv(session: Session, content: bytes, *, answered_on: date, actor: str) -> int:
    """Rows of company_id,quarter,revenue_amount,rd_spend_amount,headcount,pct_applications,
    value_added_amount (header required); all rows or none. Returns the rows imported."""
    try:
        text = decode_csv(content)
    except NotText as exc:
        raise ValidationFailed(_l("Some fields are not valid."), details={"file": [str(
            exc.message)]}) from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("company_id", "quarter", *FIELDS) if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationFailed(_l("Some fields are not valid."), details={"file": [str(_l(
            "The header lacks: %(columns)s.", columns=", ".join(missing)))]})
    errors: dict[str, list[str]] = {}
    rows = []
    for number, row in enumerate(reader, start=2):
        try:
            company_id = int((row.get("company_id") or "").strip())
            company = session.get(Company, company_id) if 0 < company_id < 2**31 else None
        except ValueError:
            company = None
        if company is None:
            errors[f"row {number}: company_id"] = [str(_l("No such company."))]
            continue
        quarter = (row.get("quarter") or "").strip()
        try:
            start, end = quarter_bounds(quarter)
            values = _row_values(row, number)
        except ValidationFailed as exc:
            errors.update({(k if k.startswith("row") else f"row {number}: {k}"): v
                           for k, v in exc.details.items()})
            continue
        rows.append((company.id, quarter, start, end, values))
    if errors:
        raise ValidationFailed(_l("Some rows are not valid; nothing was imported."),
                               details=errors)
    for company_id, quarter, start, end, values in rows:
        report = session.scalar(select(KpiReport).where(KpiReport.company_id == company_id,
                                                        KpiReport.quarter == quarter))
        if report is None:
            report = KpiReport(company_id=company_id, quarter=quarter, period_start_on=start,
                               period_end_on=end, requested_on=min(answered_on, end),
                               due_on=end + timedelta(days=DUE_DAYS))
            session.add(report)
            session.flush()
        record_kpi_answer(session, report, values, answered_on=max(answered_on, start),
                          actor=actor, source="csv")
    return len(rows)


def kpi_rows(session: Session, *, quarter: str = "", today: date) -> list[dict[str, Any]]:
    stmt = (select(KpiReport, Company.legal_name, Company.name_en)
            .join(Company, Company.id == KpiReport.company_id)
            .order_by(KpiReport.period_end_on.desc(), Company.legal_name))
    if quarter:
        stmt = stmt.where(KpiReport.quarter == quarter)
    out = []
    for report, legal_name, name_en in session.execute(stmt):
        out.append({"id": report.id, "company_id": report.company_id,
                    "company": name_en or legal_name, "quarter": report.quarter,
                    "due_on": report.due_on, "answered_on": report.answered_on,
                    "is_overdue": report.answered_on is None and report.due_on < today,
                    **{name: getattr(report, name) for name in FIELDS}})
    return out


def kpi_summary(session: Session, as_of: date) -> dict[str, Any]:
    """Answered quarters ending on or before `as_of`, by year, against the 2026 targets."""
    reports = session.execute(select(KpiReport).where(KpiReport.period_end_on <= as_of)
                              ).scalars().all()
    by_year: dict[int, dict[str, Any]] = defaultdict(lambda: {
        "revenue_amount": Decimal("0.00"), "rd_spend_amount": Decimal("0.00"),
        "value_added_amount": Decimal("0.00"), "pct_applications": 0,
        "headcount_quarters": [], "reports": 0})
    requested = answered = overdue = 0
    for r in reports:
        requested += 1
        if r.answered_on is None or r.answered_on > as_of:
            overdue += r.due_on < as_of
            continue
        answered += 1
        year = by_year[r.period_end_on.year]
        for name in MONEY_FIELDS:
            year[name] += getattr(r, name) or 0
        year["pct_applications"] += r.pct_applications or 0
        year["headcount_quarters"].append((r.quarter, r.headcount or 0))
        year["reports"] += 1
    years = []
    for y in sorted(by_year):
        data = by_year[y]
        per_quarter: dict[str, int] = defaultdict(int)
        for quarter, heads in data.pop("headcount_quarters"):
            per_quarter[quarter] += heads
        quarters = len(per_quarter)
        headcount = (Decimal(sum(per_quarter.values())) / quarters) if quarters else Decimal(0)
        # Value added is reported per quarter: annualised over the quarters reported.
        annual_va = data["value_added_amount"] * 4 / quarters if quarters else Decimal(0)
        va_per_employee = (annual_va / headcount).quantize(FEN) if headcount else None
        ratio = (data["rd_spend_amount"] / data["revenue_amount"]).quantize(Decimal("0.0001")) \
            if data["revenue_amount"] else None
        years.append({"year": y, "quarters": quarters, "average_headcount": headcount.quantize(
            Decimal("0.1")), "rd_to_revenue": ratio,
            "value_added_per_employee": va_per_employee, **{k: v for k, v in data.items()}})
    for previous, current in zip(years, years[1:], strict=False):
        current["rd_ratio_rising"] = (None if None in (previous["rd_to_revenue"],
                                                       current["rd_to_revenue"])
                                      else current["rd_to_revenue"] > previous["rd_to_revenue"])
        current["pct_rising"] = current["pct_applications"] > previous["pct_applications"]
    latest = years[-1] if years else None
    return {
        "target_year": TARGET_YEAR,
        "target_value_added_per_employee": TARGET_VALUE_ADDED_PER_EMPLOYEE,
        "requested": requested, "answered": answered, "overdue": overdue,
        "years": years,
        "latest_year": latest["year"] if latest else None,
        "value_added_per_employee": latest["value_added_per_employee"] if latest else None,
        "meets_value_added_target": (latest["value_added_per_employee"] is not None
                                     and latest["value_added_per_employee"]
                                     >= TARGET_VALUE_ADDED_PER_EMPLOYEE) if latest else None,
        "rd_ratio_rising": latest.get("rd_ratio_rising") if latest else None,
        "pct_rising": latest.get("pct_rising") if latest else None,
    }
