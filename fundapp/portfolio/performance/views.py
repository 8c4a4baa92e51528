"""Pages of the fund's performance and of the index series for PME."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from fundapp.errors import AppError, ValidationFailed
from fundapp.extensions import db
from fundapp.portfolio.holdings.views import EXIT_KINDS, FLOW_KINDS
from fundapp.portfolio.performance.charts import line_chart_svg, performance_charts
from fundapp.portfolio.performance.models import IndexSeries
from fundapp.portfolio.performance.operations import import_index_series
from fundapp.portfolio.performance.summary import check_as_of, performance_summary
from fundapp.portfolio.web import bp, errors_of


def _page_date(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(_l("Some fields are not valid."), details={
            name: [str(_l("Not a valid date."))]}) from None


@bp.get("/portfolio/performance")
def performance():
    as_of = check_as_of(_page_date("as_of"))
    summary = performance_summary(db.session, as_of, period_start=_page_date("period_start"),
                                  index_series=request.args.get("index") or None)
    return render_template("portfolio/performance.html", s=summary,
                           charts=performance_charts(summary), flow_kinds=FLOW_KINDS,
                           exit_kinds=EXIT_KINDS,
                           series=db.session.scalars(select(IndexSeries.name)
                                                     .order_by(IndexSeries.name)).all())


@bp.get("/portfolio/index-series")
def index_series(errors: dict[str, Any] | None = None, status: int = 200):
    rows = db.session.scalars(select(IndexSeries).order_by(IndexSeries.name)).all()
    charts = {s.name: line_chart_svg([(lv.on, lv.level) for lv in s.levels], title=s.name,
                                     height=180) for s in rows}
    return render_template("portfolio/index_series.html", rows=rows, charts=charts,
                           errors=errors or {}), status


@bp.post("/portfolio/index-series")
def index_upload():
    upload = request.files.get("file")
    try:
        import_index_series(db.session, name=request.form.get("name", ""),
                            content=upload.read() if upload else b"", actor=g.user.email)
    except AppError as exc:
        db.session.rollback()
        return index_series(errors_of(exc), 422)
    db.session.commit()
    flash(_("Index series imported."), "success")
    return redirect(url_for("portfolio.index_series"))
