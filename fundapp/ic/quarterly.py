"""The quarterly portfolio report for the fund's supervisors (ILPA-style), generated on demand or
by the scheduler: `generate_quarterly_report(session, quarter)` stores and ledgers each version.

The figures come from fundapp.portfolio.performance.summary.performance_summary; `quarterly_data`
curates and formats them for reports/quarterly/template.html (the template formats nothing).
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


def _summary(session: Session, start: date, end: date) -> dict[str, Any]:
    from fundapp.portfolio.performance.summary import performance_summary

    return performance_summary(session, end, period_start=start, today=end)


def _charts(summary: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The three performance charts per document language ("both" has bilingual labels)."""
    from fundapp.portfolio.performance.charts import performance_charts

    out: dict[str, dict[str, str]] = {}
    for language in LANGUAGES:
        charts = performance_charts(summary, language=language, width=480, height=250)
        out[language] = {k: v for k, v in charts.items()
                         if isinstance(v, str) and v.lstrip().startswith("<svg")
                         and "<script" not in v.lower()}
    return out


# --------------------------------------------------------------------------- formatting

LANGUAGES = ("zh", "en", "both")
NONE = "—"


def both(text: Any) -> dict[str, str]:
    """A lazy (gettext) string in each language of the report."""
    from flask_babel import force_locale

    with force_locale("zh"):
        zh = str(text)
    with force_locale("en"):
        en = str(text)
    return {"zh": zh, "en": en}


def pair(zh: str, en: str) -> dict[str, str]:
    return {"zh": zh, "en": en}


def money(value: Decimal | None) -> str:
    """12345.6 -> '12,345.60' (yuan, to the fen, thousands separated)."""
    if value is None:
        return NONE
    return f"{Decimal(value).quantize(HUNDREDTH, rounding=ROUND_HALF_UP):,}"


def multiple(value: Decimal | None) -> str:
    """A multiple (DPI, RVPI, TVPI, MOIC) to 2 places: 1.785 -> '1.79x'."""
    if value is None:
        return NONE
    return f"{Decimal(value).quantize(HUNDREDTH, rounding=ROUND_HALF_UP):,}x"


def rate(value: Decimal | None, annualised: bool = True) -> str:
    """A rate as a percentage to 2 places; '†' marks a period return that is not annualised."""
    if value is None:
        return NONE
    return percent(Decimal(value)) + ("" if annualised else "†")


def day_text(value: date | None) -> str:
    return value.isoformat() if value else NONE


class _Names:
    """Companies' Chinese and English names by company, holding and grant id."""

    def __init__(self, session: Session) -> None:
        from fundapp.deals.models import Company
        from fundapp.portfolio.grants.models import Grant
        from fundapp.portfolio.holdings.models import Holding

        self.company = {cid: pair(legal or en or "", en or legal or "") for cid, legal, en
                        in session.execute(select(Company.id, Company.legal_name,
                                                  Company.name_en))}
        self.holding = dict(session.execute(select(Holding.id, Holding.company_id)).all())
        self.grant = dict(session.execute(select(Grant.id, Grant.company_id)).all())

    def of(self, *, company_id: int | None = None, holding_id: int | None = None,
           grant_id: int | None = None, fallback: str = "") -> dict[str, str]:
        if company_id is None and holding_id is not None:
            company_id = self.holding.get(holding_id)
        if company_id is None and grant_id is not None:
            company_id = self.grant.get(grant_id)
        return self.company.get(company_id) or pair(fallback, fallback)


def sector_pair(code: str | None) -> dict[str, str]:
    from fundapp.deals.sectors import SECTORS

    if not code or code == "unclassified":
        return pair("未分类", "Unclassified")
    zh, en = SECTORS.get(code, (code, code))
    return pair(zh, en)


