"""Pages of the deal pipeline: roadshows, companies, deals and the board."""

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
from sqlalchemy import func, or_, select

from fundapp.auth.models import User
from fundapp.deals import export, queries
from fundapp.deals import operations as ops
from fundapp.deals.intake import MAX_SHEET_BYTES, SheetError, import_signup, preview_signup
from fundapp.deals.models import (
    PIPELINE,
    Company,
    DealStage,
    LegalForm,
    PanelMember,
    RoadshowFormat,
    ScoreSheet,
    SheetUpload,
)
from fundapp.deals.policy import pipeline_policy
from fundapp.deals.sectors import SECTORS, sector_label
from fundapp.errors import AppError, NotFound, RuleRefused, ValidationFailed, wants_json
from fundapp.extensions import db
from fundapp.pagination import paginate

bp = Blueprint("deals", __name__)


@bp.app_context_processor
def _pipeline_helpers() -> dict[str, Any]:
    locale = str(get_locale() or "zh")
    return {"stage_label": ops.stage_label,
            "sector_label": lambda code: sector_label(code, locale) if code else "",
            "sectors": [(code, sector_label(code, locale)) for code in SECTORS]}


def _actor() -> str:
    return g.user.email


def _form_errors(exc: ValidationFailed) -> dict[str, list[str]]:
    return {key: [str(m) for m in value] if isinstance(value, list) else [str(value)]
            for key, value in exc.details.items()}


# --------------------------------------------------------------------------------------------
# Companies

COMPANY_FORM_FIELDS = ("legal_name", "name_en", "uscc", "district", "legal_form",
                       "registered_capital_amount", "share_count", "par_value_amount",
                       "sector", "founded_on", "website", "description")


def _company_form_data() -> dict[str, Any]:
    data: dict[str, Any] = {key: request.form.get(key, "") for key in COMPANY_FORM_FIELDS}
    data["founders"] = [{"name": n, "title": t, "background": ""} for n, t in zip(
        request.form.getlist("founder_name"), request.form.getlist("founder_title"),
        strict=False)]
    data["contacts"] = [{"name": n, "phone": p, "email": e} for n, p, e in zip(
        request.form.getlist("contact_name"), request.form.getlist("contact_phone"),
        request.form.getlist("contact_email"), strict=False)]
    return data


def _company_values(company: Company) -> dict[str, Any]:
    values = {key: getattr(company, key) for key in COMPANY_FORM_FIELDS}
    values = {k: ("" if v is None else str(v)) for k, v in values.items()}
    values["founders"] = [{"name": f.name, "title": f.title} for f in company.founders]
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
        stmt = stmt.where(or_(func.lower(Company.legal_name).like(like),
                              func.lower(Company.name_en).like(like),
                              Company.uscc.like(q.upper() + "%")))
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
        values = _company_form_data()
        try:
            company = ops.create_company(db.session, actor=_actor(), **values)
        except ValidationFailed as exc:
            db.session.rollback()
            errors = _form_errors(exc)
        else:
            db.session.commit()
            flash(_("Company %(name)s registered.", name=company.legal_name), "success")
            return redirect(url_for("deals.company", company_id=company.id))
    return render_template("deals/company_form.html", values=values, errors=errors,
                           company_id=None, legal_forms=list(LegalForm)), 422 if errors else 200


@bp.route("/companies/<int:company_id>/edit", methods=["GET", "POST"])
def edit_company(company_id: int):
    company = ops.get_company(db.session, company_id)
    errors: dict[str, list[str]] = {}
    values = _company_values(company)
    if request.method == "POST":
        values = _company_form_data()
        try:
            ops.update_company(db.session, company, actor=_actor(), **values)
        except ValidationFailed as exc:
            db.session.rollback()
            errors = _form_errors(exc)
        else:
            db.session.commit()
            flash(_("Changes to %(name)s saved.", name=company.legal_name), "success")
            return redirect(url_for("deals.company", company_id=company.id))
    return render_template("deals/company_form.html", values=values, errors=errors,
                           company_id=company.id, legal_forms=list(LegalForm)), \
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
                    request.args.get("per_page", 25), scalars=False)
    return render_template("deals/deals.html", page=page, filters=filters, sort=sort,
                           choices=queries.filter_choices(db.session), stages=list(DealStage),
                           now=datetime.now(UTC))


