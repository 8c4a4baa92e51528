"""Pages of the fund's performance and of the index series for PME.

The upload form loads through the API's schema and runs inside `attempt`; the request's unit of
work commits.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from fundapp.charts import line_chart_svg
from fundapp.extensions import db
from fundapp.inputs import load_form
from fundapp.pagination import page_of
from fundapp.portfolio.holdings.views import EXIT_KINDS, FLOW_KINDS
from fundapp.portfolio.performance.charts import performance_charts
from fundapp.portfolio.performance.models import IndexSeries
from fundapp.portfolio.performance.operations import import_index_series
from fundapp.portfolio.performance.schemas import IndexSeriesUploadSchema
from fundapp.portfolio.performance.summary import cached_summary, cash_flow_page
from fundapp.portfolio.web import as_of_arg, bp, current_actor, date_arg
from fundapp.ui import reader_name
from fundapp.unit_of_work import attempt

HOLDINGS_PER_PAGE = 50


@bp.get("/portfolio/performance")
def performance():
    as_of, period_start = as_of_arg(), date_arg("period_start")
    summary = cached_summary(db.session, as_of, period_start=period_start,
                             index_series=request.args.get("index") or None)
    flows = cash_flow_page(db.session, summary["as_of"], period_start,
                           request.args.get("flows_page", 1), newest_first=True)
    return render_template("portfolio/performance.html", s=summary,
                           holdings=page_of(summary["holdings"], request.args.get("holdings_page"),
                                            HOLDINGS_PER_PAGE),
                           flows=flows,
                           charts=performance_charts(summary), flow_kinds=FLOW_KINDS,
                           exit_kinds=EXIT_KINDS,
                           series={n: reader_name(n, en) for n, en in db.session.execute(
                               select(IndexSeries.name, IndexSeries.name_en)
                               .order_by(IndexSeries.name))})


@bp.get("/portfolio/index-series")
def index_series(errors: dict[str, Any] | None = None, status: int = 200):
    rows = db.session.scalars(select(IndexSeries).order_by(IndexSeries.name)).all()
    charts = {s.name: line_chart_svg([(lv.on, lv.level) for lv in s.levels],
                                     title=_("%(name)s: index level",
                                             name=reader_name(s.name, s.name_en)),
                                     y_label=_("Index points"), x_label=_("Date"),
                                     no_data=_("no data"), height=200) for s in rows}
    return render_template("portfolio/index_series.html", rows=rows, charts=charts,
                           errors=errors or {}), status


@bp.post("/portfolio/index-series")
def index_upload():
    upload = request.files.get("file")
    _series, errors = attempt(lambda: import_index_series(
        db.session, content=upload.read() if upload else b"", actor=current_actor(),
        **load_form(IndexSeriesUploadSchema())))
    if errors:
        return index_series(errors, 422)
    flash(_("Index series imported."), "success")
    return redirect(url_for("portfolio.index_series"))
