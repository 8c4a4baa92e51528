"""Pages of the investment committee: prepare a meeting, read the pack, vote, sign the minutes;
and the quarterly portfolio report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from fundapp.dates import SHANGHAI, shanghai_today
from fundapp.deals.models import Deal
from fundapp.errors import NotFound
from fundapp.extensions import db
from fundapp.ic import operations as ops
from fundapp.ic import quarterly, queries
from fundapp.ic.models import IcAgendaItem, IcMeeting, Outcome, QuarterlyReport, VoteChoice
from fundapp.ic.schemas import (
    AgendaNotesSchema,
    AttendanceSchema,
    ConflictSchema,
    DecisionCreateSchema,
    DiscussionSchema,
    MeetingCreateSchema,
    MinutesDetailsSchema,
    MinutesReopenSchema,
    PackCreateSchema,
    QuarterSchema,
    VoteCreateSchema,
)
from fundapp.ic.tasks import PACK_TASK, QUARTERLY_TASK
from fundapp.inputs import load_form
from fundapp.pagination import paginate
from fundapp.tasks.operations import enqueue
from fundapp.tasks.views import redirect_to
from fundapp.ui import format_money, reader_name
from fundapp.unit_of_work import attempt

bp = Blueprint("ic", __name__)

OUTCOMES = {Outcome.PENDING: _l("Not decided yet"), Outcome.APPROVED: _l("Approved"),
            Outcome.APPROVED_WITH_CONDITIONS: _l("Approved with conditions"),
            Outcome.REJECTED: _l("Rejected")}
VOTE_CHOICES = {VoteChoice.APPROVE: _l("Approve"),
                VoteChoice.APPROVE_WITH_CONDITIONS: _l("Approve with conditions"),
                VoteChoice.REJECT: _l("Reject"), VoteChoice.ABSTAIN: _l("Abstain")}
Act = ops.Act


def _pdf(pdf: bytes, filename: str) -> Response:
    response = Response(pdf, mimetype="application/pdf",
                        headers={"Content-Disposition": f"inline; filename={filename}"})
    # The meeting page shows the pack in a frame of this site: allow exactly that.
    response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _back(meeting_id: int):
    return redirect(url_for("ic.meeting", meeting_id=meeting_id))


@bp.get("/ic/meetings")
def meetings():
    page = paginate(db.session, queries.meetings_query(g.user), request.args.get("page", 1))
    return render_template("ic/meetings.html", meetings=page.items, page=page)


@bp.route("/ic/meetings/new", methods=["GET", "POST"])
def new_meeting():
    values = request.form if request.method == "POST" else MultiDict(
        {"quorum": "2/3", "decision_rule": "1/2"})
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        meeting, errors = attempt(lambda: ops.create_meeting(
            db.session, actor=g.user.email, **load_form(MeetingCreateSchema())))
        if not errors:
            flash(_("Meeting prepared."), "success")
            return _back(meeting.id)
    # A picker that searches (issue 14): never every deal at the IC stage in one list. The
    # deals found for deal_q, the chosen ones kept above them.
    deal_query = request.args.get("deal_q", "")[:100]
    chosen_ids = [int(v) for v in values.getlist("deal_ids") if v.isdigit() and int(v) < 2**31]
    chosen = queries.agenda_candidates(db.session, ids=chosen_ids) if chosen_ids else []
    found = queries.agenda_candidates(db.session, deal_query,
                                      limit=queries.AGENDA_PICKER_LIMIT + 1)
    more_deals = len(found) > queries.AGENDA_PICKER_LIMIT
    candidates = chosen + [d for d in found[:queries.AGENDA_PICKER_LIMIT] if d not in chosen]
    return render_template("ic/new_meeting.html", values=values, errors=errors,
                           candidates=candidates, members=ops.members_of(db.session),
                           deal_query=deal_query, more_deals=more_deals
                           ), 422 if errors else 200


@bp.get("/ic/meetings/new/deals")
def agenda_deal_options():
    """The new meeting page's search-as-you-type picker: deals at the IC decision stage (JSON)."""
    found = queries.agenda_candidates(db.session, request.args.get("q", "")[:100],
                                      limit=queries.AGENDA_PICKER_LIMIT + 1)
    return jsonify({"items": [{"id": d.id, "label": _agenda_label(d)}
                              for d in found[:queries.AGENDA_PICKER_LIMIT]],
                    "more": len(found) > queries.AGENDA_PICKER_LIMIT})


