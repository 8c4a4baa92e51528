"""Pages of the deal pipeline: roadshows, companies, deals and the board.

Forms go through the schemas the API uses (`load_form`) and the operations inside `attempt`: a
refusal rolls back at once and comes back as messages by field. The views never commit; the
request's unit of work does.
"""

from __future__ import annotations

import secrets
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
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import false, func, or_, select

from fundapp.auth.models import User
from fundapp.deals import export, queries
from fundapp.deals import operations as ops
from fundapp.deals import roadshows as roadshow_ops
from fundapp.deals.intake import MAX_SHEET_BYTES, SheetError, import_signup, preview_signup
from fundapp.deals.models import (
    MEMO_TEXTS,
    PIPELINE,
    Company,
    Deal,
    DealStage,
    LegalForm,
    PanelMember,
    RoadshowFormat,
    ScoreSheet,
    SheetUpload,
)
from fundapp.deals.policy import pipeline_policy
from fundapp.deals.schemas import (
    BackLinkSchema,
    CompanyCorrectionSchema,
    CompanyCreateSchema,
    CriteriaSchema,
    DealCorrectionSchema,
    DealCreateSchema,
    DealMemoSchema,
    ExpertReviewCreateSchema,
    IcDecisionSchema,
    PanelMemberCreateSchema,
    RoadshowCorrectionSchema,
    RoadshowFormSchema,
    ScoreSheetCreateSchema,
    SlotCreateSchema,
    TransitionCreateSchema,
)
from fundapp.deals.sectors import SECTORS, sector_label
from fundapp.errors import AppError, NotFound, ValidationFailed, wants_json
from fundapp.extensions import db
from fundapp.inputs import form_rows, load_form
from fundapp.pagination import paginate
from fundapp.search import fold
from fundapp.ui import reader_name, safe_next
from fundapp.unit_of_work import attempt

bp = Blueprint("deals", __name__)


@bp.app_context_processor
def _pipeline_helpers() -> dict[str, Any]:
    locale = str(get_locale() or "zh")
    return {"stage_label": ops.stage_label,
            "sector_label": lambda code: sector_label(code, locale) if code else "",
            "sectors": [(code, sector_label(code, locale)) for code in SECTORS]}


def _actor() -> str:
    return g.user.email


def _flash_errors(errors: dict[str, list[str]]) -> None:
    """A refusal of a form that redirects: the whole-form messages, or a summary and the rest."""
    fields = {k: v for k, v in errors.items() if k != "_form"}
    for message in errors.get("_form", []):
        flash(message, "error")
    if fields:
        flash(_("Some fields are not valid."), "error")


# --------------------------------------------------------------------------------------------
# Companies

COMPANY_FORM_FIELDS = ("legal_name", "name_en", "uscc", "district", "legal_form",
                       "registered_capital_amount", "share_count", "par_value_amount",
                       "sector", "founded_on", "website", "description", "former_names")


def _people_rows() -> dict[str, list[dict[str, str]]]:
    """The founders and contacts of the company form, posted as rows of repeated inputs."""
    return {"founders": form_rows(None, name="founder_name", title="founder_title",
                                  name_en="founder_name_en", title_en="founder_title_en",
                                  background="founder_background",
                                  background_en="founder_background_en"),
            "contacts": form_rows(None, name="contact_name", phone="contact_phone",
                                  email="contact_email")}


def _company_form() -> dict[str, Any]:
    return load_form(CompanyCreateSchema(), **_people_rows())


def _posted_company_values() -> dict[str, Any]:
    """The company form as typed, to show it again next to its messages."""
    return {**request.form.to_dict(), **_people_rows()}


def _company_values(company: Company) -> dict[str, Any]:
    values = {key: getattr(company, key) for key in COMPANY_FORM_FIELDS}
    values = {k: ("" if v is None else str(v)) for k, v in values.items()}
    values["founders"] = [{"name": f.name, "title": f.title, "name_en": f.name_en,
                           "title_en": f.title_en, "background": f.background,
                           "background_en": f.background_en} for f in company.founders]
    values["contacts"] = [{"name": c.name, "phone": c.phone, "email": c.email}
                          for c in company.contacts]
    return values


@bp.get("/companies")
def companies():
    q = request.args.get("q", "").strip()[:100]
    sort = request.args.get("sort", "name")
    stmt = select(Company.id, Company.legal_name, Company.name_en, Company.uscc, Company.sector,
                  Company.district)
    if q:
        like = f"%{q.lower()}%"
        # The search key also finds former names and pinyin (fundapp/search).
        stmt = stmt.where(or_(func.lower(Company.legal_name).like(like),
                              func.lower(Company.name_en).like(like),
                              Company.uscc.like(q.upper() + "%"),
                              Company.search_key.like(f"%{fold(q)}%") if fold(q) else false()))
    column = {"name": Company.legal_name, "sector": Company.sector,
              "created": Company.created_at}.get(sort.lstrip("-"), Company.legal_name)
    stmt = stmt.order_by(column.desc() if sort.startswith("-") else column, Company.id)
    page = paginate(db.session, stmt, request.args.get("page", 1), scalars=False)
    return render_template("deals/companies.html", page=page, q=q, sort=sort)


