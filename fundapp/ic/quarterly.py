"""The quarterly portfolio report for the fund's supervisors (ILPA-style), generated on demand or
by the scheduler: `generate_quarterly_report(session, quarter)` stores and ledgers each version.

The figures come from fundapp.portfolio.performance.summary.performance_summary; the report renders
whatever keys it returns, so a key added there later does not break it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.dates import previous_quarter as quarter_before
from fundapp.fund.models import Fund
from fundapp.ic.models import QuarterlyReport

QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
SECTIONS = ("holdings", "cash_flows", "valuation_changes", "conversions", "exits",
            "by_vintage", "by_sector")


def parse_quarter(quarter: str) -> tuple[date, date]:
    """'2026Q3' -> (2026-07-01, 2026-09-30)."""
    match = QUARTER.match(quarter or "")
    if not match:
        raise ValueError(f"not a quarter: {quarter!r}")
    year, q = int(match.group(1)), int(match.group(2))
    start = date(year, 3 * q - 2, 1)
    end = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
    return start, date.fromordinal(end.toordinal() - 1)


def previous_quarter(today: date) -> str:
    """'2026Q3' for any day of 2026Q4."""

    return quarter_before(today)[0]


def plain(value: Any) -> Any:
    """Template data: Decimals, dates and enums as text; containers recursively."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return f"{value:,}" if abs(value) >= 1000 else str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# Rates are decimal fractions in the summary (the API gives them whole); the report shows them
# as percentages to 2 places (metrics.md), half-up, like the pages.
RATE_KEYS = frozenset({"irr", "irr_annualised", "direct_alpha", "conversion_rate", "mirr",
                       "irr_per_quarter", "finance_rate", "reinvestment_rate"})
HUNDREDTH = Decimal("0.01")
NOT_ANNUALISED = "未年化 not annualised"


def percent(rate: Decimal) -> str:
    """0.6764945918 -> '67.65%'; -0.6764945918 -> '-67.65%'."""
    return f"{(rate * 100).quantize(HUNDREDTH, rounding=ROUND_HALF_UP):,}%"


def shown_rates(value: Any) -> Any:
    """The summary with every rate as a percentage; a rate over less than a year says it is
    the period's return, not annualised (GIPS), next to the figure."""
    if isinstance(value, list):
        return [shown_rates(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key in ("irr_is_annualised", "mirr_is_annualised"):
            continue  # said next to the rate itself
        if key in RATE_KEYS and isinstance(item, Decimal):
            item = percent(item)
            if value.get(f"{key}_is_annualised") is False:
                item = f"{item} ({NOT_ANNUALISED})"
        out[key] = shown_rates(item)
    return out


def has_short_period(value: Any) -> bool:
    """True when any IRR in the summary is over less than a year (so not annualised)."""
    if isinstance(value, list):
        return any(has_short_period(v) for v in value)
    if isinstance(value, dict):
        return (value.get("irr_is_annualised") is False and value.get("irr") is not None) or \
            any(has_short_period(v) for v in value.values())
    return False


def _summary(session: Session, start: date, end: date) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        from fundapp.portfolio.performance.summary import performance_summary
    except ImportError:  # the performance module is not there: a report of the fund only
        fund = session.scalar(select(Fund).order_by(Fund.id).limit(1))
        return ({"as_of": end, "fund": {"name": fund.name if fund else "",
                                        "committed_amount": fund.committed_amount
                                        if fund else None}}, {})
    summary = performance_summary(session, end, period_start=start, today=end)
    charts: dict[str, str] = {}
    try:
        from fundapp.portfolio.performance.charts import performance_charts

        charts = {k: v for k, v in performance_charts(summary).items()
                  if isinstance(v, str) and v.lstrip().startswith("<svg")
                  and "<script" not in v.lower()}
    except (ImportError, KeyError, TypeError, ValueError):
        charts = {}
    return summary, charts


def quarterly_data(session: Session, quarter: str, *, version: int,
                   generated_at: datetime) -> dict[str, Any]:
    start, end = parse_quarter(quarter)
    summary, charts = _summary(session, start, end)
    data = plain(shown_rates(summary))
    fund = session.scalar(select(Fund).order_by(Fund.id).limit(1))
    return {"quarter": quarter, "period_start": start.isoformat(), "as_of": end.isoformat(),
            "version": version, "generated_at": generated_at.strftime("%Y-%m-%d %H:%M UTC"),
            "fund_name": fund.name if fund else "", "summary": data,
            "sections": [s for s in SECTIONS if isinstance(data.get(s), list)],
            "has_short_period": has_short_period(summary),
            "charts": charts}


def generate_quarterly_report(session: Session, quarter: str, *, actor: str = "scheduler",
                              now: datetime | None = None) -> tuple[bytes, QuarterlyReport]:
    """Render the quarter's report, store it as the quarter's next version, ledger its SHA-256.

    Each call adds a version (the scheduler's job is idempotent by its own run key); the PDF shows
    the version's recorded time, never the time of rendering.
    """
    from reports.render import render_pdf

    start, end = parse_quarter(quarter)
    latest = session.scalar(select(QuarterlyReport).where(QuarterlyReport.quarter == quarter)
                            .order_by(QuarterlyReport.version.desc()).limit(1))
    version = latest.version + 1 if latest else 1
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    data = quarterly_data(session, quarter, version=version, generated_at=moment)
    pdf = render_pdf("quarterly", data, "both")
    digest = hashlib.sha256(pdf).hexdigest()
    report = QuarterlyReport(quarter=quarter, version=version, as_of=end, generated_at=moment,
                             generated_by=actor, sha256=digest, size_bytes=len(pdf), pdf=pdf)
    session.add(report)
    session.flush()
    record(session, actor=actor, action="report.quarterly_generated",
           subject_type="quarterly_report", subject_id=report.id, at=moment,
           payload={"quarter": quarter, "version": version, "as_of": end,
                    "period_start": start, "sha256": digest, "size_bytes": len(pdf)})
    return pdf, report


def latest_report(session: Session, quarter: str) -> QuarterlyReport | None:
    return session.scalar(select(QuarterlyReport).where(QuarterlyReport.quarter == quarter)
                          .order_by(QuarterlyReport.version.desc()).limit(1))


def reports(session: Session) -> list[QuarterlyReport]:
    return list(session.scalars(select(QuarterlyReport).order_by(
        QuarterlyReport.quarter.desc(), QuarterlyReport.version.desc())))
