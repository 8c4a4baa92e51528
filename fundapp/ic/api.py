"""API routes of the investment committee and the quarterly report, on the shared blueprint."""

from __future__ import annotations

from flask import Response, g, request
from flask_babel import lazy_gettext as _l

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.api.routes import PAGE_PARAMS, page_body
from fundapp.compliance.book_cache import cached
from fundapp.errors import AppError, NotFound, refuse_on_constraint
from fundapp.extensions import db
from fundapp.ic import operations as ops
from fundapp.ic import queries
from fundapp.ic.quarterly import latest_report
from fundapp.ic.schemas import (
    AgendaItemSchema,
    AgendaNotesSchema,
    AttendanceSchema,
    ConflictSchema,
    DecisionCreateSchema,
    MeetingCreateSchema,
    MeetingListSchema,
    MeetingSchema,
    MinutesDetailsSchema,
    MinutesReopenSchema,
    MinutesSchema,
    PackCreateSchema,
    QuarterSchema,
    VoteCreateSchema,
    VoteListSchema,
    VoteSchema,
)
from fundapp.ic.tasks import PACK_TASK, QUARTERLY_TASK
from fundapp.inputs import load
from fundapp.pagination import paginate
from fundapp.tasks.api import TaskSchema, accepted
from fundapp.tasks.operations import enqueue

Act = ops.Act
# The backstop of the meeting's lock: the database refuses a second decision on an agenda item.
refuse_on_constraint(AppError(_l("This deal is decided already."), status=409, code="decided"),
                     "uq_ic_decisions_item_id", "ic_decisions.item_id")

PDF_VERSION = [{"name": "version", "in": "query", "schema": {"type": "integer", "minimum": 1},
                "description": "pack version; the latest when left out"}]


def pdf_response(pdf: bytes, filename: str) -> Response:
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f"inline; filename={filename}"})


@api_route(bp, "/v1/ic/meetings", "GET", summary="IC meetings, latest first",
           response=MeetingListSchema, params=PAGE_PARAMS)
def list_ic_meetings():
    user = g.user
    number, size = request.args.get("page", 1), request.args.get("per_page", 25)
    # Readers see every meeting, an IC member only theirs. Meetings, agendas, votes, minutes
    # and the names shown change only with a ledger entry: a page is made once per version
    # of the ledger (compliance/book_cache.py).
    scope = "all" if user.has_role(*queries.READERS) else user.id
    return cached(db.session, "ic_meetings_json", (scope, str(number), str(size)),
                  lambda: page_body(paginate(db.session, queries.meetings_query(user), number,
                                             size), MeetingSchema()), whole_ledger=True)


@api_route(bp, "/v1/ic/meetings", "POST", summary="Prepare an IC meeting: members, agenda of "
           "deals at IC decision, quorum and decision rule", body=MeetingCreateSchema,
           response=MeetingSchema, status=201)
def create_ic_meeting():
    data = load_json(MeetingCreateSchema())
    meeting = ops.create_meeting(db.session, actor=g.user.email, **data)
    return MeetingSchema().dump(meeting), 201


@api_route(bp, "/v1/ic/meetings/<int:meeting_id>", "GET", summary="An IC meeting",
           response=MeetingSchema)
def get_ic_meeting(meeting_id: int):
    return MeetingSchema().dump(ops.meeting_for(db.session, meeting_id, g.user))


@api_route(bp, "/v1/ic/meetings/<int:meeting_id>/votes", "GET",
           summary="The votes cast at a meeting, with the pack version each was cast on",
           response=VoteListSchema)
def list_ic_votes(meeting_id: int):
    meeting = ops.meeting_for(db.session, meeting_id, g.user)
    return {"items": VoteSchema().dump([v for i in meeting.items for v in i.votes], many=True)}


@api_route(bp, "/v1/ic/meetings/<int:meeting_id>/votes", "POST",
           summary="Cast (or change) the caller's own vote on a deal of the agenda",
           body=VoteCreateSchema, response=VoteSchema, status=201)