def _agenda_label(deal: Deal) -> str:
    """A deal as the agenda picker lists it, as the page's check boxes do."""
    return (f"{reader_name(deal.company.legal_name, deal.company.name_en)} — "
            f"{reader_name(deal.project_name, deal.project_name_en)} "
            f"({format_money(deal.requested_grant_amount)})")


@bp.get("/ic/meetings/<int:meeting_id>")
def meeting(meeting_id: int):
    return _meeting_page(ops.meeting_for(db.session, meeting_id, g.user))


def _meeting_page(meeting: IcMeeting, *, errors: dict | None = None, failed: str = ""):
    """The meeting; after a refused form (`failed` names it) the page says why at the top and
    that form keeps what was typed."""
    tallies = {item.id: ops.tally(item) for item in meeting.items}
    return render_template("ic/meeting.html", meeting=meeting, tallies=tallies,
                           locked=ops.is_locked(meeting), choices=[c.value for c in VoteChoice],
                           me=g.user, recused_ids=queries.recused_ids,
                           is_member=ops.is_member(meeting, g.user),
                           # what the viewer may do on this meeting, by act ("chair", "conduct")
                           acts={act.value: ops.may(meeting, g.user, act) for act in Act},
                           # votes are cast at the meeting (from its day) on the final pack
                           started=shanghai_today() >= meeting.held_on,
                           final_pack=bool(meeting.packs and meeting.packs[-1].is_final),
                           all_decided=all(item.decision is not None for item in meeting.items),
                           outcomes=OUTCOMES, vote_choices=VOTE_CHOICES,
                           errors=errors or {}, failed=failed,
                           recorder_candidates=_recorder_candidates(meeting),
                           local_time=_local_time,
                           values=request.form if failed else {}), 422 if errors else 200


def _local_time(moment: datetime | None) -> str:
    """A stored moment as the value of a date-and-time input, in Beijing time."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M") if moment else ""


def _recorder_candidates(meeting: IcMeeting) -> list:
    """Whom the chair may name recorder on the page: the members, then the current recorder."""
    users = [m.user for m in meeting.members]
    if meeting.recorder is not None and meeting.recorder not in users:
        users.append(meeting.recorder)
    return users


def _act(meeting_id: int, act: ops.Act, form: str,
         action: Callable[[IcMeeting, IcAgendaItem | None], Any], success: str,
         deal_id: int | None = None):
    """One of the meeting page's forms, named by `form`, for those who may `act` on the meeting
    (else 403): done -> back to the meeting with a notice; refused -> the meeting page again
    (422) with the reasons and what was typed."""
    meeting = ops.meeting_for(db.session, meeting_id, g.user, act)
    item = ops.get_item(meeting, deal_id) if deal_id is not None else None
    _done, errors = attempt(lambda: action(meeting, item))
    if errors:
        return _meeting_page(ops.get_meeting(db.session, meeting_id), errors=errors,
                             failed=form if deal_id is None else f"{form}-{deal_id}")
    flash(success, "success")
    return _back(meeting_id)


@bp.post("/ic/meetings/<int:meeting_id>/pack")
def generate_pack(meeting_id: int):
    """Queues the pack for the worker (issue 16) and shows the task's progress page."""
    meeting = ops.meeting_for(db.session, meeting_id, g.user, Act.PREPARE)
    task, errors = attempt(lambda: _queue_pack(meeting))
    if errors:
        return _meeting_page(ops.get_meeting(db.session, meeting_id), errors=errors,
                             failed="pack")
    return redirect_to(task)


def _queue_pack(meeting: IcMeeting):
    data = load_form(PackCreateSchema())
    ops._require_open(meeting)
    return enqueue(db.session, PACK_TASK, {"meeting_id": meeting.id, "actor": g.user.email,
                                           **data}, requested_by=g.user.email)