def _figure_row(figures: dict[str, Any]) -> dict[str, Any]:
    """The shown figures of one group (fund view, vintage, sector)."""
    return {
        "paid_in": money(figures.get("paid_in_amount")),
        "distributed": money(figures.get("distributed_amount")),
        "nav": money(figures.get("nav_amount")),
        "dpi": multiple(figures.get("dpi")), "rvpi": multiple(figures.get("rvpi")),
        "tvpi": multiple(figures.get("tvpi")),
        "pic": percent(figures["pic"]) if figures.get("pic") is not None else NONE,
        "xirr": rate(figures.get("irr"), figures.get("irr_is_annualised", True)),
        "mirr": rate(figures.get("mirr"), figures.get("mirr_is_annualised", True)),
    }


VIEW_NAMES = {"all_in": pair("全口径（拨款及全部持股）", "All-in (grants and every holding)"),
              "equity": pair("股权（全部持股）", "Equity (every holding)"),
              "converted_only": pair("仅转股持股", "Converted only")}
SEVERITIES = {"critical": pair("严重", "Critical"), "warning": pair("警告", "Warning"),
              "info": pair("提示", "Information")}


def _schedule(summary: dict[str, Any], names: _Names) -> list[dict[str, Any]]:
    rows = []
    for h in summary["holdings"]:
        rows.append({
            "company": names.of(company_id=h.get("company_id"), fallback=h["company"]),
            "sector": sector_pair(h.get("sector")), "vintage": h.get("vintage") or NONE,
            "cost": money(h.get("cost_amount")), "paid_in": money(h.get("paid_in_amount")),
            "distributed": money(h.get("distributed_amount")), "nav": money(h.get("nav_amount")),
            "moic": multiple(h.get("moic")),
            "xirr": rate(h.get("irr"), h.get("irr_is_annualised", True)),
            "exited": h.get("status") == "exited", "stale": bool(h.get("is_mark_stale")),
            "mark_on": day_text(h.get("mark_on"))})
    return rows


def _schedule_total(summary: dict[str, Any]) -> dict[str, str]:
    holdings = summary["holdings"]
    total = {k: sum((h.get(k) or Decimal(0) for h in holdings), Decimal(0))
             for k in ("cost_amount", "paid_in_amount", "distributed_amount", "nav_amount")}
    equity = summary["views"]["equity"]
    return {"cost": money(total["cost_amount"]), "paid_in": money(total["paid_in_amount"]),
            "distributed": money(total["distributed_amount"]),
            "nav": money(total["nav_amount"]),
            "moic": multiple(equity.get("tvpi")),
            "xirr": rate(equity.get("irr"), equity.get("irr_is_annualised", True))}