def cast_ic_vote(meeting_id: int):
    meeting = ops.meeting_for(db.session, meeting_id, g.user, Act.VOTE)
    data = load_json(VoteCreateSchema())
    item = ops.get_item(meeting, data["deal_id"])
    vote = ops.cast_vote(db.session, item, voter=g.user, choice=data["choice"],
                         conditions=data["conditions"], voted_on=data["voted_on"])
    return VoteSchema().dump(vote), 201


@api_route(bp, "/v1/ic/meetings/<int:meeting_id>/decisions", "POST",
           summary="Apply the decision rule to a deal: records the decision reference and "
           "moves the deal (R11)", body=DecisionCreateSchema, response=AgendaItemSchema,
           status=201)
def decide_ic_item(meeting_id: int):
    meeting = ops.meeting_for(db.session, meeting_id, g.user, Act.CONDUCT)
    data = load_json(DecisionCreateSchema())
    item = ops.decide(db.session, ops.get_item(meeting, data["deal_id"]), actor=g.user.email,
                      decided_on=data["decided_on"])
    return AgendaItemSchema().dump(item), 201


@api_route(bp, "/v1/ic/meetings/<int:meeting_id>/pack", "GET",
           summary="The meeting's pack as application/pdf", params=PDF_VERSION)
def get_ic_pack(meeting_id: int):
    meeting = ops.meeting_for(db.session, meeting_id, g.user)
    version = request.args.get("version", type=int)
    pack = ops.get_pack(meeting, version)
    return pdf_response(pack.pdf, f"ic-pack-{meeting.id}-v{pack.version}.pdf")


@api_route(bp, "/v1/ic/meetings/<int:meeting_id>/pack", "POST",
           summary="Queue the next version of the meeting's pack: 202 with the task to poll "
                   "(GET /api/v1/tasks/{id}); when done, its result names the version",
           body=PackCreateSchema, response=TaskSchema, status=202)
def generate_ic_pack(meeting_id: int):
    meeting = ops.meeting_for(db.session, meeting_id, g.user, Act.PREPARE)
    data = load_json(PackCreateSchema())
    ops._require_open(meeting)
    return accepted(enqueue(db.session, PACK_TASK, {"meeting_id": meeting.id,
                                                    "actor": g.user.email, **data},
                            requested_by=g.user.email))


@api_route(bp, "/v1/ic/meetings/<int:meeting_id>/minutes", "GET",
           summary="The latest signed minutes as application/pdf")
def get_ic_minutes(meeting_id: int):
    minutes = ops.latest_signed_minutes(ops.meeting_for(db.session, meeting_id, g.user))
    return pdf_response(minutes.pdf, f"ic-minutes-{meeting_id}-v{minutes.version}.pdf")


@api_route(bp, "/v1/ic/meetings/<int:meeting_id>/minutes", "POST",
           summary="The chair signs the minutes; their SHA-256 is ledgered and they lock",
           response=MinutesSchema, status=201)
def sign_ic_minutes(meeting_id: int):
    meeting = ops.meeting_for(db.session, meeting_id, g.user, Act.CHAIR)
    minutes = ops.sign_minutes(db.session, meeting, user=g.user)
    return MinutesSchema().dump(minutes), 201


@api_route(bp, "/v1/ic/meetings/<int:meeting_id>/minutes/details", "PATCH",
           summary="What the minutes record besides the votes: start and end (Beijing time when "
                   "no zone is given; not in the future), the recorder (a user or a name) and a "
                   "discussion summary per deal. The chair or the recorder; only the chair names "
                   "the recorder; 409 once the minutes are signed",
           body=MinutesDetailsSchema, response=MeetingSchema)
def update_ic_minutes_details(meeting_id: int):
    meeting = ops.meeting_for(db.session, meeting_id, g.user, Act.RECORD)
    data = load_json(MinutesDetailsSchema())
    if "discussions" in data:
        data["discussions"] = {d["deal_id"]: d["discussion"] for d in data["discussions"]}
    ops.record_minutes_details(db.session, meeting, user=g.user, **data)
    return MeetingSchema().dump(meeting)


QUARTER_PARAM = {"name": "quarter", "in": "query", "required": True,
                 "schema": {"type": "string", "pattern": r"^\d{4}Q[1-4]$"}, "example": "2026Q3"}


