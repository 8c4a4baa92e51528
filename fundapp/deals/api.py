"""API routes of the deal pipeline, registered on the shared API blueprint."""

from __future__ import annotations

from flask import g, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.compliance.corrections import correction_schema
from fundapp.deals import operations as ops
from fundapp.deals import queries, roadshows
from fundapp.deals.intake import MAX_SHEET_BYTES, SheetError, import_signup, preview_signup
from fundapp.deals.models import MEMO_FIELDS, Company, DealStageChange, Roadshow
from fundapp.deals.schemas import (
    CompanyCorrectionSchema,
    CompanyCreateSchema,
    CompanyPageSchema,
    CompanyRowSchema,
    CompanySchema,
    CriteriaSchema,
    DealCorrectionSchema,
    DealCreateSchema,
    DealMemoSchema,
    DealPageSchema,
    DealRowSchema,
    DealSchema,
    ExpertReviewCreateSchema,
    IcDecisionSchema,
    ImportResultSchema,
    PanelMemberCreateSchema,
    RankingRowSchema,
    RoadshowCorrectionSchema,
    RoadshowCreateSchema,
    RoadshowPageSchema,
    RoadshowSchema,
    RoadshowScoresSchema,
    ScoreSheetCreateSchema,
    SlotCreateSchema,
    TransitionCreateSchema,
    TransitionListSchema,
    TransitionSchema,
)
from fundapp.errors import ValidationFailed
from fundapp.extensions import db
from fundapp.pagination import paginate
from fundapp.tasks.api import TaskSchema, accepted

