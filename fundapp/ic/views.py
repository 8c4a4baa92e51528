"""Pages of the investment committee: prepare a meeting, read the pack, vote, sign the minutes;
and the quarterly portfolio report."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from fundapp.deals.models import Deal, DealStage
from fundapp.errors import AppError, ValidationFailed
from fundapp.extensions import db
from fundapp.ic import operations as ops
from fundapp.ic import quarterly, queries
from fundapp.ic.models import VoteChoice

bp = Blueprint("ic", __name__)


def _pdf(pdf: bytes, filename: str) -> Response:
    response = Response(pdf, mimetype="application/pdf",
                        headers={"Content-Disposition": f"inline; filename={filename}"})
    # The meeting page shows the pack in a frame of this site: allow exactly that.
    response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _errors(exc: AppError) -> str:
    parts = [str(exc.message)]
    for key, value in exc.details.items():
        if isinstance(value, list):
            parts.append(f"{key}: {'; '.join(str(v) for v in value)}")
    return " ".join(parts)


def _back(meeting_id: int):
    return redirect(url_for("ic.meeting", meeting_id=meeting_id))


@bp.get("/ic/meetings")
def meetings():
    return render_template("ic/meetings.html", meetings=queries.meetings(db.session))


@bp.route("/ic/meetings/new", methods=["GET", "POST"])
def new_meeting():
    candidates = list(db.session.scalars(select(Deal).where(
        Deal.stage == DealStage.IC_DECISION).order_by(Deal.id)).unique())
    members = ops.members_of(db.session)
    form = {"title": "", "held_on": "", "location": "", "quorum": "2/3",
            "decision_rule": "1/2", "chair_id": "", "member_ids": [], "deal_ids": []}
    error = ""
    if request.method == "POST":
        form = {key: request.form.get(key, "") for key in form} | {
            "member_ids": request.form.getlist("member_ids"),
            "deal_ids": request.form.getlist("deal_ids")}
        try:
            try:
                held_on = date.fromisoformat(form["held_on"])
                chair_id = int(form["chair_id"])
                member_ids = [int(m) for m in form["member_ids"]]
                deal_ids = [int(d) for d in form["deal_ids"]]
            except ValueError:
                raise ValidationFailed(_("Some fields are not valid."), details={
                    "held_on": [_("Enter the date, the chair, the members and the deals.")]}
                ) from None
            meeting = ops.create_meeting(db.session, actor=g.user.email, title=form["title"],
                                         held_on=held_on, location=form["location"],
                                         chair_id=chair_id, member_ids=member_ids,
                                         deal_ids=deal_ids, quorum=form["quorum"],
                                         decision_rule=form["decision_rule"])
            db.session.commit()
            flash(_("Meeting prepared."), "success")
            return _back(meeting.id)
        except AppError as exc:
            db.session.rollback()
            error = _errors(exc)
    return render_template("ic/new_meeting.html", form=form, candidates=candidates,
                           members=members, error=error), 422 if error else 200


@bp.get("/ic/meetings/<int:meeting_id>")
def meeting(meeting_id: int):
    meeting = ops.get_meeting(db.session, meeting_id)
    tallies = {item.id: ops.tally(item) for item in meeting.items}
    return render_template("ic/meeting.html", meeting=meeting, tallies=tallies,
                           locked=ops.is_locked(meeting), choices=[c.value for c in VoteChoice],
                           me=g.user, recused_ids=queries.recused_ids,
                           is_member=any(m.user_id == g.user.id for m in meeting.members))


def _act(meeting_id: int, action, success: str):
    try:
        action(ops.get_meeting(db.session, meeting_id))
        db.session.commit()
        flash(success, "success")
    except AppError as exc:
        db.session.rollback()
        if exc.status == 404:
            raise
        flash(_errors(exc), "error")
    return _back(meeting_id)


@bp.post("/ic/meetings/<int:meeting_id>/pack")
def generate_pack(meeting_id: int):
    return _act(meeting_id, lambda m: ops.generate_pack(
        db.session, m, actor=g.user.email, language=request.form.get("language", "both"),
        is_final=request.form.get("is_final") == "1"), _("A new version of the pack is ready."))


@bp.get("/ic/meetings/<int:meeting_id>/pack.pdf")
def pack_pdf(meeting_id: int):
    meeting = ops.get_meeting(db.session, meeting_id)
    pack = ops.get_pack(meeting, request.args.get("version", type=int))
    return _pdf(pack.pdf, f"ic-pack-{meeting.id}-v{pack.version}.pdf")


@bp.post("/ic/meetings/<int:meeting_id>/attendance")
def attendance(meeting_id: int):
    present = [int(i) for i in request.form.getlist("present_ids") if i.isdigit()]
    return _act(meeting_id, lambda m: ops.record_attendance(db.session, m, present,
                                                            actor=g.user.email),
                _("Attendance recorded."))


@bp.post("/ic/meetings/<int:meeting_id>/deals/<int:deal_id>/notes")
def notes(meeting_id: int, deal_id: int):
    return _act(meeting_id, lambda m: ops.set_item_notes(
        db.session, ops.get_item(m, deal_id), actor=g.user.email,
        dd_summary=request.form.get("dd_summary", ""), risks=request.form.get("risks", "")),
        _("Saved; generate a new pack version to include it."))


@bp.post("/ic/meetings/<int:meeting_id>/deals/<int:deal_id>/conflict")
def conflict(meeting_id: int, deal_id: int):
    return _act(meeting_id, lambda m: ops.declare_conflict(
        db.session, ops.get_item(m, deal_id), user_id=g.user.id,
        note=request.form.get("note", ""), actor=g.user.email),
        _("Conflict declared: you are recused from this deal."))


@bp.post("/ic/meetings/<int:meeting_id>/deals/<int:deal_id>/vote")
def vote(meeting_id: int, deal_id: int):
    return _act(meeting_id, lambda m: ops.cast_vote(
        db.session, ops.get_item(m, deal_id), voter=g.user,
        choice=request.form.get("choice", ""), conditions=request.form.get("conditions", "")),
        _("Vote recorded."))


@bp.post("/ic/meetings/<int:meeting_id>/deals/<int:deal_id>/decide")
def decide(meeting_id: int, deal_id: int):
    return _act(meeting_id, lambda m: ops.decide(db.session, ops.get_item(m, deal_id),
                                                 actor=g.user.email),
                _("Decision recorded and the deal moved."))


@bp.post("/ic/meetings/<int:meeting_id>/minutes")
def sign_minutes(meeting_id: int):
    return _act(meeting_id, lambda m: ops.sign_minutes(db.session, m, user=g.user),
                _("Minutes signed and locked."))


@bp.post("/ic/meetings/<int:meeting_id>/minutes/reopen")
def reopen_minutes(meeting_id: int):
    return _act(meeting_id, lambda m: ops.open_minutes_version(
        db.session, m, actor=g.user.email, reason=request.form.get("reason", "")),
        _("A new version of the minutes is open."))


@bp.get("/ic/meetings/<int:meeting_id>/minutes.pdf")
def minutes_pdf(meeting_id: int):
    meeting = ops.get_meeting(db.session, meeting_id)
    if request.args.get("draft") == "1" and not ops.is_locked(meeting):
        pdf = ops.render_minutes(meeting, version=ops.next_minutes_version(meeting))
        return _pdf(pdf, f"ic-minutes-{meeting.id}-draft.pdf")
    minutes = ops.latest_signed_minutes(meeting)
    return _pdf(minutes.pdf, f"ic-minutes-{meeting.id}-v{minutes.version}.pdf")


@bp.get("/reports/quarterly")
def quarterly_reports():
    today = datetime.now(UTC).date()
    return render_template("ic/quarterly.html", reports=quarterly.reports(db.session),
                           suggested=quarterly.previous_quarter(today))


@bp.post("/reports/quarterly")
def generate_quarterly():
    quarter = request.form.get("quarter", "").strip().upper()
    try:
        quarterly.parse_quarter(quarter)
    except ValueError:
        flash(_("Enter a quarter such as 2026Q3."), "error")
        return redirect(url_for("ic.quarterly_reports"))
    try:
        quarterly.generate_quarterly_report(db.session, quarter, actor=g.user.email)
        db.session.commit()
        flash(_("The report for %(quarter)s is ready.", quarter=quarter), "success")
    except AppError as exc:
        db.session.rollback()
        flash(_errors(exc), "error")
    return redirect(url_for("ic.quarterly_reports"))


@bp.get("/reports/quarterly/<int:report_id>.pdf")
def quarterly_pdf(report_id: int):
    from fundapp.errors import NotFound
    from fundapp.ic.models import QuarterlyReport

    report = db.session.get(QuarterlyReport, report_id)
    if report is None:
        raise NotFound(_("No such report."))
    return _pdf(report.pdf, f"quarterly-{report.quarter}-v{report.version}.pdf")
