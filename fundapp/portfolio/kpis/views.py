"""The KPI page: requests and answers by quarter, the dashboard, answers by form or CSV.

The answer form loads through the API's schema; both forms run inside `attempt`, so a refusal
shows its messages on the page and nothing is kept. The request's unit of work commits.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from fundapp.charts import bar_chart_svg
from fundapp.deals.models import Company
from fundapp.extensions import db
from fundapp.inputs import load_form
from fundapp.portfolio.kpis import operations as kpi_ops
from fundapp.portfolio.kpis.schemas import KpiAnswerFormSchema
from fundapp.portfolio.performance.summary import shanghai_today
from fundapp.portfolio.web import bp, current_actor
from fundapp.ui import reader_name
from fundapp.unit_of_work import attempt


@bp.get("/portfolio/kpis")
def kpis(errors: dict[str, Any] | None = None, status: int = 200):
    today = shanghai_today()
    quarter = request.args.get("quarter", "")
    rows = kpi_ops.kpi_rows(db.session, quarter=quarter, today=today)
    names = {company_id: reader_name(legal_name, name_en) for company_id, legal_name, name_en
             in db.session.execute(select(Company.id, Company.legal_name, Company.name_en)
                                   .where(Company.id.in_({r["company_id"] for r in rows})))}
    rows = [{**r, "company": names.get(r["company_id"], r["company"])} for r in rows]
    summary = kpi_ops.kpi_summary(db.session, today)
    years = summary["years"]
    charts = {
        "va": bar_chart_svg([(y["year"], y["value_added_per_employee"]) for y in years],
                            title=_("Value added per employee (CNY/year)"),
                            reference=summary["target_value_added_per_employee"],
                            reference_label=_("2026 target"), value_format="{:,.0f}",
                            y_label=_("CNY per employee"), x_label=_("Year"),
                            no_data=_("no data"), missing=_("n/a")),
        "rd": bar_chart_svg([(y["year"], y["rd_to_revenue"]) for y in years],
                            title=_("R&D spend / revenue"), value_format="{:.1%}",
                            tick_format="{:.1%}", y_label=_("Share of revenue (per cent)"),
                            x_label=_("Year"),
                            no_data=_("no data"), missing=_("n/a")),
        "pct": bar_chart_svg([(y["year"], y["pct_applications"]) for y in years],
                             title=_("PCT applications"), value_format="{:.0f}",
                             y_label=_("Applications"), x_label=_("Year"),
                             no_data=_("no data"), missing=_("n/a")),
    }
    return render_template("portfolio/kpis.html", rows=rows, summary=summary, charts=charts,
                           quarter=quarter, errors=errors or {}, fields=kpi_ops.FIELDS), status


def _answer(report_id: int) -> None:
    report = kpi_ops.get_report(db.session, report_id)
    data = load_form(KpiAnswerFormSchema())
    answered_on = data.pop("answered_on") or shanghai_today()
    kpi_ops.record_kpi_answer(db.session, report, data, answered_on=answered_on,
                              actor=current_actor())


@bp.post("/portfolio/kpis/<int:report_id>/answer")
def kpi_answer(report_id: int):
    _answered, errors = attempt(lambda: _answer(report_id))
    if errors:
        return kpis(errors, 422)
    flash(_("KPI answer saved."), "success")
    return redirect(url_for("portfolio.kpis"))


@bp.post("/portfolio/kpis/import")
def kpi_import():
    upload = request.files.get("file")
    count, errors = attempt(lambda: kpi_ops.import_kpi_csv(
        db.session, upload.read() if upload else b"", answered_on=shanghai_today(),
        actor=current_actor()))
    if errors:
        return kpis(errors, 422)
    flash(_("%(n)s KPI answers imported.", n=count), "success")
    return redirect(url_for("portfolio.kpis"))