PAGE = [{"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                        "maximum": 200}}]
DEAL_FILTERS = PAGE + [
    {"name": name, "in": "query", "schema": {"type": kind}, "description": text}
    for name, kind, text in (("q", "string", "name, project or credit code"),
                             ("sector", "string", "sector code"),
                             ("roadshow", "integer", "source roadshow id"),
                             ("manager", "integer", "fund manager's user id"),
                             ("stage", "string", "pipeline stage"),
                             ("sort", "string", "company, project, requested, stage, entered, "
                                                "created or id; '-' for descending"))]


def _page(page, schema) -> dict:
    return {"items": schema.dump(page.items, many=True), "page": page.number,
            "per_page": page.per_page, "total": page.total, "pages": page.pages}


# Roadshows ---------------------------------------------------------------------------------


@api_route(bp, "/v1/roadshows", "GET", summary="Roadshows, latest first",
           response=RoadshowPageSchema, params=PAGE)
def list_roadshows():
    # Criteria, panel and slots in one statement each for the page, not three per roadshow.
    stmt = (select(Roadshow).order_by(Roadshow.held_on.desc(), Roadshow.id.desc())
            .options(selectinload(Roadshow.criteria), selectinload(Roadshow.panel),
                     selectinload(Roadshow.slots)))
    page = paginate(db.session, stmt, request.args.get("page", 1),
                    request.args.get("per_page", 25))
    return _page(page, RoadshowSchema())


@api_route(bp, "/v1/roadshows", "POST", summary="Create a roadshow with its criteria, panel and "
           "companies", body=RoadshowCreateSchema, response=RoadshowSchema, status=201)
def create_roadshow():
    data = load_json(RoadshowCreateSchema())
    panel = data.pop("panel")
    company_ids = data.pop("company_ids")
    roadshow = roadshows.create_roadshow(db.session, actor=g.user.email, **data)
    for member in panel:
        roadshows.add_panel_member(db.session, roadshow, actor=g.user.email, **member)
    for index, company_id in enumerate(company_ids):
        company = db.session.get(Company, company_id)
        if company is None:
            raise ValidationFailed(_l("Some fields are not valid."), details={
                "company_ids": {str(index): [str(_l("No such company."))]}})
        roadshows.add_slot(db.session, roadshow, company, actor=g.user.email)
    return RoadshowSchema().dump(roadshow), 201


@api_route(bp, "/v1/roadshows/<int:roadshow_id>", "GET", summary="A roadshow",
           response=RoadshowSchema)
def get_roadshow(roadshow_id: int):
    return RoadshowSchema().dump(roadshows.get_roadshow(db.session, roadshow_id))


@api_route(bp, "/v1/roadshows/<int:roadshow_id>", "PATCH",
           summary="Correct a roadshow with a reason: its details, panel names, slot order and "
                   "(while no score is recorded; else 409) its criteria (roadshow.corrected)",
           body=RoadshowCorrectionSchema, response=RoadshowSchema)
def correct_roadshow(roadshow_id: int):
    roadshows.get_roadshow(db.session, roadshow_id)
    data = load_json(correction_schema(RoadshowCorrectionSchema))
    roadshow = roadshows.correct_roadshow(db.session, roadshow_id, actor=g.user.email, **data)
    return RoadshowSchema().dump(roadshow)


def _scores_body(roadshow: Roadshow) -> dict:
    ranking = queries.roadshow_rankings(db.session, roadshow)
    return {"roadshow_id": roadshow.id,
            "criteria": [{"code": c.code, "label": c.label, "weight_pct": str(c.weight_pct)}
                         for c in roadshow.criteria],
            "ranking": RankingRowSchema().dump(ranking, many=True)}


@api_route(bp, "/v1/roadshows/<int:roadshow_id>/scores", "GET",
           summary="The roadshow's ranking: mean, spread and count of scores per company",
           response=RoadshowScoresSchema)
def get_roadshow_scores(roadshow_id: int):
    return _scores_body(roadshows.get_roadshow(db.session, roadshow_id))


@api_route(bp, "/v1/roadshows/<int:roadshow_id>/scores", "POST",
           summary="Record a judge's score sheet (or conflict declaration) for a company",
           body=ScoreSheetCreateSchema, response=RoadshowScoresSchema, status=201)
def record_roadshow_scores(roadshow_id: int):
    roadshow = roadshows.get_roadshow(db.session, roadshow_id)
    data = load_json(ScoreSheetCreateSchema())
    roadshows.record_score_sheet(db.session, roadshow, actor=g.user.email, **data)
    return _scores_body(roadshow), 201


@api_route(bp, "/v1/roadshows/<int:roadshow_id>/import", "POST",
           summary="Import a sign-up sheet (multipart field 'file': XLSX, or CSV in UTF-8 or "
                   "GBK), all or nothing; ?preview=1 only reports", response=ImportResultSchema,
           params=[{"name": "preview", "in": "query", "schema": {"type": "boolean"}}])
def import_roadshow_signup(roadshow_id: int):
    roadshow = roadshows.get_roadshow(db.session, roadshow_id)
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(_l("Send the sheet as the multipart field 'file'."),
                               details={"file": [str(_l("This field is required."))]})
    content = upload.read(MAX_SHEET_BYTES + 1)
    filename = upload.filename or "sheet"
    try:
        if request.args.get("preview") in ("1", "true", "yes"):
            preview = preview_signup(db.session, roadshow, filename, content)
            return ImportResultSchema().dump({
                "preview": True, "rows": len(preview.rows),
                "companies_created": preview.new_companies,
                "companies_matched": len(preview.rows) - preview.new_companies,
                "deals_created": preview.new_deals,
                "deals_existing": len(preview.rows) - preview.new_deals,
                "problems": [p.as_dict() for p in preview.problems]})
        result = import_signup(db.session, roadshow, filename, content, actor=g.user.email)
    except SheetError as exc:
        raise ValidationFailed(exc.message, details={"file": [str(exc.message)]}) from None
    return ImportResultSchema().dump({"preview": False, **result.__dict__, "problems": []}), 201


# Companies --------------------------------------------------------------------------------


@api_route(bp, "/v1/companies", "GET", summary="Companies, by name", response=CompanyPageSchema,
           params=PAGE + [{"name": "q", "in": "query", "schema": {"type": "string"}}])
def list_companies():
    stmt = select(Company).order_by(Company.legal_name, Company.id)
    q = request.args.get("q", "").strip()[:100]
    if q:
        stmt = stmt.where(or_(func.lower(Company.legal_name).like(f"%{q.lower()}%"),
                              Company.uscc.like(q.upper() + "%")))
    page = paginate(db.session, stmt, request.args.get("page", 1),
                    request.args.get("per_page", 25))
    return _page(page, CompanyRowSchema())


@api_route(bp, "/v1/companies", "POST", summary="Register a company (credit code checked)",
           body=CompanyCreateSchema, response=CompanySchema, status=201)
def create_company():
    data = load_json(CompanyCreateSchema())
    company = ops.create_company(db.session, actor=g.user.email, **data)
    return CompanySchema().dump(company), 201


@api_route(bp, "/v1/companies/<int:company_id>", "GET", summary="A company",
           response=CompanySchema)
def get_company(company_id: int):
    return CompanySchema().dump(ops.get_company(db.session, company_id))


@api_route(bp, "/v1/companies/<int:company_id>", "PATCH",
           summary="Correct a company (the fields sent) with a reason; the ledger keeps before "
                   "and after (company.corrected)", body=CompanyCorrectionSchema,
           response=CompanySchema)
def update_company(company_id: int):
    ops.get_company(db.session, company_id)
    data = load_json(correction_schema(CompanyCorrectionSchema))
    company = ops.correct_company(db.session, company_id, actor=g.user.email, **data)
    return CompanySchema().dump(company)


# Deals -----------------------------------------------------------------------------------


@api_route(bp, "/v1/deals", "GET", summary="Deals, filtered and sorted", response=DealPageSchema,
           params=DEAL_FILTERS)
def list_deals():
    filters = queries.DealFilters.from_args(request.args)
    page = paginate(db.session, queries.deal_list(filters, request.args.get("sort", "-id")),
                    request.args.get("page", 1), request.args.get("per_page", 25),
                    scalars=False, count=queries.deal_count(filters))
    return _page(page, DealRowSchema())


def _deal_body(deal_id: int) -> dict:
    deal = ops.get_deal(db.session, deal_id)
    row = dict(db.session.execute(queries.deal_rows(queries.DealFilters()).where(
        queries.Deal.id == deal.id)).mappings().one())
    quorum = ops.expert_quorum(db.session, deal)
    row.update(project_summary=deal.project_summary, milestone_plan=deal.milestone_plan,
               ic_decision_ref=deal.ic_decision_ref,
               public_notice_started_on=deal.public_notice_started_on,
               held_from_stage=deal.held_from_stage.value if deal.held_from_stage else None,
               memo={name: getattr(deal, name) for name in MEMO_FIELDS},
               expert_quorum={"approvals": quorum.approvals, "needed": quorum.needed,
                              "eligible": quorum.eligible, "is_met": quorum.is_met})
    return DealSchema().dump(row)


@api_route(bp, "/v1/deals", "POST", summary="Open a deal (it starts at the formal check)",
           body=DealCreateSchema, response=DealSchema, status=201)
def create_deal():
    data = load_json(DealCreateSchema())
    deal = ops.create_deal(db.session, actor=g.user.email, **data)
    return _deal_body(deal.id), 201


@api_route(bp, "/v1/deals/<int:deal_id>", "GET", summary="A deal", response=DealSchema)
def get_deal(deal_id: int):
    return _deal_body(deal_id)


@api_route(bp, "/v1/deals/<int:deal_id>", "PATCH",
           summary="Correct a deal's application details (the fields sent) with a reason; the "
                   "stage moves by transitions only (deal.corrected)", body=DealCorrectionSchema,
           response=DealSchema)
def correct_deal(deal_id: int):
    ops.get_deal(db.session, deal_id)
    data = load_json(correction_schema(DealCorrectionSchema))
    ops.correct_deal(db.session, deal_id, actor=g.user.email, **data)
    return _deal_body(deal_id)


@api_route(bp, "/v1/deals/<int:deal_id>/memo", "PATCH",
           summary="Write the deal's IC memo fields (those sent); the ledger keeps before and "
                   "after", body=DealMemoSchema, response=DealSchema)
def update_deal_memo(deal_id: int):
    data = load_json(DealMemoSchema(partial=True))
    ops.update_deal_memo(db.session, deal_id, g.user.email, **data)
    return _deal_body(deal_id)


@api_route(bp, "/v1/deals/<int:deal_id>/transitions", "GET",
           summary="The deal's moves: who, when, why", response=TransitionListSchema)
def list_deal_transitions(deal_id: int):
    deal = ops.get_deal(db.session, deal_id)
    changes = db.session.scalars(select(DealStageChange).where(
        DealStageChange.deal_id == deal.id).order_by(DealStageChange.id)).all()
    return {"items": TransitionSchema().dump(changes, many=True)}


@api_route(bp, "/v1/deals/<int:deal_id>/transitions", "POST",
           summary="Move a deal (R11 order and gates, R2.a, R10.a); 409 names the refusing "
                   "clause in details.rule", body=TransitionCreateSchema,
           response=TransitionSchema, status=201)
def create_deal_transition(deal_id: int):
    deal = ops.get_deal(db.session, deal_id)
    data = load_json(TransitionCreateSchema())
    change = ops.advance_deal(db.session, deal, data["to_stage"], actor=g.user.email,
                              reason=data["reason"], expected_stage=data["expected_stage"],
                              on=data["on"])
    return TransitionSchema().dump(change), 201


# --------------------------------------------------------------------------- parity with the pages
# (issue 12: everything the deal and roadshow pages can do, the API can: the same operations)


@api_route(bp, "/v1/deals/<int:deal_id>/reviews", "POST",
           summary="A panel member of the deal's roadshow approves or rejects the deal (the R11 "
                   "expert-review quorum counts these)",
           body=ExpertReviewCreateSchema, response=DealSchema, status=201)
def record_expert_review(deal_id: int):
    deal = ops.get_deal(db.session, deal_id)
    ops.record_expert_review(db.session, deal, actor=g.user.email,
                             **load_json(ExpertReviewCreateSchema()))
    return _deal_body(deal_id), 201


@api_route(bp, "/v1/deals/<int:deal_id>/ic-decision", "POST",
           summary="Record by hand the reference of the IC resolution of a deal at the IC "
                   "decision stage (R11); a meeting records its own "
                   "(POST /api/v1/ic/meetings/{id}/decisions)",
           body=IcDecisionSchema, response=DealSchema)
def record_deal_ic_decision(deal_id: int):
    deal = ops.get_deal(db.session, deal_id)
    ops.record_ic_decision(db.session, deal, actor=g.user.email, **load_json(IcDecisionSchema()))
    return _deal_body(deal_id)


@api_route(bp, "/v1/roadshows/<int:roadshow_id>/criteria", "PUT",
           summary="Replace the roadshow's criteria and weights (summing to 100%); a criterion "
                   "with scores cannot be removed",
           body=CriteriaSchema, response=RoadshowSchema)
def set_roadshow_criteria(roadshow_id: int):
    roadshow = roadshows.get_roadshow(db.session, roadshow_id)
    roadshows.set_criteria(db.session, roadshow, actor=g.user.email,
                           **load_json(CriteriaSchema()))
    return RoadshowSchema().dump(roadshows.get_roadshow(db.session, roadshow_id))


@api_route(bp, "/v1/roadshows/<int:roadshow_id>/panel", "POST",
           summary="Add a judge to the panel after creation: a user of fundapp or an external "
                   "expert by name",
           body=PanelMemberCreateSchema, response=RoadshowSchema, status=201)
def add_roadshow_panel_member(roadshow_id: int):
    roadshow = roadshows.get_roadshow(db.session, roadshow_id)
    roadshows.add_panel_member(db.session, roadshow, actor=g.user.email,
                               **load_json(PanelMemberCreateSchema()))
    return RoadshowSchema().dump(roadshows.get_roadshow(db.session, roadshow_id)), 201


@api_route(bp, "/v1/roadshows/<int:roadshow_id>/slots", "POST",
           summary="Add a company to the roadshow after creation (by default after the last "
                   "slot; a company already there keeps its slot)",
           body=SlotCreateSchema, response=RoadshowSchema, status=201)
def add_roadshow_slot(roadshow_id: int):
    roadshow = roadshows.get_roadshow(db.session, roadshow_id)
    data = load_json(SlotCreateSchema())
    company = db.session.get(Company, data.pop("company_id"))
    if company is None:
        raise ValidationFailed(_l("Some fields are not valid."), details={
            "company_id": [str(_l("No such company."))]})
    roadshows.add_slot(db.session, roadshow, company, actor=g.user.email, **data)
    return RoadshowSchema().dump(roadshows.get_roadshow(db.session, roadshow_id)), 201


@api_route(bp, "/v1/deals/export", "POST", status=202, response=TaskSchema, params=DEAL_FILTERS,
           summary="Queue the deals' XLSX export with the list's filters and sort (query): 202 "
                   "with the task to poll (GET /api/v1/tasks/{id}); when done, its result links "
                   "the workbook")
def queue_deals_export():
    from flask_babel import get_locale

    from fundapp.deals.tasks import EXPORT_XLSX_TASK
    from fundapp.tasks.operations import enqueue

    args = {key: value for key, value in request.args.items()}
    return accepted(enqueue(db.session, EXPORT_XLSX_TASK, {
        "args": args, "locale": str(get_locale() or "zh")}, requested_by=g.user.email))