@bp.route("/companies/new", methods=["GET", "POST"])
def new_company():
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"legal_form": "llc", "founders": [], "contacts": []}
    if request.method == "POST":
        company, errors = attempt(lambda: ops.create_company(db.session, actor=_actor(),
                                                             **_company_form()))
        if not errors:
            flash(_("Company %(name)s registered.",
                    name=reader_name(company.legal_name, company.name_en)), "success")
            return redirect(url_for("deals.company", company_id=company.id))
        values = _posted_company_values()
    return render_template("deals/company_form.html", values=values, errors=errors,
                           company_id=None, legal_forms=list(LegalForm)), 422 if errors else 200


@bp.route("/companies/<int:company_id>/edit", methods=["GET", "POST"])
def edit_company(company_id: int):
    """Correct a company's details, with a reason (issue 12: `company.corrected`)."""
    company = ops.get_company(db.session, company_id)
    errors: dict[str, list[str]] = {}
    values = _company_values(company)
    if request.method == "POST":
        _saved, errors = attempt(lambda: ops.correct_company(
            db.session, company_id, actor=_actor(),
            **load_form(CompanyCorrectionSchema(), **_people_rows())))
        if not errors:
            flash(_("Correction to %(name)s saved.",
                    name=reader_name(company.legal_name, company.name_en)), "success")
            return redirect(url_for("deals.company", company_id=company.id))
        values = _posted_company_values()
    return render_template("deals/company_form.html", values=values, errors=errors,
                           company_id=company_id, legal_forms=list(LegalForm)), \
        422 if errors else 200


@bp.get("/companies/<int:company_id>")
def company(company_id: int):
    company = ops.get_company(db.session, company_id)
    values = _company_values(company)
    values["id"] = company.id
    deals = db.session.execute(queries.deal_rows(queries.DealFilters()).where(
        Company.id == company.id).order_by(queries.Deal.id)).mappings().all()
    return render_template("deals/company.html", company=values, deals=deals,
                           scores=queries.company_scores(db.session, company.id))


# --------------------------------------------------------------------------------------------
# Deals


@bp.get("/deals")
def deals():
    filters = queries.DealFilters.from_args(request.args)
    sort = request.args.get("sort", "-id")
    page = paginate(db.session, queries.deal_list(filters, sort), request.args.get("page", 1),
                    request.args.get("per_page", 25), scalars=False,
                    count=queries.deal_count(filters))
    return render_template("deals/deals.html", page=page, filters=filters, sort=sort,
                           choices=queries.filter_choices(db.session), stages=list(DealStage),
                           now=datetime.now(UTC))