@bp.get("/deals/export.<any(xlsx, csv):fmt>")
def export_deals(fmt: str):
    filters = queries.DealFilters.from_args(request.args)
    rows = db.session.execute(queries.deal_list(filters, request.args.get("sort", "id")))
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    if fmt == "csv":
        body, mimetype = export.pipeline_csv(rows.mappings()), "text/csv; charset=utf-8"
    else:
        body = export.pipeline_xlsx(rows.mappings())
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="pipeline-{stamp}.{fmt}"'})


def _deal_form_data() -> dict[str, Any]:
    keys = ("company_id", "project_name", "requested_grant_amount", "approved_budget_amount",
            "project_summary", "milestone_plan", "manager_id", "roadshow_id")
    return {key: request.form.get(key, "").strip() for key in keys}


@bp.route("/deals/new", methods=["GET", "POST"])
def new_deal():
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"company_id": request.args.get("company", ""),
                              "manager_id": str(g.user.id)}
    if request.method == "POST":
        values = _deal_form_data()
        try:
            deal = ops.create_deal(db.session, actor=_actor(),
                                   **{**values, "company_id": _int(values["company_id"])})
        except ValidationFailed as exc:
            db.session.rollback()
            errors = _form_errors(exc)
        else:
            db.session.commit()
            flash(_("Deal opened at the formal check."), "success")
            return redirect(url_for("deals.deal", deal_id=deal.id))
    companies = db.session.execute(select(Company.id, Company.legal_name)
                                   .order_by(Company.legal_name).limit(2000)).all()
    return render_template("deals/deal_form.html", values=values, errors=errors,
                           companies=companies, choices=queries.filter_choices(db.session)), \
        422 if errors else 200


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@bp.get("/deals/<int:deal_id>")
def deal(deal_id: int):
    deal = ops.get_deal(db.session, deal_id)
    row = db.session.execute(queries.deal_rows(queries.DealFilters()).where(
        queries.Deal.id == deal.id)).mappings().one()
    history = queries.deal_history(db.session, deal.id)
    policy = pipeline_policy(db.session)
    quorum = ops.expert_quorum(db.session, deal, policy)
    panel = []
    if deal.roadshow_id:
        conflicted = ops.conflicted_members(db.session, deal.roadshow_id, deal.company_id)
        panel = [{"id": m.id, "name": m.name, "is_conflicted": m.id in conflicted}
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
        now=datetime.now(UTC))


@bp.post("/deals/<int:deal_id>/move")
def move_deal(deal_id: int):
    """The board's drag and drop and the deal page's buttons both post here."""
    deal = ops.get_deal(db.session, deal_id)
    to_stage = request.form.get("to_stage", "")
    if to_stage == "next":
        to_stage = str(ops.next_stage(deal.stage) or "")
    try:
        change = ops.advance_deal(db.session, deal, to_stage, actor=_actor(),
                                  reason=request.form.get("reason", ""),
                                  expected_stage=request.form.get("expected_stage") or None)
    except AppError as exc:
        db.session.rollback()
        if wants_json():
            raise
        flash(str(exc.message) if not isinstance(exc, ValidationFailed) else "; ".join(
            str(m) for v in exc.details.values() for m in (v if isinstance(v, list) else [v])),
            "error")
        return redirect(_back(deal_id))
    db.session.commit()
    if wants_json():
        following = ops.next_stage(change.to_stage)
        return jsonify({"id": deal.id, "stage": change.to_stage.value,
                        "stage_label": ops.stage_label(change.to_stage),
                        "next_stage": following.value if following else None})
    flash(_("Moved to %(stage)s.", stage=ops.stage_label(change.to_stage)), "success")
    return redirect(_back(deal_id))


def _back(deal_id: int) -> str:
    target = request.form.get("back", "")
    if target.startswith("/deals") and not target.startswith("//"):
        return target
    return url_for("deals.deal", deal_id=deal_id)


@bp.post("/deals/<int:deal_id>/ic-decision")
def record_ic_decision(deal_id: int):
    deal = ops.get_deal(db.session, deal_id)
    try:
        ops.record_ic_decision(db.session, deal, request.form.get("ic_decision_ref", ""),
                               actor=_actor())
    except (ValidationFailed, RuleRefused) as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("IC decision recorded."), "success")
    return redirect(url_for("deals.deal", deal_id=deal_id))


