"""Pages of grants, rounds, conversions, cap tables and policies.

Forms are read into plain dicts and checked by the same marshmallow schemas as the API, so a
page and the API refuse the same input with the same field messages.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError
from sqlalchemy import select

from fundapp.api.core import translate_messages
from fundapp.errors import AppError, RuleRefused, ValidationFailed
from fundapp.extensions import db
from fundapp.pagination import paginate
from fundapp.portfolio import operations as ops
from fundapp.portfolio import queries
from fundapp.portfolio.models import EvidenceDocument, GrantStatus, RoundKind, TrancheStatus
from fundapp.portfolio.policies import PARAMETERS
from fundapp.portfolio.schemas import (
    AcceptanceCreateSchema,
    AlternativeConditionCreateSchema,
    BreachCreateSchema,
    DisbursementCreateSchema,
    GrantCreateSchema,
    OverrideCreateSchema,
    PolicyCreateSchema,
    RefundCreateSchema,
    ReviewCreateSchema,
    RoundCreateSchema,
    ToleranceClosureSchema,
)

bp = Blueprint("portfolio", __name__)

STATUS_LABELS = {
    GrantStatus.DISBURSING: _l("Disbursing"),
    GrantStatus.RD_ACCEPTED: _l("R&D accepted"),
    GrantStatus.CONVERTED: _l("Converted"),
    GrantStatus.CLOSED: _l("Closed as a grant (R8.a)"),
    GrantStatus.CLOSED_TOLERANCE: _l("Closed with tolerance (R8.b)"),
    GrantStatus.IN_BREACH: _l("In breach (R8.c)"),
}
TRANCHE_LABELS = {
    TrancheStatus.PENDING: _l("Pending"),
    TrancheStatus.RELEASED: _l("Released"),
    TrancheStatus.CANCELLED: _l("Cancelled"),
    TrancheStatus.SUSPENDED: _l("Suspended"),
}
KIND_LABELS = {
    RoundKind.PRICED_EQUITY: _l("Priced cash equity round"),
    RoundKind.DEBT: _l("Debt"),
    RoundKind.CONVERTIBLE: _l("Convertible"),
    RoundKind.SECONDARY: _l("Secondary sale"),
}
ROWS = 5  # investor and holder rows on the round form


def _load(schema: Schema, data: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    try:
        return schema.load(data), {}
    except ValidationError as exc:
        return None, translate_messages(exc.messages)


def _errors_of(exc: AppError) -> dict[str, Any]:
    """Field errors for the form, and the clause for a refusal (shown above the form)."""
    if isinstance(exc, ValidationFailed):
        return dict(exc.details)
    if isinstance(exc, RuleRefused):
        field = exc.details.get("field") or "_rule"
        return {field: [f"{exc.details['rule']}: {exc.message}"], "_rule": [
            f"{exc.details['rule']}: {exc.message}"]}
    return {"_rule": [str(exc.message)]}


def _blank_to_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in ("", None)}


# --------------------------------------------------------------------------- grants


@bp.get("/grants")
def grants():
    status = request.args.get("status", "")
    page = paginate(db.session, queries.grants_query(status), request.args.get("page", 1))
    return render_template("portfolio/grants.html", page=page, status=status,
                           status_labels=STATUS_LABELS)


@bp.route("/grants/new", methods=["GET", "POST"])
def new_grant():
    deals = queries.deals_ready_for_agreement(db.session)
    errors: dict[str, Any] = {}
    form = request.form.to_dict() if request.method == "POST" else {
        "deal_id": request.args.get("deal_id", ""), "signed_on": date.today().isoformat()}
    if request.method == "POST":
        tranches = []
        for n in range(1, 7):
            amount = form.get(f"tranche_{n}_amount", "").strip()
            if amount:
                tranches.append({"amount": amount,
                                 "milestone": form.get(f"tranche_{n}_milestone", "")})
        raw = _blank_to_none({k: form.get(k, "").strip() for k in (
            "deal_id", "awarded_amount", "approved_budget_amount", "signed_on", "holder_entity",
            "agreement_no", "exit_filing_no", "exit_filed_on", "alternative_conditions",
            "override_ic_ref", "r10_ic_ref")})
        if tranches:
            raw["tranches"] = tranches
        data, errors = _load(GrantCreateSchema(), raw)
        if data is not None:
            try:
                grant = ops.create_grant(db.session, actor=g.user.email, **data)
            except AppError as exc:
                db.session.rollback()
                errors = _errors_of(exc)
            else:
                db.session.commit()
                flash(_("Grant agreement signed."), "success")
                return redirect(url_for("portfolio.grant", grant_id=grant.id))
    status = 422 if errors else 200
    return render_template("portfolio/new_grant.html", deals=deals, form=form,
                           errors=errors), status


def _grant_page(grant_id: int, errors: dict[str, Any] | None = None, form: dict | None = None,
                action: str = "", status: int = 200):
    grant = ops.get_grant(db.session, grant_id)
    rounds = queries.company_rounds(db.session, grant.company_id)
    stored = {c.round_id: c.clauses for r in rounds for c in r.checks if c.grant_id == grant.id}
    is_open = grant.status in (GrantStatus.DISBURSING, GrantStatus.RD_ACCEPTED)
    # An open grant is checked as it stands now; a closed one shows what was recorded.
    checks = ops.live_checks(grant, rounds) if is_open else stored
    values = ops.grant_policy_values(grant)
    return render_template(
        "portfolio/grant.html", grant=grant, rounds=rounds, checks=checks, values=values,
        status_labels=STATUS_LABELS, tranche_labels=TRANCHE_LABELS, errors=errors or {}, form=form or {}, action=action,
        is_open=is_open,
        overdue=ops.registration_overdue(grant, date.today()),
        parameters=PARAMETERS), status


@bp.get("/grants/<int:grant_id>")
def grant(grant_id: int):
    return _grant_page(grant_id)


ACTIONS = {
    "review": (ReviewCreateSchema, ops.record_milestone_review, _l("Milestone review recorded.")),
    "disburse": (DisbursementCreateSchema, ops.disburse, _l("Tranche released.")),
    "refund": (RefundCreateSchema, ops.record_refund, _l("Refund recorded.")),
    "accept": (AcceptanceCreateSchema, ops.accept_rd, _l("R&D acceptance recorded.")),
    "breach": (BreachCreateSchema, ops.declare_breach, _l("Breach declared.")),
    "tolerance": (ToleranceClosureSchema, ops.close_with_tolerance,
                  _l("Closed with tolerance.")),
    "override": (OverrideCreateSchema, ops.override_grant_policy, _l("Policy override saved.")),
    "registration": (None, ops.record_registration, _l("Registration recorded.")),
    "alternative": (AlternativeConditionCreateSchema, ops.record_alternative_condition_met,
                    _l("Alternative condition recorded as met (R3.f).")),
}


@bp.post("/grants/<int:grant_id>/<any(review, disburse, refund, accept, breach, tolerance, "
         "override, registration, alternative):action>")
def grant_action(grant_id: int, action: str):
    schema_cls, operation, done = ACTIONS[action]
    form = request.form.to_dict()
    raw: dict[str, Any] = _blank_to_none({k: v.strip() for k, v in form.items()
                                          if k != "csrf_token"})
    if action == "review":
        raw["is_passed"] = form.get("is_passed") == "yes"
    if action == "override":
        name = raw.pop("parameter", "")
        value: Any = raw.pop("value", None)
        if value in ("true", "false"):
            value = value == "true"
        elif value is not None and PARAMETERS.get(name, ("",))[0] in ("int",) and value.isdigit():
            value = int(value)
        raw = {"values": {name: value}, "ic_resolution_ref": raw.get("ic_resolution_ref", "")}
    grant = ops.get_grant(db.session, grant_id)
    if schema_cls is None:
        try:
            data, errors = {"registered_on": date.fromisoformat(raw.get("registered_on", ""))}, {}
        except ValueError:
            data, errors = None, {"registered_on": [_("Not a valid date.")]}
    else:
        data, errors = _load(schema_cls(), raw)
    if data is not None:
        try:
            operation(db.session, grant, actor=g.user.email, **data)
        except AppError as exc:
            db.session.rollback()
            errors = _errors_of(exc)
        else:
            db.session.commit()
            flash(str(done), "success")
            return redirect(url_for("portfolio.grant", grant_id=grant_id))
    return _grant_page(grant_id, errors, form, action, 422)


# --------------------------------------------------------------------------- preview, conversion


def _round_from_args(args) -> dict[str, Any]:
    investors = []
    lead = None
    for n in range(1, ROWS + 1):
        name = args.get(f"investor_{n}_name", "").strip()
        if not name:
            continue
        investors.append({"name": name, "cash_amount": args.get(f"investor_{n}_cash", "").strip(),
                          "is_independent": args.get(f"investor_{n}_independent") == "yes"})
        if args.get("lead") == str(n):
            lead = name
    holders = []
    for n in range(1, ROWS + 1):
        holder = args.get(f"holder_{n}_name", "").strip()
        if holder:
            holders.append({"holder": holder, "units": args.get(f"holder_{n}_units", "").strip()})
    raw = _blank_to_none({k: args.get(k, "").strip() for k in (
        "name", "kind", "closed_on", "definitive_agreement_signed_on",
        "pre_money_valuation_amount", "units_before")})
    raw["investors"] = investors
    if lead:
        raw["lead"] = lead
    if holders:
        raw["holders_before"] = holders
    return raw


@bp.get("/grants/<int:grant_id>/preview")
def preview(grant_id: int):
    grant = ops.get_grant(db.session, grant_id)
    rounds = queries.company_rounds(db.session, grant.company_id)
    args = request.args
    result, errors, has_table, refused = None, {}, False, None
    mode = args.get("mode", "")
    if mode == "recorded" and args.get("round_id", "").isdigit():
        try:
            found = ops.preview_conversion(db.session, grant, round_id=int(args["round_id"]))
            result, has_table = found.result, found.has_cap_table
        except AppError as exc:
            errors, refused = _errors_of(exc), exc.details.get("clauses")
    elif mode == "hypothetical":
        data, errors = _load(RoundCreateSchema(), _round_from_args(args))
        if data is not None:
            try:
                found = ops.preview_conversion(db.session, grant, round_data=data,
                                               holders_before=data.get("holders_before"))
                result, has_table = found.result, found.has_cap_table
            except AppError as exc:
                errors, refused = _errors_of(exc), exc.details.get("clauses")
    db.session.rollback()  # a preview never writes
    return render_template("portfolio/preview.html", grant=grant, rounds=rounds, args=args,
                           sheet=result.to_dict() if result else None, has_table=has_table,
                           errors=errors, rows=ROWS, kind_labels=KIND_LABELS,
                           mode=mode, refused=refused), 422 if errors else 200


@bp.post("/grants/<int:grant_id>/conversion")
def convert(grant_id: int):
    round_id = request.form.get("round_id", "")
    by_appraisal = round_id == "appraisal"  # R3.f: priced by the filed appraisal
    if not (round_id.isdigit() or by_appraisal):
        return _grant_page(grant_id, {"round_id": [_("Choose a round.")]}, request.form,
                           "convert", 422)
    try:
        ops.convert_grant(db.session, grant_id,
                          round_id=None if by_appraisal else int(round_id),
                          basis="appraisal" if by_appraisal else "round",
                          ic_resolution_ref=request.form.get("ic_resolution_ref", ""),
                          keep_undisbursed_ref=request.form.get("keep_undisbursed_ref", ""),
                          actor=g.user.email)
    except AppError as exc:
        db.session.rollback()
        return _grant_page(grant_id, _errors_of(exc), request.form, "convert",
                           exc.status if exc.status in (409, 422) else 422)
    db.session.commit()
    flash(_("The grant was converted."), "success")
    return redirect(url_for("portfolio.conversion", grant_id=grant_id))


@bp.get("/grants/<int:grant_id>/conversion")
def conversion(grant_id: int):
    grant = ops.get_grant(db.session, grant_id)
    if grant.conversion is None:
        abort(404)
    return render_template("portfolio/conversion.html", grant=grant, conv=grant.conversion,
                           sheet=grant.conversion.sheet,
                           overdue=ops.registration_overdue(grant, date.today()))


# --------------------------------------------------------------------------- rounds, cap table


@bp.route("/companies/<int:company_id>/rounds/new", methods=["GET", "POST"])
def new_round(company_id: int):
    company = ops.get_company(db.session, company_id)
    errors: dict[str, Any] = {}
    form = request.form if request.method == "POST" else {}
    if request.method == "POST":
        data, errors = _load(RoundCreateSchema(), _round_from_args(request.form))
        if data is not None:
            try:
                row = ops.record_round(db.session, company, data, actor=g.user.email)
            except AppError as exc:
                db.session.rollback()
                errors = _errors_of(exc)
            else:
                db.session.commit()
                flash(_("Financing round recorded."), "success")
                return redirect(url_for("portfolio.round_page", round_id=row.id))
    return render_template("portfolio/new_round.html", company=company, form=form,
                           errors=errors, rows=ROWS,
                           kind_labels=KIND_LABELS), 422 if errors else 200


@bp.get("/rounds/<int:round_id>")
def round_page(round_id: int):
    row = ops.get_round(db.session, round_id)
    return render_template("portfolio/round.html", rnd=row, kind_labels=KIND_LABELS,
                           errors={})


@bp.post("/rounds/<int:round_id>/documents")
def upload_document(round_id: int):
    row = ops.get_round(db.session, round_id)
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise ValidationFailed(_l("Choose a file."), details={"file": [_("Choose a file.")]})
        ops.attach_evidence(db.session, row, filename=upload.filename, content=upload.read(),
                            actor=g.user.email)
    except AppError as exc:
        db.session.rollback()
        return render_template("portfolio/round.html", rnd=row, kind_labels=KIND_LABELS,
                               errors=_errors_of(exc)), 422
    db.session.commit()
    flash(_("Evidence document kept."), "success")
    return redirect(url_for("portfolio.round_page", round_id=round_id))


@bp.get("/documents/<int:document_id>")
def document(document_id: int):
    doc = db.session.get(EvidenceDocument, document_id) if document_id <= ops.MAX_ID else None
    if doc is None or not ops.evidence_path(doc.sha256).exists():
        abort(404)
    return send_file(ops.evidence_path(doc.sha256), mimetype=doc.content_type,
                     download_name=doc.filename, as_attachment=True)


@bp.get("/companies/<int:company_id>/cap-table")
def cap_table(company_id: int):
    company = ops.get_company(db.session, company_id)
    view = queries.cap_table_view(db.session, company_id)
    grants_of = db.session.scalars(queries.grants_query(company_id=company_id)).unique().all()
    return render_template("portfolio/cap_table.html", company=company, view=view,
                           grants=grants_of, status_labels=STATUS_LABELS,
                           kind_labels=KIND_LABELS)


# --------------------------------------------------------------------------- policies


@bp.get("/policies")
def policies():
    ops.ensure_default_policy(db.session)
    db.session.commit()
    return render_template("portfolio/policies.html",
                           versions=queries.policy_versions(db.session), parameters=PARAMETERS)


@bp.route("/policies/new", methods=["GET", "POST"])
def new_policy():
    ops.ensure_default_policy(db.session)
    current = ops.policy_in_force(db.session, date.today())
    errors: dict[str, Any] = {}
    form: dict[str, Any] = request.form.to_dict() if request.method == "POST" else {
        "effective_on": date.today().isoformat(),
        **{f"value_{k}": _as_text(v) for k, v in current.values.items()}}
    if request.method == "POST":
        values: dict[str, Any] = {}
        for name, (kind, _clause) in PARAMETERS.items():
            text = form.get(f"value_{name}", "").strip()
            values[name] = _from_text(kind, text)
        raw = _blank_to_none({k: form.get(k, "").strip() for k in (
            "version", "effective_on", "approved_by", "ic_resolution_ref", "note")})
        raw["values"] = values
        data, errors = _load(PolicyCreateSchema(), raw)
        if data is not None:
            try:
                ops.create_policy_version(db.session, actor=g.user.email, **data)
            except AppError as exc:
                db.session.rollback()
                errors = _errors_of(exc)
                errors.update({f"value_{k}": v for k, v in errors.pop("values", {}).items()})
            else:
                db.session.commit()
                flash(_("New policy version saved."), "success")
                return redirect(url_for("portfolio.policies"))
    db.session.commit()
    return render_template("portfolio/new_policy.html", form=form, errors=errors,
                           parameters=PARAMETERS), 422 if errors else 200


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def _from_text(kind: str, text: str) -> Any:
    if kind == "bool":
        return {"true": True, "false": False}.get(text.lower(), text)
    if kind == "int":
        return int(text) if text.isdigit() else text
    if kind == "split":
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind.endswith("_or_null") and not text:
        return None
    return text


# --------------------------------------------------------------------------- portfolio (issue 5)

from fundapp.portfolio import kpis as kpi_ops  # noqa: E402
from fundapp.portfolio.charts import bar_chart_svg, line_chart_svg, performance_charts  # noqa: E402
from fundapp.portfolio.models import (  # noqa: E402
    Appraisal,
    CashFlow,
    Exit,
    ExitKind,
    FlowKind,
    IndexSeries,
    MarkMethod,
    ValuationMark,
)
from fundapp.portfolio.performance import (  # noqa: E402
    check_as_of,
    performance_summary,
    shanghai_today,
)
from fundapp.portfolio.schemas import (  # noqa: E402
    AppraisalCreateSchema,
    BalanceCreateSchema,
    CashFlowCreateSchema,
    ExitCreateSchema,
    MarkCreateSchema,
)

MARK_METHODS = {
    MarkMethod.RECENT_ROUND: _l("Price of a recent round"),
    MarkMethod.MULTIPLES: _l("Multiples"),
    MarkMethod.DCF: _l("Discounted cash flow"),
    MarkMethod.NET_ASSETS: _l("Net assets"),
    MarkMethod.QUOTED: _l("Quoted price"),
    MarkMethod.WRITE_OFF: _l("Write-off"),
}
EXIT_KINDS = {
    ExitKind.BUYBACK: _l("Team buy-back (R7)"),
    ExitKind.EXCHANGE: _l("Property-rights exchange (R9)"),
    ExitKind.TRADE_SALE: _l("Trade sale"),
    ExitKind.IPO_SALE: _l("IPO sale"),
    ExitKind.LIQUIDATION: _l("Liquidation"),
}
FLOW_KINDS = {
    FlowKind.GRANT_DISBURSEMENT: _l("Grant disbursement"),
    FlowKind.REFUND: _l("Refund"),
    FlowKind.FOLLOW_ON: _l("Follow-on investment"),
    FlowKind.BUYBACK_PROCEEDS: _l("Buy-back proceeds"),
    FlowKind.EXIT_PROCEEDS: _l("Exit proceeds"),
    FlowKind.DIVIDEND: _l("Dividend"),
    FlowKind.RECOVERY: _l("Recovery"),
    FlowKind.FEE: _l("Fee"),
}


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


def _holding_page(holding_id: int, errors: dict[str, Any] | None = None,
                  form: dict | None = None, action: str = "", status: int = 200):
    holding = ops.get_holding(db.session, holding_id)
    as_of = shanghai_today()
    summary = performance_summary(db.session, as_of, detail=False)
    row = next((h for h in summary["holdings"] if h["holding_id"] == holding.id), None)
    marks = db.session.scalars(select(ValuationMark).where(ValuationMark.holding_id == holding.id)
                               .order_by(ValuationMark.measured_on.desc(),
                                         ValuationMark.id.desc())).all()
    flows = db.session.scalars(select(CashFlow).where(CashFlow.holding_id == holding.id)
                               .order_by(CashFlow.on, CashFlow.id)).all()
    exits = db.session.scalars(select(Exit).where(Exit.holding_id == holding.id)
                               .order_by(Exit.transfer_on, Exit.id)).all()
    appraisals = db.session.scalars(select(Appraisal).where(Appraisal.holding_id == holding.id)
                                    .order_by(Appraisal.filed_on.desc())).all()
    return render_template("portfolio/holding.html", holding=holding, row=row, marks=marks,
                           flows=flows, exits=exits, appraisals=appraisals,
                           mark_methods=MARK_METHODS, exit_kinds=EXIT_KINDS,
                           flow_kinds=FLOW_KINDS, errors=errors or {}, form=form or {},
                           action=action, as_of=as_of), status


@bp.get("/portfolio/holdings/<int:holding_id>")
def holding(holding_id: int):
    return _holding_page(holding_id)


HOLDING_ACTIONS = {
    "mark": (MarkCreateSchema, _l("Draft mark saved; another person must finalise it.")),
    "finalise": (None, _l("Mark finalised.")),
    "appraisal": (AppraisalCreateSchema, _l("Appraisal recorded.")),
    "exit": (ExitCreateSchema, _l("Exit recorded.")),
    "balance": (BalanceCreateSchema, _l("Balance recorded.")),
    "flow": (CashFlowCreateSchema, _l("Cash flow recorded.")),
}


@bp.post("/portfolio/holdings/<int:holding_id>/<any(mark, finalise, appraisal, exit, balance, "
         "flow):action>")
def holding_action(holding_id: int, action: str):
    schema_cls, done = HOLDING_ACTIONS[action]
    form = request.form.to_dict()
    raw = _blank_to_none({k: v.strip() for k, v in form.items() if k != "csrf_token"})
    holding_row = ops.get_holding(db.session, holding_id)
    data, errors = ({}, {}) if schema_cls is None else _load(
        schema_cls(), {k: v for k, v in raw.items() if k not in ("mark_id", "exit_id")})
    if data is not None and not errors:
        try:
            actor = g.user.email
            if action == "mark":
                ops.record_mark(db.session, holding_row, measured_on=data["measured_on"],
                                method=MarkMethod(data["method"]),
                                value_per_unit=data["value_per_unit"], inputs=data["inputs"],
                                note=data["note"], actor=actor)
            elif action == "finalise":
                mark = ops.get_mark(db.session, int(raw.get("mark_id", "0") or 0))
                if mark.holding_id != holding_row.id:
                    abort(404)
                ops.finalise_mark(db.session, mark, actor=actor)
            elif action == "appraisal":
                ops.record_appraisal(db.session, holding_row, actor=actor, **data)
            elif action == "exit":
                kind = ExitKind(data.pop("kind"))
                ops.record_exit(db.session, holding_row, kind=kind, actor=actor, **data)
            elif action == "balance":
                row = db.session.get(Exit, int(raw.get("exit_id", "0") or 0))
                if row is None or row.holding_id != holding_row.id:
                    abort(404)
                ops.record_exit_balance(db.session, row, paid_on=data["paid_on"], actor=actor)
            else:
                kind = FlowKind(data["kind"])
                if kind == FlowKind.FOLLOW_ON:
                    ops.record_follow_on(db.session, on=data["on"], amount=data["amount"],
                                         units=data["units"] or Decimal("0"),
                                         holding_id=holding_row.id,
                                         reference=data["reference"], actor=actor)
                else:
                    ops.record_income(db.session, kind=kind, on=data["on"],
                                      amount=data["amount"], holding_id=holding_row.id,
                                      reference=data["reference"], note=data["note"],
                                      actor=actor)
        except AppError as exc:
            db.session.rollback()
            errors = _errors_of(exc)
        else:
            db.session.commit()
            flash(str(done), "success")
            return redirect(url_for("portfolio.holding", holding_id=holding_id))
    return _holding_page(holding_id, errors, form, action, 422 if errors else 200)


@bp.get("/portfolio/kpis")
def kpis(errors: dict[str, Any] | None = None, status: int = 200):
    today = shanghai_today()
    quarter = request.args.get("quarter", "")
    rows = kpi_ops.kpi_rows(db.session, quarter=quarter, today=today)
    summary = kpi_ops.kpi_summary(db.session, today)
    years = summary["years"]
    charts = {
        "va": bar_chart_svg([(y["year"], y["value_added_per_employee"]) for y in years],
                            title=_("Value added per employee (CNY/year)"),
                            reference=summary["target_value_added_per_employee"],
                            reference_label=_("2026 target"), value_format="{:,.0f}"),
        "rd": bar_chart_svg([(y["year"], y["rd_to_revenue"]) for y in years],
                            title=_("R&D spend / revenue"), value_format="{:.1%}"),
        "pct": bar_chart_svg([(y["year"], y["pct_applications"]) for y in years],
                             title=_("PCT applications"), value_format="{:.0f}"),
    }
    return render_template("portfolio/kpis.html", rows=rows, summary=summary, charts=charts,
                           quarter=quarter, errors=errors or {}, fields=kpi_ops.FIELDS), status


@bp.post("/portfolio/kpis/<int:report_id>/answer")
def kpi_answer(report_id: int):
    form = request.form.to_dict()
    try:
        answered = date.fromisoformat(form.get("answered_on", "") or shanghai_today().isoformat())
        kpi_ops.record_kpi_answer(db.session, kpi_ops.get_report(db.session, report_id), form,
                                  answered_on=answered, actor=g.user.email)
    except ValueError:
        return kpis({"answered_on": [_("Not a valid date.")]}, 422)
    except AppError as exc:
        db.session.rollback()
        return kpis(_errors_of(exc), 422)
    db.session.commit()
    flash(_("KPI answer saved."), "success")
    return redirect(url_for("portfolio.kpis"))


@bp.post("/portfolio/kpis/import")
def kpi_import():
    upload = request.files.get("file")
    try:
        count = kpi_ops.import_kpi_csv(db.session, upload.read() if upload else b"",
                                       answered_on=shanghai_today(), actor=g.user.email)
    except AppError as exc:
        db.session.rollback()
        return kpis(_errors_of(exc), 422)
    db.session.commit()
    flash(_("%(n)s KPI answers imported.", n=count), "success")
    return redirect(url_for("portfolio.kpis"))


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
        ops.import_index_series(db.session, name=request.form.get("name", ""),
                                content=upload.read() if upload else b"", actor=g.user.email)
    except AppError as exc:
        db.session.rollback()
        return index_series(_errors_of(exc), 422)
    db.session.commit()
    flash(_("Index series imported."), "success")
    return redirect(url_for("portfolio.index_series"))