@bp.get("/ic/meetings/<int:meeting_id>/pack.pdf")
def pack_pdf(meeting_id: int):
    meeting = ops.meeting_for(db.session, meeting_id, g.user)
    pack = ops.get_pack(meeting, request.args.get("version", type=int))
    return _pdf(pack.pdf, f"ic-pack-{meeting.id}-v{pack.version}.pdf")


@bp.post("/ic/meetings/<int:meeting_id>/attendance")
def attendance(meeting_id: int):
    return _act(meeting_id, Act.CONDUCT, "attendance", lambda m, _item: ops.record_attendance(
        db.session, m, load_form(AttendanceSchema())["present_ids"], actor=g.user.email),
        _("Attendance recorded."))


@bp.post("/ic/meetings/<int:meeting_id>/deals/<int:deal_id>/notes")
def notes(meeting_id: int, deal_id: int):
    return _act(meeting_id, Act.PREPARE, "notes", lambda _m, item: ops.set_item_notes(
        db.session, item, actor=g.user.email, **load_form(AgendaNotesSchema())),
        _("Saved; generate a new pack version to include it."), deal_id)


@bp.post("/ic/meetings/<int:meeting_id>/deals/<int:deal_id>/conflict")
def conflict(meeting_id: int, deal_id: int):
    return _act(meeting_id, Act.VOTE, "conflict", lambda _m, item: ops.declare_conflict(
        db.session, item, user_id=g.user.id, actor=g.user.email,
        **load_form(ConflictSchema())),
        _("Conflict declared: you are recused from this deal."), deal_id)


@bp.post("/ic/meetings/<int:meeting_id>/deals/<int:deal_id>/vote")
def vote(meeting_id: int, deal_id: int):
    def cast(_m, item):
        data = load_form(VoteCreateSchema(), deal_id=deal_id)
        return ops.cast_vote(db.session, item, voter=g.user, choice=data["choice"],
                             conditions=data["conditions"], voted_on=data["voted_on"])

    return _act(meeting_id, Act.VOTE, "vote", cast, _("Vote recorded."), deal_id)


@bp.post("/ic/meetings/<int:meeting_id>/deals/<int:deal_id>/decide")
def decide(meeting_id: int, deal_id: int):
    def apply(_m, item):
        data = load_form(DecisionCreateSchema(), deal_id=deal_id)
        return ops.decide(db.session, item, actor=g.user.email, decided_on=data["decided_on"])

    return _act(meeting_id, Act.CONDUCT, "decide", apply,
                _("Decision recorded and the deal moved."), deal_id)