@bp.post("/deals/<int:deal_id>/reviews")
def record_review(deal_id: int):
    deal = ops.get_deal(db.session, deal_id)
    try:
        ops.record_expert_review(db.session, deal,
                                 panel_member_id=_int(request.form.get("panel_member_id")),
                                 is_approved=request.form.get("decision") == "approve",
                                 comment=request.form.get("comment", ""), actor=_actor())
    except (ValidationFailed, RuleRefused) as exc:
        db.session.rollback()
        details = exc.details.get("panel_member_id") if isinstance(exc, ValidationFailed) else None
        flash(str(details[0] if details else exc.message), "error")
    else:
        db.session.commit()
        flash(_("Expert review recorded."), "success")
    return redirect(url_for("deals.deal", deal_id=deal_id))


@bp.get("/deals/board")
def board():
    filters = queries.DealFilters.from_args(request.args)
    data = queries.board(db.session, filters)
    return render_template("deals/board.html", board=data, filters=filters,
                           choices=queries.filter_choices(db.session), pipeline=PIPELINE,
                           next_stage=ops.next_stage, now=datetime.now(UTC))


# --------------------------------------------------------------------------------------------
# Roadshows


@bp.get("/roadshows")
def roadshows():
    from fundapp.deals.models import Roadshow, RoadshowSlot

    slots = (select(RoadshowSlot.roadshow_id, func.count().label("companies"))
             .group_by(RoadshowSlot.roadshow_id).subquery())
    stmt = (select(Roadshow.id, Roadshow.name, Roadshow.held_on, Roadshow.venue,
                   Roadshow.organiser, Roadshow.format,
                   func.coalesce(slots.c.companies, 0).label("companies"))
            .outerjoin(slots, slots.c.roadshow_id == Roadshow.id)
            .order_by(Roadshow.held_on.desc(), Roadshow.id.desc()))
    page = paginate(db.session, stmt, request.args.get("page", 1), scalars=False)
    return render_template("deals/roadshows.html", page=page)


def _roadshow_form_data() -> dict[str, Any]:
    return {key: request.form.get(key, "").strip()
            for key in ("name", "held_on", "venue", "organiser", "format")}


@bp.route("/roadshows/new", methods=["GET", "POST"])
def new_roadshow():
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"format": "offline"}
    if request.method == "POST":
        values = _roadshow_form_data()
        try:
            roadshow = ops.create_roadshow(db.session, actor=_actor(), **values)
        except ValidationFailed as exc:
            db.session.rollback()
            errors = _form_errors(exc)
        else:
            db.session.commit()
            flash(_("Roadshow %(name)s created.", name=roadshow.name), "success")
            return redirect(url_for("deals.roadshow", roadshow_id=roadshow.id))
    return render_template("deals/roadshow_form.html", values=values, errors=errors,
                           formats=list(RoadshowFormat)), 422 if errors else 200


@bp.get("/roadshows/<int:roadshow_id>")
def roadshow(roadshow_id: int):
    roadshow = ops.get_roadshow(db.session, roadshow_id)
    ranking = queries.roadshow_rankings(db.session, roadshow)
    criteria = [{"id": c.id, "code": c.code, "label": ops.criterion_label(c),
                 "raw_label": c.label, "weight_pct": c.weight_pct} for c in roadshow.criteria]
    panel = [{"id": m.id, "name": m.name, "affiliation": m.affiliation,
              "is_user": m.user_id is not None} for m in roadshow.panel]
    slots = [{"position": s.position, "company_id": s.company_id,
              "company": s.company.legal_name, "sector": s.company.sector}
             for s in roadshow.slots]
    sheets = db.session.execute(select(ScoreSheet.panel_member_id, ScoreSheet.company_id,
                                       ScoreSheet.has_conflict)
                                .where(ScoreSheet.roadshow_id == roadshow.id)).all()
    users = db.session.execute(select(User.id, User.name, User.email)
                               .where(User.is_active.is_(True)).order_by(User.email)).all()
    companies = db.session.execute(select(Company.id, Company.legal_name)
                                   .order_by(Company.legal_name).limit(2000)).all()
    best = max((r.mean for r in ranking if r.mean is not None), default=None)
    return render_template(
        "deals/roadshow.html",
        roadshow={"id": roadshow.id, "name": roadshow.name, "held_on": roadshow.held_on,
                  "venue": roadshow.venue, "organiser": roadshow.organiser,
                  "format": roadshow.format},
        ranking=ranking, best=best, criteria=criteria, panel=panel, slots=slots,
        sheets={(s.panel_member_id, s.company_id): s.has_conflict for s in sheets},
        users=users, companies=companies, max_upload_mb=MAX_SHEET_BYTES // 1024 // 1024,
        errors=_pop_errors())