@bp.get("/deals/export.csv")
def export_deals():
    """The filtered list as CSV, streamed row by row as it is read (plain text is written as fast
    as it is read); the XLSX workbook is built by the worker (queue_export)."""
    filters = queries.DealFilters.from_args(request.args)
    rows = db.session.execute(queries.deal_list(filters, request.args.get("sort", "id")))
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return Response(export.pipeline_csv(rows.mappings()), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="pipeline-{stamp}.csv"'})


@bp.post("/deals/export.xlsx")
def queue_export():
    """The XLSX export as a task for the worker (issue 16): the request only queues it."""
    from fundapp.deals.tasks import EXPORT_XLSX_TASK
    from fundapp.tasks.operations import enqueue
    from fundapp.tasks.views import redirect_to

    args = {key: value for key, value in request.args.items() if key != "csrf_token"}
    return redirect_to(enqueue(db.session, EXPORT_XLSX_TASK, {
        "args": args, "locale": str(get_locale() or "zh")}, requested_by=g.user.email))


COMPANY_PICKER_LIMIT = 20  # companies a picker lists at once (issue 14: never all of them)


def _company_matches(query: str):
    """The companies whose name, English name, credit code or search key (pinyin, former names)
    contain `query`, as the companies list finds them; LIKE's wildcards are taken literally."""
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like, folded = f"%{escape(query.lower())}%", fold(query)
    return or_(func.lower(Company.legal_name).like(like, escape="\\"),
               func.lower(Company.name_en).like(like, escape="\\"),
               Company.uscc.like(escape(query.upper()) + "%", escape="\\"),
               Company.search_key.like(f"%{escape(folded)}%", escape="\\") if folded else false())


def _company_option(row) -> dict[str, Any]:
    """A company as the pickers list it: its name in the reader's language and credit code."""
    name = reader_name(row.legal_name, row.name_en)
    return {"id": row.id, "label": f"{name} ({row.uscc})" if row.uscc else name}


def _company_options(query: str, chosen: str = "") -> tuple[list[dict[str, Any]], bool]:
    """The companies a picker offers for `query` (at most COMPANY_PICKER_LIMIT, by name, and
    whether more match), with the chosen one kept first so that the form still shows it."""
    columns = select(Company.id, Company.legal_name, Company.name_en, Company.uscc)
    query = query.strip()[:100]
    found = columns.where(_company_matches(query)) if query else columns
    rows = db.session.execute(found.order_by(Company.legal_name, Company.id)
                              .limit(COMPANY_PICKER_LIMIT + 1)).all()
    options = [_company_option(row) for row in rows[:COMPANY_PICKER_LIMIT]]
    if chosen.isdigit() and int(chosen) < 2**31 and all(str(o["id"]) != chosen for o in options):
        kept = db.session.execute(columns.where(Company.id == int(chosen))).first()
        if kept is not None:
            options.insert(0, _company_option(kept))
    return options, len(rows) > COMPANY_PICKER_LIMIT


@bp.get("/companies/options")
def company_options():
    """The company pickers' search as you type (new deal, roadshow slots): JSON options."""
    options, more = _company_options(request.args.get("q", ""))
    return jsonify({"items": options, "more": more})


@bp.route("/deals/new", methods=["GET", "POST"])
def new_deal():
    errors: dict[str, list[str]] = {}
    values: Any = {"company_id": request.args.get("company", ""), "manager_id": str(g.user.id)}
    # The company picker searches (issue 14): what was typed comes back with a refused form.
    company_query = request.form.get("company_q", request.args.get("company_q", ""))[:100]
    if request.method == "POST":
        deal, errors = attempt(lambda: ops.create_deal(db.session, actor=_actor(),
                                                       **load_form(DealCreateSchema())))
        if not errors:
            flash(_("Deal opened at the formal check."), "success")
            return redirect(url_for("deals.deal", deal_id=deal.id))
        values = request.form
    companies, more_companies = _company_options(company_query, values.get("company_id", ""))
    return render_template("deals/deal_form.html", values=values, errors=errors,
                           companies=companies, more_companies=more_companies,
                           company_query=company_query,
                           choices=queries.filter_choices(db.session)), \
        422 if errors else 200


def _deal_page(deal: Deal, errors: dict[str, list[str]] | None = None,
               values: Any = None) -> str:
    """The deal's page; a refused IC decision or review shows its messages next to its form."""
    for message in (errors or {}).get("_form", []):
        flash(message, "error")
    row = db.session.execute(queries.deal_rows(queries.DealFilters()).where(
        queries.Deal.id == deal.id)).mappings().one()
    history = queries.deal_history(db.session, deal.id)
    policy = pipeline_policy(db.session)
    quorum = ops.expert_quorum(db.session, deal, policy)
    panel = []
    if deal.roadshow_id:
        conflicted = ops.conflicted_members(db.session, deal.roadshow_id, deal.company_id)
        panel = [{"id": m.id, "name": m.name, "name_en": m.name_en,
                  "is_conflicted": m.id in conflicted}
                 for m in db.session.scalars(select(PanelMember).where(
                     PanelMember.roadshow_id == deal.roadshow_id).order_by(PanelMember.id))]
    notice_ends = (ops.notice_end(db.session, deal.public_notice_started_on, policy)
                   if deal.public_notice_started_on else None)
    nxt = ops.next_stage(deal.stage)
    return render_template(
        "deals/deal.html", deal=row, history=history,
        spans=queries.time_in_stages(history),
        ic_decision_ref=deal.ic_decision_ref, held_from=deal.held_from_stage,
        summary=deal.project_summary, milestone_plan=deal.milestone_plan,
        public_notice_started_on=deal.public_notice_started_on, notice_ends=notice_ends,
        quorum=quorum, panel=panel, reviews=queries.deal_reviews(db.session, deal.id),
        scores=[s for s in queries.company_scores(db.session, deal.company_id)
                if s["roadshow_id"] == deal.roadshow_id],
        next_stage=nxt, is_closed=deal.stage in ops.CLOSED_STAGES,
        memo_filled=sum(1 for name in MEMO_TEXTS if getattr(deal, name)),
        memo_total=len(MEMO_TEXTS),
        now=datetime.now(UTC), errors=errors or {}, values=values or {})


@bp.get("/deals/<int:deal_id>")
def deal(deal_id: int):
    return _deal_page(ops.get_deal(db.session, deal_id))


def _deal_correction_values(deal: Deal) -> dict[str, str]:
    values = {name: getattr(deal, name) for name in ops.deal_correction_fields()}
    return {k: ("" if v is None else str(v)) for k, v in values.items()}


def _deal_correction_fields() -> list[dict[str, Any]]:
    choices = queries.filter_choices(db.session)
    labels = {"project_name": (_l("Project name"), "text", True),
              "project_name_en": (_l("Project name (English)"), "text", False),
              "requested_grant_amount": (_l("Requested grant (CNY)"), "money", True),
              "approved_budget_amount": (_l("Approved budget (CNY)"), "money", True),
              "project_summary": (_l("Project summary"), "textarea", False),
              "milestone_plan": (_l("Milestone plan"), "textarea", False),
              "manager_id": (_l("Fund manager"), "select", False),
              "roadshow_id": (_l("Source roadshow"), "select", False)}
    options = {"manager_id": [(m.id, m.name) for m in choices["managers"]],
               "roadshow_id": [(r.id, reader_name(r.name, r.name_en))
                               for r in choices["roadshows"]]}
    return [{"name": name, "label": labels[name][0], "kind": labels[name][1],
             "required": labels[name][2], "options": options.get(name, []), "blank": "—"}
            for name in ops.deal_correction_fields()]


@bp.route("/deals/<int:deal_id>/edit", methods=["GET", "POST"])
def edit_deal(deal_id: int):
    """Correct a deal's application details, with a reason (issue 12: `deal.corrected`)."""
    deal = ops.get_deal(db.session, deal_id)
    errors: dict[str, list[str]] = {}
    values: Any = _deal_correction_values(deal)
    if request.method == "POST":
        def correct():
            data = load_form(DealCorrectionSchema())
            if "project_name_en" in ops.deal_correction_fields():
                data["project_name_en"] = request.form.get("project_name_en", "").strip()[:200]
            return ops.correct_deal(db.session, deal_id, actor=_actor(), **data)

        _saved, errors = attempt(correct)
        if not errors:
            flash(_("Correction saved."), "success")
            return redirect(url_for("deals.deal", deal_id=deal_id))
        values = request.form
    return render_template("corrections/form.html", values=values, errors=errors,
                           title=_("Correct deal %(name)s",
                                   name=reader_name(deal.project_name, deal.project_name_en)),
                           intro=_("The stage is not corrected here: it moves on the board."),
                           fields=_deal_correction_fields(), row_groups=[],
                           cancel_url=url_for("deals.deal", deal_id=deal_id)), \
        422 if errors else 200


# The IC memo's fields on the deal's memo page: label and what to write (issue 15).
MEMO_LABELS = {
    "memo_recommendation": (_l("Recommendation"),
                            _l("The fund manager's recommendation to the committee.")),
    "memo_conditions": (_l("Conditions of the proposed resolution"),
                        _l("One condition a line; name the clause where one applies, "
                           "e.g. R2.b.")),
    "memo_thesis": (_l("Investment thesis"), _l("Why the fund should back this project.")),
    "memo_technology": (_l("Technology and IP"),
                        _l("The technology, its stage, patents and other IP.")),
    "memo_market": (_l("Market and competitors"),
                    _l("The market, its size and the main competitors.")),
    "memo_use_of_funds": (_l("Use of funds"),
                          _l("What the grant pays for, against the approved budget.")),
    "memo_financials": (_l("Financials and runway"),
                        _l("Revenue, costs, cash and how many months it lasts.")),
    "memo_dd_findings": (_l("Due-diligence findings"),
                         _l("One finding a line: finding %(sep)s source %(sep)s open or "
                            "closed.", sep="|")),
    "memo_risks": (_l("Risks and mitigants"),
                   _l("One risk a line: risk %(sep)s likelihood %(sep)s impact %(sep)s "
                      "mitigant (likelihood and impact: high, medium or low).", sep="|")),
}


def _memo_values(deal: Deal) -> dict[str, str]:
    return {name: getattr(deal, name) or "" for name in DealMemoSchema().fields}


@bp.route("/deals/<int:deal_id>/memo", methods=["GET", "POST"])
def deal_memo(deal_id: int):
    """The IC memo the manager writes on a deal; the IC pack prints it."""
    deal = ops.get_deal(db.session, deal_id)
    errors: dict[str, list[str]] = {}
    values: Any = _memo_values(deal)
    if request.method == "POST":
        _deal, errors = attempt(lambda: ops.update_deal_memo(
            db.session, deal_id, _actor(), **load_form(DealMemoSchema())))
        if not errors:
            flash(_("IC memo saved."), "success")
            return redirect(url_for("deals.deal", deal_id=deal_id))
        values = request.form
    return render_template("deals/memo_form.html", deal=deal, values=values, errors=errors,
                           fields=[(name, *MEMO_LABELS[name]) for name in MEMO_TEXTS]), \
        422 if errors else 200


@bp.post("/deals/<int:deal_id>/move")
def move_deal(deal_id: int):
    """The board's drag and drop and the deal page's buttons both post here."""
    deal = ops.get_deal(db.session, deal_id)
    if wants_json():  # the board's script: a refusal is the error envelope, shown on the card
        change = ops.advance_deal(db.session, deal, actor=_actor(),
                                  **load_form(TransitionCreateSchema()))
        following = ops.next_stage(change.to_stage)
        return jsonify({"id": deal.id, "stage": change.to_stage.value,
                        "stage_label": ops.stage_label(change.to_stage),
                        "next_stage": following.value if following else None})
    change, errors = attempt(lambda: ops.advance_deal(db.session, deal, actor=_actor(),
                                                      **load_form(TransitionCreateSchema())))
    if errors:
        for message in (m for messages in errors.values() for m in messages):
            flash(message, "error")
    else:
        flash(_("Moved to %(stage)s.", stage=ops.stage_label(change.to_stage)), "success")
    return redirect(_back(deal_id))


def _back(deal_id: int) -> str:
    target = safe_next(load_form(BackLinkSchema())["back"])
    if target and target.startswith("/deals"):
        return target
    return url_for("deals.deal", deal_id=deal_id)


@bp.post("/deals/<int:deal_id>/ic-decision")
def record_ic_decision(deal_id: int):
    deal = ops.get_deal(db.session, deal_id)
    _recorded, errors = attempt(lambda: ops.record_ic_decision(
        db.session, deal, actor=_actor(), **load_form(IcDecisionSchema())))
    if errors:
        return _deal_page(deal, errors, request.form), 422
    flash(_("IC decision recorded."), "success")
    return redirect(url_for("deals.deal", deal_id=deal_id))


@bp.post("/deals/<int:deal_id>/reviews")
def record_review(deal_id: int):
    deal = ops.get_deal(db.session, deal_id)
    _review, errors = attempt(lambda: ops.record_expert_review(
        db.session, deal, actor=_actor(), **load_form(ExpertReviewCreateSchema())))
    if errors:
        return _deal_page(deal, errors, request.form), 422
    flash(_("Expert review recorded."), "success")
    return redirect(url_for("deals.deal", deal_id=deal_id))


# Declined and withdrawn deals have no column: the board's footer counts them.
OFF_BOARD_STAGES = frozenset({DealStage.DECLINED, DealStage.WITHDRAWN})


@bp.get("/deals/board")
def board():
    filters = queries.DealFilters.from_args(request.args)
    data = queries.board(db.session, filters)
    off_board = DealStage(filters.stage) if filters.stage and \
        DealStage(filters.stage) in OFF_BOARD_STAGES else None
    # The column links set the stage themselves; the other filters go along.
    column_args = {k: v for k, v in filters.as_args().items() if k != "stage"}
    return render_template("deals/board.html", board=data, filters=filters,
                           column_args=column_args, off_board=off_board,
                           choices=queries.filter_choices(db.session), pipeline=PIPELINE,
                           next_stage=ops.next_stage, now=datetime.now(UTC))


# --------------------------------------------------------------------------------------------
# Roadshows


@bp.get("/roadshows")
def roadshows():
    from fundapp.deals.models import Roadshow, RoadshowSlot

    slots = (select(RoadshowSlot.roadshow_id, func.count().label("companies"))
             .group_by(RoadshowSlot.roadshow_id).subquery())
    stmt = (select(Roadshow.id, Roadshow.name, Roadshow.name_en, Roadshow.venue_en,
                   Roadshow.held_on, Roadshow.venue,
                   Roadshow.organiser, Roadshow.format,
                   func.coalesce(slots.c.companies, 0).label("companies"))
            .outerjoin(slots, slots.c.roadshow_id == Roadshow.id)
            .order_by(Roadshow.held_on.desc(), Roadshow.id.desc()))
    page = paginate(db.session, stmt, request.args.get("page", 1), scalars=False)
    return render_template("deals/roadshows.html", page=page)


@bp.route("/roadshows/new", methods=["GET", "POST"])
def new_roadshow():
    errors: dict[str, list[str]] = {}
    values: Any = {"format": "offline"}
    if request.method == "POST":
        roadshow, errors = attempt(lambda: roadshow_ops.create_roadshow(
            db.session, actor=_actor(), **load_form(RoadshowFormSchema())))
        if not errors:
            flash(_("Roadshow %(name)s created.",
                    name=reader_name(roadshow.name, roadshow.name_en)), "success")
            return redirect(url_for("deals.roadshow", roadshow_id=roadshow.id))
        values = request.form
    return render_template("deals/roadshow_form.html", values=values, errors=errors,
                           formats=list(RoadshowFormat)), 422 if errors else 200


@bp.get("/roadshows/<int:roadshow_id>")
def roadshow(roadshow_id: int):
    roadshow = roadshow_ops.get_roadshow(db.session, roadshow_id)
    ranking = queries.roadshow_rankings(db.session, roadshow)
    criteria = [{"id": c.id, "code": c.code, "label": roadshow_ops.criterion_label(c),
                 "raw_label": c.label, "weight_pct": c.weight_pct} for c in roadshow.criteria]
    panel = [{"id": m.id, "name": m.name, "affiliation": m.affiliation, "name_en": m.name_en,
              "affiliation_en": m.affiliation_en, "is_user": m.user_id is not None}
             for m in roadshow.panel]
    slots = [{"position": s.position, "company_id": s.company_id,
              "company": reader_name(s.company.legal_name, s.company.name_en),
              "sector": s.company.sector}
             for s in roadshow.slots]
    for row in ranking:  # the company's name in the reader's language
        row.company_name = next((s["company"] for s in slots
                                 if s["company_id"] == row.company_id), row.company_name)
    sheets = db.session.execute(select(ScoreSheet.panel_member_id, ScoreSheet.company_id,
                                       ScoreSheet.has_conflict)
                                .where(ScoreSheet.roadshow_id == roadshow.id)).all()
    users = db.session.execute(select(User.id, User.name, User.email, User.name_en)
                               .where(User.is_active.is_(True)).order_by(User.email)).all()
    # The slot form's company picker searches (issue 14): the matches of company_q, never all.
    company_query = request.args.get("company_q", "")[:100]
    companies, more_companies = _company_options(company_query, request.args.get("company", ""))
    best = max((r.mean for r in ranking if r.mean is not None), default=None)
    return render_template(
        "deals/roadshow.html",
        roadshow={"id": roadshow.id, "name": roadshow.name, "held_on": roadshow.held_on,
                  "name_en": roadshow.name_en, "venue_en": roadshow.venue_en,
                  "venue": roadshow.venue, "organiser": roadshow.organiser,
                  "format": roadshow.format},
        ranking=ranking, best=best, criteria=criteria, panel=panel, slots=slots,
        ranking_chart=_ranking_chart(ranking),
        sheets={(s.panel_member_id, s.company_id): s.has_conflict for s in sheets},
        users=users, companies=companies, more_companies=more_companies,
        company_query=company_query, max_upload_mb=MAX_SHEET_BYTES // 1024 // 1024,
        errors=_pop_errors())


def _ranking_chart(ranking) -> str:
    """The roadshow's ranking as bars on the 0-10 score axis (the charts' shared builder)."""
    from fundapp.charts import hbar_chart_svg
    from fundapp.deals.scoring import MAX_SCORE

    if not ranking or not ranking[0].count:
        return ""
    return hbar_chart_svg([(r.company_name, r.mean, r.is_disputed) for r in ranking],
                          title=_("Mean weighted score per company"),
                          x_label=_("Score (0–10 points)"), axis_max=MAX_SCORE,
                          missing=_("no scores"))


def _roadshow_correction_values(roadshow) -> dict[str, Any]:
    values: dict[str, Any] = {"name": roadshow.name, "held_on": str(roadshow.held_on),
                              "venue": roadshow.venue, "organiser": roadshow.organiser,
                              "format": roadshow.format.value}
    for key in ("name_en", "venue_en"):
        if hasattr(roadshow, key):
            values[key] = getattr(roadshow, key) or ""
    values["panel"] = [{"id": m.id, "name": m.name, "affiliation": m.affiliation,
                        "name_en": getattr(m, "name_en", ""),
                        "affiliation_en": getattr(m, "affiliation_en", "")}
                       for m in roadshow.panel]
    values["slots"] = [{"company_id": s.company_id,
                        "company": reader_name(s.company.legal_name, s.company.name_en),
                        "position": s.position} for s in roadshow.slots]
    values["criteria"] = [{"code": c.code, "label": c.label, "weight_pct": c.weight_pct}
                          for c in roadshow.criteria]
    if roadshow_ops.has_scores(db.session, roadshow.id):  # shown, not edited: reader's words
        for row, criterion in zip(values["criteria"], roadshow.criteria, strict=True):
            row["label"] = roadshow_ops.criterion_label(criterion)
    return values


def _posted_roadshow_rows(roadshow, scored: bool) -> dict[str, Any]:
    names = {s.company_id: reader_name(s.company.legal_name, s.company.name_en)
             for s in roadshow.slots}
    english = {"name_en": "panel_name_en", "affiliation_en": "panel_affiliation_en"} \
        if hasattr(PanelMember, "name_en") else {}
    panel = form_rows(None, id="panel_id", name="panel_name", affiliation="panel_affiliation",
                      **english)
    slots = [row for row in form_rows(None, company_id="slot_company_id",
                                      position="slot_position") if row["position"]]
    rows: dict[str, Any] = {"panel": panel, "slots": slots}
    if not scored and "criterion_label" in request.form:  # else the criteria stay as they are
        rows["criteria"] = [{k: v for k, v in row.items() if v} for row in form_rows(
            None, code="criterion_code", label="criterion_label",
            weight_pct="criterion_weight_pct") if row["label"] or row["weight_pct"]]
    shown = {**rows, "slots": [{**row, "company": names.get(int(row["company_id"]), "")
                                if row["company_id"].isdigit() else ""} for row in slots]}
    return {"load": rows, "shown": shown}


@bp.route("/roadshows/<int:roadshow_id>/edit", methods=["GET", "POST"])
def edit_roadshow(roadshow_id: int):
    """Correct a roadshow, with a reason (issue 12: `roadshow.corrected`); its criteria only
    while no score is recorded."""
    roadshow = roadshow_ops.get_roadshow(db.session, roadshow_id)
    scored = roadshow_ops.has_scores(db.session, roadshow.id)
    errors: dict[str, list[str]] = {}
    values: Any = _roadshow_correction_values(roadshow)
    if request.method == "POST":
        rows = _posted_roadshow_rows(roadshow, scored)
        _saved, errors = attempt(lambda: roadshow_ops.correct_roadshow(
            db.session, roadshow_id, actor=_actor(),
            **load_form(RoadshowCorrectionSchema(), **rows["load"])))
        if not errors:
            flash(_("Correction saved."), "success")
            return redirect(url_for("deals.roadshow", roadshow_id=roadshow_id))
        kept = rows["shown"].get("criteria", values["criteria"])
        values = {**request.form.to_dict(), **rows["shown"], "criteria": kept}
    formats = [(f.value, _("Offline") if f.value == "offline" else _("Online"))
               for f in RoadshowFormat]
    has_english = hasattr(roadshow, "name_en")
    fields = [{"name": "name", "label": _("Name"), "kind": "text", "required": True},
              *([{"name": "name_en", "label": _("Name in English"), "kind": "text"}]
                if has_english else []),
              {"name": "held_on", "label": _("Date"), "kind": "date", "required": True},
              {"name": "venue", "label": _("Venue"), "kind": "text"},
              *([{"name": "venue_en", "label": _("Venue in English"), "kind": "text"}]
                if has_english else []),
              {"name": "organiser", "label": _("Organiser"), "kind": "text"},
              {"name": "format", "label": _("Format"), "kind": "select", "options": formats}]
    groups = [
        {"key": "panel", "label": _("Panel"),
         "hint": _("Correct a judge's name or affiliation; add judges on the roadshow's page."),
         "columns": [{"key": "id", "input": "panel_id", "label": "#", "readonly": True},
                     {"key": "name", "input": "panel_name", "label": _("Name")},
                     {"key": "affiliation", "input": "panel_affiliation",
                      "label": _("Affiliation")},
                     *([{"key": "name_en", "input": "panel_name_en",
                         "label": _("Name in English")},
                        {"key": "affiliation_en", "input": "panel_affiliation_en",
                         "label": _("Affiliation in English")}] if has_english else [])]},
        {"key": "slots", "label": _("Companies presenting"),
         "hint": _("Change the slot numbers to reorder; empty a slot number to take a company "
                   "without score sheets off the roadshow."),
         "columns": [{"key": "company_id", "input": "slot_company_id", "label": "#",
                      "readonly": True},
                     {"key": "company", "label": _("Company"), "readonly": True},
                     {"key": "position", "input": "slot_position", "label": _("Slot"),
                      "numeric": True}]},
        {"key": "criteria", "label": _("Criteria"),
         "locked": _("Scores are recorded at this roadshow: its criteria can no longer be "
                     "corrected.") if scored else None,
         "columns": [{"key": "label", "input": "criterion_label", "label": _("Criterion"),
                      "carry": ("criterion_code", "code")},  # the code: a hidden input
                     {"key": "weight_pct", "input": "criterion_weight_pct",
                      "label": _("Weight in percent"), "numeric": True}]},
    ]
    return render_template("corrections/form.html", values=values, errors=errors,
                           title=_("Correct roadshow %(name)s",
                                   name=reader_name(roadshow.name, roadshow.name_en)), intro=None,
                           fields=fields, row_groups=groups,
                           cancel_url=url_for("deals.roadshow", roadshow_id=roadshow_id)), \
        422 if errors else 200


_ERRORS_KEY = "_roadshow_errors"


def _pop_errors() -> dict[str, list[str]]:
    from flask import session

    return session.pop(_ERRORS_KEY, {}) or {}


def _roadshow_action(roadshow_id: int, action, success: str, keep: dict | None = None):
    """Run a form of the roadshow's page; its field messages are shown there after the redirect,
    with `keep` (query arguments the page reads, e.g. the company chosen) after a refusal."""
    roadshow = roadshow_ops.get_roadshow(db.session, roadshow_id)
    _done, errors = attempt(lambda: action(roadshow))
    if errors:
        from flask import session

        session[_ERRORS_KEY] = {k: v for k, v in errors.items() if k != "_form"}
        _flash_errors(errors)
        return redirect(url_for("deals.roadshow", roadshow_id=roadshow_id,
                                **{k: v for k, v in (keep or {}).items() if v}))
    flash(success, "success")
    return redirect(url_for("deals.roadshow", roadshow_id=roadshow_id))


@bp.post("/roadshows/<int:roadshow_id>/criteria")
def set_criteria(roadshow_id: int):
    rows = [{k: v for k, v in row.items() if v}
            for row in form_rows(None, code="code", label="label", weight_pct="weight_pct")
            if row["label"] or row["weight_pct"]]  # a row emptied of both is removed
    return _roadshow_action(roadshow_id, lambda r: roadshow_ops.set_criteria(
        db.session, r, actor=_actor(), **load_form(CriteriaSchema(), criteria=rows)),
        _("Criteria saved."))


@bp.post("/roadshows/<int:roadshow_id>/panel")
def add_panel_member(roadshow_id: int):
    return _roadshow_action(roadshow_id, lambda r: roadshow_ops.add_panel_member(
        db.session, r, actor=_actor(), **load_form(PanelMemberCreateSchema())),
        _("Panel member added."))


@bp.post("/roadshows/<int:roadshow_id>/slots")
def add_slot(roadshow_id: int):
    def action(roadshow):
        data = load_form(SlotCreateSchema())
        company = ops.get_company(db.session, data.pop("company_id"))
        roadshow_ops.add_slot(db.session, roadshow, company, actor=_actor(), **data)

    return _roadshow_action(roadshow_id, action, _("Company added to the roadshow."),
                            keep={"company": request.form.get("company_id", "")[:12],
                                  "company_q": request.form.get("company_q", "")[:100]})


@bp.post("/roadshows/<int:roadshow_id>/scores")
def record_scores(roadshow_id: int):
    # One input per criterion, named score_<code>; blanks are left to the operation to name.
    scores = {key[len("score_"):]: value for key, value in request.form.items()
              if key.startswith("score_") and value.strip()}
    return _roadshow_action(roadshow_id, lambda r: roadshow_ops.record_score_sheet(
        db.session, r, actor=_actor(), **load_form(ScoreSheetCreateSchema(), scores=scores)),
        _("Score sheet recorded."))


@bp.post("/roadshows/<int:roadshow_id>/import")
def upload_signup(roadshow_id: int):
    roadshow = roadshow_ops.get_roadshow(db.session, roadshow_id)
    upload = request.files.get("sheet")
    if upload is None or not upload.filename:
        flash(_("Choose a sign-up sheet to upload."), "error")
        return redirect(url_for("deals.roadshow", roadshow_id=roadshow.id))
    content = upload.read(MAX_SHEET_BYTES + 1)
    if len(content) > MAX_SHEET_BYTES:
        flash(_("The file is larger than %(max)s MB; a sign-up sheet may be at most %(max)s MB.",
                max=MAX_SHEET_BYTES // 1024 // 1024), "error")
        return redirect(url_for("deals.roadshow", roadshow_id=roadshow.id))
    token = secrets.token_urlsafe(24)
    db.session.add(SheetUpload(token=token, roadshow_id=roadshow.id,
                               filename=(upload.filename or "sheet")[:255], content=content,
                               uploaded_by=_actor()))
    return redirect(url_for("deals.signup_preview", roadshow_id=roadshow.id, token=token))


def _large_sheet(upload: SheetUpload) -> bool:
    from fundapp.deals.intake import parse_sheet
    from fundapp.deals.tasks import IMPORT_IN_REQUEST_ROWS

    try:
        rows, _problems = parse_sheet(upload.filename, upload.content)
    except SheetError:
        return False  # refused in the request, with the reason
    return len(rows) > IMPORT_IN_REQUEST_ROWS


@bp.route("/roadshows/<int:roadshow_id>/import/<token>", methods=["GET", "POST"])
def signup_preview(roadshow_id: int, token: str):
    roadshow = roadshow_ops.get_roadshow(db.session, roadshow_id)
    upload = db.session.scalar(select(SheetUpload).where(SheetUpload.token == token,
                                                         SheetUpload.roadshow_id == roadshow.id))
    if upload is None:
        raise NotFound(_("This upload is no longer available. Upload the sheet again."))
    if request.method == "POST" and _large_sheet(upload):
        from fundapp.deals.tasks import SIGNUP_IMPORT_TASK
        from fundapp.tasks.operations import enqueue
        from fundapp.tasks.views import redirect_to

        # Hundreds of rows: the worker imports it (issue 16); the page shows its progress.
        return redirect_to(enqueue(db.session, SIGNUP_IMPORT_TASK, {
            "roadshow_id": roadshow.id, "token": token, "actor": _actor()},
            requested_by=g.user.email))
    if request.method == "POST":
        def import_sheet():
            try:
                result = import_signup(db.session, roadshow, upload.filename, upload.content,
                                       actor=_actor())
            except SheetError as exc:
                raise AppError(exc.message, status=422, code="sheet_unreadable") from None
            except ValidationFailed as exc:  # its rows' problems are on the preview below
                raise AppError(exc.message, status=422, code=exc.code) from None
            upload.imported_at = datetime.now(UTC)
            return result

        result, errors = attempt(import_sheet)
        if not errors:
            flash(_("Imported %(rows)s rows: %(companies)s new companies, %(deals)s new deals.",
                    rows=result.rows, companies=result.companies_created,
                    deals=result.deals_created), "success")
            return redirect(url_for("deals.roadshow", roadshow_id=roadshow.id))
        _flash_errors(errors)
    error = None
    preview = None
    try:
        preview = preview_signup(db.session, roadshow, upload.filename, upload.content)
    except SheetError as exc:
        error = str(exc.message)
    return render_template("deals/signup_preview.html", roadshow_id=roadshow.id,
                           roadshow_name=roadshow.name, filename=upload.filename, token=token,
                           preview=preview, error=error), 422 if error else 200