def _signing_sheet(meeting: IcMeeting) -> dict[str, Any]:
    """The confirmation page of signing the minutes: every check run, nothing written."""
    moment = ops.check_signing(meeting, user=g.user)
    rows = [(_("Minutes version"), str(ops.next_minutes_version(meeting))),
            (_("Signed at (Beijing time)"), moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")),
            (_("Signed by"), reader_name(g.user.display_name, g.user.name_en))]
    packs = [[p.version, _("final") if p.is_final else _("draft"), p.sha256]
             for p in meeting.packs]
    decisions = [[reader_name(item.deal.project_name, item.deal.project_name_en),
                  str(OUTCOMES[item.outcome]), item.conditions or "—"]
                 for item in meeting.items]
    return {"title": _("Confirm signing the minutes"),
            "intro": _("Once signed, the minutes and every decision in them are locked; a "
                       "correction needs a new version."),
            "sections": [
                {"title": _("Minutes"), "rows": rows},
                {"title": _("Pack versions (SHA-256)"), "empty": _("No pack was generated."),
                 "table": {"head": [_("Version"), _("Status"), "SHA-256"], "rows": packs}},
                {"title": _("Decisions being fixed"), "empty": _("No deal on the agenda."),
                 "table": {"head": [_("Deal"), _("Outcome"), _("Conditions")],
                           "rows": decisions}}],
            "confirm_label": _("Confirm and sign the minutes"), "hidden": [],
            "action_url": url_for("ic.sign_minutes", meeting_id=meeting.id),
            "back_url": url_for("ic.meeting", meeting_id=meeting.id) + "#minutes"}


@bp.post("/ic/meetings/<int:meeting_id>/minutes")
def sign_minutes(meeting_id: int):
    """Without ``confirmed=1`` the signing is checked and shown; it happens once confirmed."""
    if request.form.get("confirmed") != "1":
        meeting = ops.meeting_for(db.session, meeting_id, g.user, Act.CHAIR)
        sheet, errors = attempt(lambda: _signing_sheet(meeting))
        if errors:
            return _meeting_page(ops.get_meeting(db.session, meeting_id), errors=errors,
                                 failed="sign")
        return render_template("confirm.html", **sheet)
    return _act(meeting_id, Act.CHAIR, "sign", lambda m, _item: ops.sign_minutes(db.session, m,
                                                                       user=g.user),
                _("Minutes signed and locked."))


@bp.post("/ic/meetings/<int:meeting_id>/minutes/details")
def minutes_details(meeting_id: int):
    """The minutes' times and recorder (a blank input leaves its value as it is)."""
    def save(m, _item):
        data = load_form(MinutesDetailsSchema())
        data.pop("discussions", None)
        if request.form.get("recorder_choice") == "name":
            data["recorder_id"] = None
            data.setdefault("recorder_name", "")
        return ops.record_minutes_details(db.session, m, user=g.user, **data)

    return _act(meeting_id, Act.RECORD, "details", save, _("Saved for the minutes."))


@bp.post("/ic/meetings/<int:meeting_id>/deals/<int:deal_id>/discussion")
def discussion(meeting_id: int, deal_id: int):
    def save(m, item):
        text = load_form(DiscussionSchema(), deal_id=deal_id)["discussion"]
        return ops.record_minutes_details(db.session, m, user=g.user,
                                          discussions={item.deal_id: text})

    return _act(meeting_id, Act.RECORD, "discussion", save, _("Saved for the minutes."),
                deal_id)


@bp.post("/ic/meetings/<int:meeting_id>/minutes/reopen")
def reopen_minutes(meeting_id: int):
    return _act(meeting_id, Act.CHAIR, "reopen", lambda m, _item: ops.open_minutes_version(
        db.session, m, user=g.user, **load_form(MinutesReopenSchema())),
        _("A new version of the minutes is open."))


@bp.get("/ic/meetings/<int:meeting_id>/minutes.pdf")
def minutes_pdf(meeting_id: int):
    meeting = ops.meeting_for(db.session, meeting_id, g.user)
    if request.args.get("draft") == "1" and not ops.is_locked(meeting):
        pdf = ops.render_minutes(meeting, version=ops.next_minutes_version(meeting))
        return _pdf(pdf, f"ic-minutes-{meeting.id}-draft.pdf")
    minutes = ops.latest_signed_minutes(meeting)
    return _pdf(minutes.pdf, f"ic-minutes-{meeting.id}-v{minutes.version}.pdf")


def _quarterly_page(*, errors: dict | None = None):
    today = datetime.now(UTC).date()
    return render_template("ic/quarterly.html", reports=quarterly.reports(db.session),
                           suggested=quarterly.previous_quarter(today), errors=errors or {},
                           values=request.form if errors else {}), 422 if errors else 200


@bp.get("/reports/quarterly")
def quarterly_reports():
    return _quarterly_page()


@bp.post("/reports/quarterly")
def generate_quarterly():
    """Queues the report for the worker (issue 16) and shows the task's progress page."""
    def queue():
        quarter = load_form(QuarterSchema())["quarter"]
        return enqueue(db.session, QUARTERLY_TASK, {"quarter": quarter, "actor": g.user.email},
                       requested_by=g.user.email)

    task, errors = attempt(queue)
    if errors:
        return _quarterly_page(errors=errors)
    return redirect_to(task)


@bp.get("/reports/quarterly/<int:report_id>.pdf")
def quarterly_pdf(report_id: int):
    report = db.session.get(QuarterlyReport, report_id)
    if report is None:
        raise NotFound(_("No such report."))
    return _pdf(report.pdf, f"quarterly-{report.quarter}-v{report.version}.pdf")