_ERRORS_KEY = "_roadshow_errors"


def _pop_errors() -> dict[str, list[str]]:
    from flask import session

    return session.pop(_ERRORS_KEY, {}) or {}


def _keep_errors(exc: ValidationFailed) -> None:
    from flask import session

    session[_ERRORS_KEY] = _form_errors(exc)
    flash(str(exc.message), "error")


def _roadshow_action(roadshow_id: int, action, success: str):
    roadshow = ops.get_roadshow(db.session, roadshow_id)
    try:
        action(roadshow)
    except ValidationFailed as exc:
        db.session.rollback()
        _keep_errors(exc)
    except (RuleRefused, AppError) as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(success, "success")
    return redirect(url_for("deals.roadshow", roadshow_id=roadshow_id))


@bp.post("/roadshows/<int:roadshow_id>/criteria")
def set_criteria(roadshow_id: int):
    criteria = [{"code": c, "label": label, "weight_pct": w} for c, label, w in zip(
        request.form.getlist("code"), request.form.getlist("label"),
        request.form.getlist("weight_pct"), strict=False) if label.strip() or w.strip()]
    return _roadshow_action(roadshow_id, lambda r: ops.set_criteria(
        db.session, r, criteria, actor=_actor()), _("Criteria saved."))


@bp.post("/roadshows/<int:roadshow_id>/panel")
def add_panel_member(roadshow_id: int):
    return _roadshow_action(roadshow_id, lambda r: ops.add_panel_member(
        db.session, r, actor=_actor(), user_id=_int(request.form.get("user_id")),
        name=request.form.get("name", ""), affiliation=request.form.get("affiliation", "")),
        _("Panel member added."))


@bp.post("/roadshows/<int:roadshow_id>/slots")
def add_slot(roadshow_id: int):
    def action(roadshow):
        company = db.session.get(Company, _int(request.form.get("company_id")) or 0)
        if company is None:
            raise ValidationFailed(_("Choose a company."), details={"company_id": [
                _("Choose a company.")]})
        ops.add_slot(db.session, roadshow, company, actor=_actor())

    return _roadshow_action(roadshow_id, action, _("Company added to the roadshow."))


@bp.post("/roadshows/<int:roadshow_id>/scores")
def record_scores(roadshow_id: int):
    scores = {key[len("score_"):]: value for key, value in request.form.items()
              if key.startswith("score_")}
    return _roadshow_action(roadshow_id, lambda r: ops.record_score_sheet(
        db.session, r, panel_member_id=_int(request.form.get("panel_member_id")),
        company_id=_int(request.form.get("company_id")), scores=scores,
        has_conflict=request.form.get("has_conflict") == "1",
        comment=request.form.get("comment", ""), actor=_actor()), _("Score sheet recorded."))


@bp.post("/roadshows/<int:roadshow_id>/import")
def upload_signup(roadshow_id: int):
    roadshow = ops.get_roadshow(db.session, roadshow_id)
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
    db.session.commit()
    return redirect(url_for("deals.signup_preview", roadshow_id=roadshow.id, token=token))


@bp.route("/roadshows/<int:roadshow_id>/import/<token>", methods=["GET", "POST"])
def signup_preview(roadshow_id: int, token: str):
    roadshow = ops.get_roadshow(db.session, roadshow_id)
    upload = db.session.scalar(select(SheetUpload).where(SheetUpload.token == token,
                                                         SheetUpload.roadshow_id == roadshow.id))
    if upload is None:
        raise NotFound(_("This upload is no longer available. Upload the sheet again."))
    if request.method == "POST":
        try:
            result = import_signup(db.session, roadshow, upload.filename, upload.content,
                                   actor=_actor())
        except SheetError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        except ValidationFailed as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            upload.imported_at = datetime.now(UTC)
            db.session.commit()
            flash(_("Imported %(rows)s rows: %(companies)s new companies, %(deals)s new deals.",
                    rows=result.rows, companies=result.companies_created,
                    deals=result.deals_created), "success")
            return redirect(url_for("deals.roadshow", roadshow_id=roadshow.id))
    error = None
    preview = None
    try:
        preview = preview_signup(db.session, roadshow, upload.filename, upload.content)
    except SheetError as exc:
        error = str(exc.message)
    return render_template("deals/signup_preview.html", roadshow_id=roadshow.id,
                           roadshow_name=roadshow.name, filename=upload.filename, token=token,
                           preview=preview, error=error), 422 if error else 200
