"""Admin pages for the reference data: the working-day calendar and the 1-year LPR."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import extract, select

from fundapp.extensions import db
from fundapp.inputs import load_form
from fundapp.reference import operations as ops
from fundapp.reference.models import CalendarDay, LprRate
from fundapp.reference.schemas import CalendarDaySchema, LprRateSchema
from fundapp.unit_of_work import attempt

bp = Blueprint("reference", __name__, url_prefix="/reference")


def _year(value: Any) -> int:
    try:
        year = int(value)
    except (TypeError, ValueError):
        year = date.today().year
    return min(max(year, 2000), 2100)


def _calendar_page(year: int, *, errors: dict | None = None, failed: str = ""):
    days = db.session.execute(select(CalendarDay.id, CalendarDay.on, CalendarDay.is_working_day,
                                     CalendarDay.name)
                              .where(extract("year", CalendarDay.on) == year)
                              .order_by(CalendarDay.on)).all()
    return render_template("reference/calendar.html", days=days, year=year,
                           errors=errors or {}, failed=failed,
                           values=request.form if failed else {}), 422 if errors else 200


def _lpr_page(*, errors: dict | None = None, failed: str = ""):
    rates = db.session.execute(select(LprRate.published_on, LprRate.rate)
                               .order_by(LprRate.published_on.desc()).limit(500)).all()
    return render_template("reference/lpr.html", rates=rates, errors=errors or {},
                           failed=failed, values=request.form if failed else {}
                           ), 422 if errors else 200


@bp.get("/calendar")
def calendar():
    return _calendar_page(_year(request.args.get("year", date.today().year)))


@bp.post("/calendar")
def set_calendar_day():
    row, errors = attempt(lambda: ops.set_calendar_day(
        db.session, actor=g.user.email, **load_form(CalendarDaySchema())))
    if errors:
        return _calendar_page(date.today().year, errors=errors, failed="day")
    flash(_("Calendar day saved."), "success")
    return redirect(url_for("reference.calendar", year=row.on.year))


@bp.post("/calendar/<int:day_id>/delete")
def remove_calendar_day(day_id: int):
    ops.remove_calendar_day(db.session, day_id, actor=g.user.email)
    flash(_("Calendar day removed."), "success")
    return redirect(url_for("reference.calendar"))


@bp.get("/lpr")
def lpr():
    return _lpr_page()


@bp.post("/lpr")
def add_lpr_rate():
    _done, errors = attempt(lambda: ops.add_lpr_rate(db.session, actor=g.user.email,
                                                 **load_form(LprRateSchema())))
    if errors:
        return _lpr_page(errors=errors, failed="rate")
    flash(_("Rate saved."), "success")
    return redirect(url_for("reference.lpr"))


@dataclass(frozen=True)
class CsvImport:
    run: Callable[..., int]
    done: Callable[[int], str]
    page: Callable[..., Any]
    endpoint: str


IMPORTS = {
    "calendar": CsvImport(ops.import_calendar_csv,
                          lambda n: _("%(n)s calendar days imported.", n=n),
                          lambda **kw: _calendar_page(date.today().year, **kw),
                          "reference.calendar"),
    "lpr": CsvImport(ops.import_lpr_csv, lambda n: _("%(n)s rates imported.", n=n), _lpr_page,
                     "reference.lpr"),
}


def import_csv(table: str):
    """A CSV import of the calendar or of the LPR: all rows or none, each bad row named."""
    spec = IMPORTS[table]
    upload = request.files.get("file")
    count, errors = attempt(lambda: spec.run(db.session, upload.read() if upload else b"",
                                             actor=g.user.email))
    if errors:
        return spec.page(errors=errors, failed="import")
    flash(spec.done(count), "success")
    return redirect(url_for(spec.endpoint))


def _import_view(table: str) -> Callable[[], Any]:
    def view():
        return import_csv(table)

    view.__name__ = f"import_{table}"
    return view


for _table in IMPORTS:
    bp.add_url_rule(f"/{_table}/import", f"import_{_table}", _import_view(_table),
                    methods=["POST"])