def _policy(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The park's policy figures, each with its 2026 target where one is set."""
    policy, kpis = summary.get("policy_figures") or {}, summary.get("kpis") or {}
    target = kpis.get("target_value_added_per_employee")
    va = kpis.get("value_added_per_employee")
    year = kpis.get("latest_year")
    months = policy.get("median_months_to_conversion")
    per_yuan = policy.get("private_money_per_yuan")
    return [
        {"label": pair(f"每名员工增加值（{year} 年，年化，元/人）" if year else "每名员工增加值（元/人）",
                       f"Value added per employee ({year}, annualised, CNY per person)"
                       if year else "Value added per employee (CNY per person)"),
         "figure": money(va),
         "target": pair(f"{kpis.get('target_year', 2026)} 年目标 {money(target)}",
                        f"{kpis.get('target_year', 2026)} target {money(target)}")
         if target is not None else None,
         "detail": pair("最近一年被投企业增加值（按已报季度年化）÷ 平均员工人数",
                        "latest year's value added of the portfolio companies (annualised over "
                        "the quarters reported) ÷ average headcount"),
         "met": None if va is None or target is None else va >= target},
        {"label": pair("每 1 元转股撬动的社会资本（元）",
                       "Private money mobilised per yuan converted (CNY)"),
         "figure": NONE if per_yuan is None else f"{Decimal(per_yuan).quantize(HUNDREDTH):,}",
         "detail": pair(f"新增社会资本 {money(policy.get('new_money_amount'))} 元 ÷ 转股金额 "
                        f"{money(policy.get('converted_amount'))} 元",
                        f"new money {money(policy.get('new_money_amount'))} ÷ converted "
                        f"{money(policy.get('converted_amount'))}"),
         "target": None, "met": None},
        {"label": pair("转股率", "Conversion rate"),
         "figure": NONE if policy.get("conversion_rate") is None
         else percent(policy["conversion_rate"]),
         "detail": pair(f"已转股 {policy.get('converted_count', 0)} 项 ÷ 已有结果 "
                        f"{policy.get('decided_count', 0)} 项",
                        f"{policy.get('converted_count', 0)} converted of "
                        f"{policy.get('decided_count', 0)} decided"),
         "target": None, "met": None},
        {"label": pair("签约至转股月数（中位数）", "Median months from signing to conversion"),
         "figure": NONE if months is None else f"{months}",
         "detail": pair("已转股项目自签约至转股的月数", "months from signing to conversion of the "
                        "converted grants"),
         "target": None, "met": None},
    ]


def _kpis(summary: dict[str, Any]) -> dict[str, Any]:
    kpis = summary.get("kpis") or {}
    years = []
    for y in kpis.get("years", []):
        ratio = y.get("rd_to_revenue")
        years.append({
            "year": y["year"], "quarters": y.get("quarters", 0),
            "headcount": f"{Decimal(y.get('average_headcount') or 0):,}",
            "revenue": money(y.get("revenue_amount")), "rd": money(y.get("rd_spend_amount")),
            "rd_ratio": NONE if ratio is None else percent(ratio),
            "rd_rising": y.get("rd_ratio_rising"),
            "value_added": money(y.get("value_added_amount")),
            "va_per_employee": money(y.get("value_added_per_employee")),
            "pct": f"{y.get('pct_applications', 0):,}", "reports": y.get("reports", 0)})
    return {"requested": kpis.get("requested", 0), "answered": kpis.get("answered", 0),
            "overdue": kpis.get("overdue", 0), "years": years}


def _activity(summary: dict[str, Any], names: _Names) -> dict[str, list[dict[str, Any]]]:
    """What happened in the quarter: cash flows, valuation changes, conversions, exits."""
    from fundapp.portfolio.holdings.views import EXIT_KINDS, FLOW_KINDS, MARK_METHODS

    flows = {k.value: both(v) for k, v in FLOW_KINDS.items()}
    methods = {k.value: both(v) for k, v in MARK_METHODS.items()}
    exits = {k.value: both(v) for k, v in EXIT_KINDS.items()}
    by_name = {c["zh"]: c for c in names.company.values()}
    by_name.update({c["en"]: c for c in names.company.values()})
    return {
        "cash_flows": [{"on": day_text(f["on"]), "kind": flows.get(f["kind"], pair(f["kind"],
                                                                                   f["kind"])),
                        "company": by_name.get(f["company"], pair(f["company"], f["company"])),
                        "amount": money(f["amount"])} for f in summary.get("cash_flows", [])],
        "valuation_changes": [
            {"company": names.of(holding_id=m["holding_id"], fallback=m["company"]),
             "on": day_text(m["measured_on"]),
             "method": methods.get(m["method"], pair(m["method"], m["method"])),
             "before": NONE if m["previous_value_per_unit"] is None
             else f"{m['previous_value_per_unit']:,}",
             "after": f"{m['value_per_unit']:,}",
             "change": NONE if m["change"] is None else f"{m['change']:+,}"}
            for m in summary.get("valuation_changes", [])],
        "conversions": [
            {"company": names.of(grant_id=c["grant_id"], fallback=c["company"]),
             "signed_on": day_text(c["signed_on"]), "on": day_text(c["converted_on"]),
             "amount": money(c["converted_amount"]), "units": money(c["units"]),
             "stake": NONE if c["stake_percent"] is None
             else f"{Decimal(c['stake_percent']).quantize(Decimal('0.0001'))}%",
             "price": NONE if c["conversion_price"] is None else f"{c['conversion_price']:,}"}
            for c in summary.get("conversions", [])],
        "exits": [
            {"company": names.of(holding_id=e["holding_id"], fallback=e["company"]),
             "kind": exits.get(e["kind"], pair(e["kind"], e["kind"])),
             "on": day_text(e["transfer_on"]), "units": money(e["units"]),
             "price": money(e["price_amount"]), "cost": money(e["cost_amount"]),
             "gain": money(e["gain_amount"]), "buyer": e.get("buyer") or NONE,
             "closing": bool(e.get("is_closing"))}
            for e in summary.get("exits", [])],
    }


def _dcf(summary: dict[str, Any], names: _Names) -> list[dict[str, Any]]:
    return [{"company": names.of(holding_id=m["holding_id"], fallback=m["company"]),
             "on": day_text(m["measured_on"]), "discount_rate": f"{m['discount_rate_pct']}%",
             "cash_flows": " / ".join(money(v) for v in m["cash_flows"]),
             "terminal": money(m["terminal_value_amount"]), "net_debt": money(m["net_debt_amount"]),
             "equity": money(m["equity_value_amount"]), "units": money(m["units_outstanding"]),
             "value_per_unit": f"{m['value_per_unit']:,}"}
            for m in summary.get("dcf_marks", [])]


# The scheduler's jobs by name (a compliance item names its job by id).
JOB_NAMES = {
    "ledger.verify": pair("台账校验（每日）", "the nightly ledger verification"),
    "deadlines.remind": pair("期限提醒（每日）", "the daily deadline reminders"),
    "report.quarterly": pair("季度报告生成", "the quarterly report"),
    "grants.close_expired": pair("到期资助结题", "closing expired grants"),
    "exits.instalments": pair("退出分期款提醒", "the exit instalment reminders"),
    "kpi.request": pair("经营指标报送请求", "the KPI report requests"),
}
CLAUSE_NAMES = {"metrics": pair("估值口径", "valuation")}


def _jobs_named(text: dict[str, str]) -> dict[str, str]:
    out = dict(text)
    for job, name in JOB_NAMES.items():
        for language in ("zh", "en"):
            out[language] = out[language].replace(job, name[language])
    return out


def _compliance(session: Session, now: datetime, names: _Names) -> list[dict[str, Any]]:
    """The compliance checks' open items at the report's moment (fundapp.compliance.checks);
    the English report names companies by their English names."""
    from fundapp.compliance.checks import run_checks
    from fundapp.deals.models import Deal

    # companies and deals (the checks name a deal by its project name) in English; the longest
    # first, so that a name inside another is not replaced first
    projects = session.execute(select(Deal.project_name, Deal.project_name_en).where(
        Deal.project_name_en != "")).all()
    english = sorted({*((c["zh"], c["en"]) for c in names.company.values()
                        if c["zh"] != c["en"]),
                      *((zh, en) for zh, en in projects if zh and zh != en)},
                     key=lambda p: (-len(p[0]), p[0]))

    def _job_named(text: dict[str, str]) -> dict[str, str]:
        out = _jobs_named(text)
        for zh, en in english:
            out["en"] = out["en"].replace(zh, en)
        return out

    out = []
    for item in run_checks(session, now).items:
        shown = item.as_dict()
        out.append({"severity": item.severity,
                    "severity_label": SEVERITIES.get(item.severity,
                                                     pair(item.severity, item.severity)),
                    "clause": CLAUSE_NAMES.get(item.clause, pair(item.clause, item.clause)),
                    "subject": _job_named(both(item.subject)),
                    "message": _job_named(shown["message"]), "due_on": day_text(item.due_on)})
    return out


def _pme(session: Session, summary: dict[str, Any]) -> dict[str, Any] | None:
    from fundapp.portfolio.performance.models import IndexSeries

    pme = summary.get("pme")
    if not pme:
        return None
    alpha = pme.get("direct_alpha")
    index = pme.get("index") or ""
    index_en = session.scalar(select(IndexSeries.name_en).where(IndexSeries.name == index)) \
        if index else ""
    return {"index": pair(index, index_en or index),
            "ks_pme": NONE if pme.get("ks_pme") is None else
            f"{Decimal(pme['ks_pme']).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)}",
            "direct_alpha": NONE if alpha is None else percent(alpha),
            "problem": pme.get("problem") or ""}


def _mirr_rates(session: Session, end: date) -> dict[str, Any]:
    from flask_babel import force_locale

    from fundapp.portfolio.performance.summary import mirr_rates

    with force_locale("zh"):
        zh = mirr_rates(session, end)
    with force_locale("en"):
        en = mirr_rates(session, end)
    return {"finance": NONE if zh["finance_rate"] is None else percent(zh["finance_rate"]),
            "finance_source": pair(zh["finance_rate_source"], en["finance_rate_source"]),
            "reinvestment": NONE if zh["reinvestment_rate"] is None
            else percent(zh["reinvestment_rate"]),
            "reinvestment_source": pair(zh["reinvestment_rate_source"],
                                        en["reinvestment_rate_source"])}


def _conventions(end: date) -> dict[str, str]:
    from flask_babel import force_locale

    from fundapp.portfolio.performance.summary import conventions

    with force_locale("zh"):
        zh = conventions(end)
    with force_locale("en"):
        en = conventions(end)
    return pair(zh, en)


def quarterly_data(session: Session, quarter: str, *, version: int,
                   generated_at: datetime) -> dict[str, Any]:
    """Everything the report's template shows, already formatted (money with separators, rates
    as percentages, names and labels in both languages as {"zh", "en"} pairs)."""
    from fundapp.dates import SHANGHAI

    start, end = parse_quarter(quarter)
    summary = _summary(session, start, end)
    names = _Names(session)
    fund = session.scalar(select(Fund).order_by(Fund.id).limit(1))
    fund_name = pair(fund.name or fund.name_en or "", fund.name_en or fund.name or "") \
        if fund else pair("", "")
    views = [{"key": key, "name": VIEW_NAMES[key], "holdings_count": v.get("holdings_count", 0),
              "has_figures": key == "all_in" or bool(v.get("holdings_count")),
              **_figure_row(v)} for key, v in summary["views"].items()]
    periodic = summary.get("periodic_irr") or {}
    activity = _activity(summary, names)
    local = generated_at.astimezone(SHANGHAI) if generated_at.tzinfo else generated_at
    return {
        "quarter": quarter, "period_start": start.isoformat(), "as_of": end.isoformat(),
        "version": version, "generated_at": local.strftime("%Y-%m-%d %H:%M"),
        "fund_name": fund_name,
        "committed": money(fund.committed_amount) if fund else NONE,
        "summary": plain(shown_rates(summary)),
        "has_short_period": has_short_period(summary),
        "views": views,
        "periodic": {"per_quarter": rate(periodic.get("irr_per_quarter")),
                     "annualised": rate(periodic.get("irr_annualised")),
                     "quarters": [{"quarter": q["quarter"], "net": money(q["net_amount"])}
                                  for q in periodic.get("quarters", [])]},
        "mirr_rates": _mirr_rates(session, end),
        "schedule": _schedule(summary, names),
        "schedule_total": _schedule_total(summary),
        "vintages": [{"vintage": v["vintage"], **_figure_row(v)} for v in summary["by_vintage"]],
        "sectors": [{"sector": sector_pair(v["sector"]), **_figure_row(v)}
                    for v in summary["by_sector"]],
        "pme": _pme(session, summary),
        "policy": _policy(summary),
        "kpis": _kpis(summary),
        "activity": activity,
        "quiet": [key for key in ("cash_flows", "valuation_changes", "conversions", "exits")
                  if not activity[key]],
        "dcf_marks": _dcf(summary, names),
        "compliance": _compliance(session, generated_at if generated_at.tzinfo
                                  else generated_at.replace(tzinfo=UTC), names),
        "conventions": _conventions(end),
        "charts": _charts(summary),
    }


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