@api_route(bp, "/v1/reports/quarterly", "GET",
           summary="The quarterly portfolio report for supervisors as application/pdf (404 until "
                   "it is generated: a GET never creates one)", params=[QUARTER_PARAM])
def quarterly_report_pdf():
    quarter = load(QuarterSchema(), {"quarter": request.args.get("quarter", "")})["quarter"]
    report = latest_report(db.session, quarter)
    if report is None:
        raise NotFound(_l("The report for %(quarter)s has not been generated yet.",
                          quarter=quarter))
    return pdf_response(report.pdf, f"quarterly-{report.quarter}-v{report.version}.pdf")


@api_route(bp, "/v1/reports/quarterly", "POST",
           summary="Queue the quarter's report (a new version each time): 202 with the task to "
                   "poll; when done, GET /api/v1/reports/quarterly?quarter=... answers the PDF",
           body=QuarterSchema, response=TaskSchema, status=202,
           endpoint="generate_quarterly_report")
def generate_quarterly_report_pdf():
    quarter = load_json(QuarterSchema())["quarter"]
    return accepted(enqueue(db.session, QUARTERLY_TASK, {"quarter": quarter,
                                                         "actor": g.user.email},
                            requested_by=g.user.email))


# --------------------------------------------------------------------------- parity with the pages
# (issue 12: everything the meeting page can do, the API can: the same operations and schemas)


@api_route(bp, "/v1/ic/meetings/<int:meeting_id>/attendance", "POST",
           summary="Record who is present (the members' user ids); from the meeting's day on",
           body=AttendanceSchema, response=MeetingSchema)
def record_ic_attendance(meeting_id: int):
    meeting = ops.meeting_for(db.session, meeting_id, g.user, Act.CONDUCT)
    data = load_json(AttendanceSchema())
    ops.record_attendance(db.session, meeting, data["present_ids"], actor=g.user.email)
    return MeetingSchema().dump(ops.get_meeting(db.session, meeting_id))


@api_route(bp, "/v1/ic/meetings/<int:meeting_id>/deals/<int:deal_id>/notes", "POST",
           summary="The due-diligence summary and risks the pack shows for one deal (generate "
                   "a new pack version to include them)",
           body=AgendaNotesSchema, response=AgendaItemSchema)
def set_ic_item_notes(meeting_id: int, deal_id: int):
    meeting = ops.meeting_for(db.session, meeting_id, g.user, Act.PREPARE)
    item = ops.get_item(meeting, deal_id)
    ops.set_item_notes(db.session, item, actor=g.user.email, **load_json(AgendaNotesSchema()))
    return AgendaItemSchema().dump(ops.get_item(ops.get_meeting(db.session, meeting_id),
                                                deal_id))


@api_route(bp, "/v1/ic/meetings/<int:meeting_id>/deals/<int:deal_id>/conflict", "POST",
           summary="The caller declares a conflict for a deal and is recused from its vote (R11)",
           body=ConflictSchema, response=AgendaItemSchema, status=201)
def declare_ic_conflict(meeting_id: int, deal_id: int):
    meeting = ops.meeting_for(db.session, meeting_id, g.user, Act.VOTE)
    item = ops.get_item(meeting, deal_id)
    ops.declare_conflict(db.session, item, user_id=g.user.id, actor=g.user.email,
                         **load_json(ConflictSchema()))
    return AgendaItemSchema().dump(ops.get_item(ops.get_meeting(db.session, meeting_id),
                                                deal_id)), 201


@api_route(bp, "/v1/ic/meetings/<int:meeting_id>/minutes/reopen", "POST",
           summary="The chair opens a new version of signed minutes for a correction, with the "
                   "reason; it is signed again (409 while unsigned)",
           body=MinutesReopenSchema, response=MeetingSchema, status=201)
def reopen_ic_minutes(meeting_id: int):
    meeting = ops.meeting_for(db.session, meeting_id, g.user, Act.CHAIR)
    ops.open_minutes_version(db.session, meeting, user=g.user,
                             **load_json(MinutesReopenSchema()))
    return MeetingSchema().dump(ops.get_meeting(db.session, meeting_id)), 201
