"""Admin pages for the reference data: the working-day calendar and the 1-year LPR."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import extract, select

from fundapp.errors import ValidationFailed
from fundapp.extensions import db
from fundapp.reference import operations as ops
from fundapp.reference.models import CalendarDay, LprRate

bp = Blueprint("reference", __name__, url_prefix="/reference")


def _flash_problems(exc: ValidationFailed) -> None:
    details = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.details.items())
    flash(f"{exc.message} {details}", "error")


@bp.get("/calendar")
def calendar():
    try:
        year = int(request.args.get("year", date.today().year))
    except ValueError:
        year = date.today().year
    year = min(max(year, 2000), 2100)
    days = db.session.execute(select(CalendarDay.id, CalendarDay.on, CalendarDay.is_working_day,
                                     CalendarDay.name)
                              .where(extract("year", CalendarDay.on) == year)
                              .order_by(CalendarDay.on)).all()
    return render_template("reference/calendar.html", days=days, year=year)


@bp.post("/calendar")
def set_calendar_day():
    try:
        ops.set_calendar_day(db.session, on=request.form.get("on", ""),
                             is_working_day=request.form.get("is_working_day") == "1",
                             name=request.form.get("name", ""), actor=g.user.email)
    except ValidationFailed as exc:
        db.session.rollback()
        _flash_problems(exc)
    else:
        db.session.commit()
        flash(_("Calendar day saved."), "success")
    return redirect(url_for("reference.calendar", year=request.form.get("on", "")[:4] or None))


@bp.post("/calendar/<int:day_id>/delete")
def remove_calendar_day(day_id: int):
    ops.remove_calendar_day(db.session, day_id, actor=g.user.email)
    db.session.commit()
    flash(_("Calendar day removed."), "success")
    return redirect(url_for("reference.calendar"))


@bp.post("/calendar/import")
def import_calendar():
    upload = request.files.get("file")
    try:
        count = ops.import_calendar_csv(db.session, upload.read() if upload else b"",
                                        actor=g.user.email)
    except ValidationFailed as exc:
        db.session.rollback()
        _flash_problems(exc)
    else:
        db.session.commit()
        flash(_("%(n)s calendar days imported.", n=count), "success")
    return redirect(url_for("reference.calendar"))


@bp.get("/lpr")
def lpr():
    rates = db.session.execute(select(LprRate.published_on, LprRate.rate)
                               .order_by(LprRate.published_on.desc()).limit(500)).all()
    return render_template("reference/lpr.html", rates=rates)


@bp.post("/lpr")
def add_lpr_rate():
    try:
        ops.add_lpr_rate(db.session, published_on=request.form.get("published_on", ""),
                         rate_pct=request.form.get("rate_pct", ""), actor=g.user.email)
    except ValidationFailed as exc:
        db.session.rollback()
        _flash_problems(exc)
    else:
        db.session.commit()
        flash(_("Rate saved."), "success")
    return redirect(url_for("reference.lpr"))


@bp.post("/lpr/import")
def import_lpr():
    upload = request.files.get("file")
    try:
        count = ops.import_lpr_csv(db.session, upload.read() if upload else b"",
                                   actor=g.user.email)
    except ValidationFailed as exc:
        db.session.rollback()
        _flash_problems(exc)
    else:
        db.session.commit()
        flash(_("%(n)s rates imported.", n=count), "success")
    return redirect(url_for("reference.lpr"))
