"""Pages of grant agreements and of the fund's policy versions.

Forms are read into plain dicts and checked by the same marshmallow schemas as the API, so a
page and the API refuse the same input with the same field messages.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fundapp.errors import AppError
from fundapp.extensions import db
from fundapp.fund.operations import create_policy_version, ensure_default_policy, policy_in_force
from fundapp.fund.policies import PARAMETERS
from fundapp.fund.queries import policy_versions
from fundapp.pagination import paginate
from fundapp.portfolio.conversion.operations import (
    record_alternative_condition_met,
    record_registration,
    registration_overdue,
)
from fundapp.portfolio.conversion.schemas import AlternativeConditionCreateSchema
from fundapp.portfolio.grants.models import GrantStatus, TrancheStatus
from fundapp.portfolio.grants.operations import (
    accept_rd,
    close_with_tolerance,
    create_grant,
    declare_breach,
    disburse,
    get_grant,
    grant_policy_values,
    override_grant_policy,
    record_milestone_review,
    record_refund,
)
from fundapp.portfolio.grants.queries import deals_ready_for_agreement, grants_query
from fundapp.portfolio.grants.schemas import (
    AcceptanceCreateSchema,
    BreachCreateSchema,
    DisbursementCreateSchema,
    GrantCreateSchema,
    OverrideCreateSchema,
    PolicyCreateSchema,
    RefundCreateSchema,
    ReviewCreateSchema,
    ToleranceClosureSchema,
)
from fundapp.portfolio.rounds.operations import live_checks
from fundapp.portfolio.rounds.queries import company_rounds
from fundapp.portfolio.web import blank_to_none, bp, errors_of, load_form

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


# --------------------------------------------------------------------------- grants


@bp.get("/grants")
def grants():
    status = request.args.get("status", "")
    page = paginate(db.session, grants_query(status), request.args.get("page", 1))
    return render_template("portfolio/grants.html", page=page, status=status,
                           status_labels=STATUS_LABELS)


@bp.route("/grants/new", methods=["GET", "POST"])
def new_grant():
    deals = deals_ready_for_agreement(db.session)
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
        raw = blank_to_none({k: form.get(k, "").strip() for k in (
            "deal_id", "awarded_amount", "approved_budget_amount", "signed_on", "holder_entity",
            "agreement_no", "exit_filing_no", "exit_filed_on", "alternative_conditions",
            "override_ic_ref", "r10_ic_ref")})
        if tranches:
            raw["tranches"] = tranches
        data, errors = load_form(GrantCreateSchema(), raw)
        if data is not None:
            try:
                grant = create_grant(db.session, actor=g.user.email, **data)
            except AppError as exc:
                db.session.rollback()
                errors = errors_of(exc)
            else:
                db.session.commit()
                flash(_("Grant agreement signed."), "success")
                return redirect(url_for("portfolio.grant", grant_id=grant.id))
    status = 422 if errors else 200
    return render_template("portfolio/new_grant.html", deals=deals, form=form,
                           errors=errors), status


def grant_page(grant_id: int, errors: dict[str, Any] | None = None, form: dict | None = None,
               action: str = "", status: int = 200):
    grant = get_grant(db.session, grant_id)
    rounds = company_rounds(db.session, grant.company_id)
    stored = {c.round_id: c.clauses for r in rounds for c in r.checks if c.grant_id == grant.id}
    is_open = grant.status in (GrantStatus.DISBURSING, GrantStatus.RD_ACCEPTED)
    # An open grant is checked as it stands now; a closed one shows what was recorded.
    checks = live_checks(grant, rounds) if is_open else stored
    values = grant_policy_values(grant)
    return render_template(
        "portfolio/grant.html", grant=grant, rounds=rounds, checks=checks, values=values,
        status_labels=STATUS_LABELS, tranche_labels=TRANCHE_LABELS, errors=errors or {}, form=form or {}, action=action,
        is_open=is_open,
        overdue=registration_overdue(grant, date.today()),
        parameters=PARAMETERS), status


@bp.get("/grants/<int:grant_id>")
def grant(grant_id: int):
    return grant_page(grant_id)


ACTIONS = {
    "review": (ReviewCreateSchema, record_milestone_review, _l("Milestone review recorded.")),
    "disburse": (DisbursementCreateSchema, disburse, _l("Tranche released.")),
    "refund": (RefundCreateSchema, record_refund, _l("Refund recorded.")),
    "accept": (AcceptanceCreateSchema, accept_rd, _l("R&D acceptance recorded.")),
    "breach": (BreachCreateSchema, declare_breach, _l("Breach declared.")),
    "tolerance": (ToleranceClosureSchema, close_with_tolerance,
                  _l("Closed with tolerance.")),
    "override": (OverrideCreateSchema, override_grant_policy, _l("Policy override saved.")),
    "registration": (None, record_registration, _l("Registration recorded.")),
    "alternative": (AlternativeConditionCreateSchema, record_alternative_condition_met,
                    _l("Alternative condition recorded as met (R3.f).")),
}


@bp.post("/grants/<int:grant_id>/<any(review, disburse, refund, accept, breach, tolerance, "
         "override, registration, alternative):action>")
def grant_action(grant_id: int, action: str):
    schema_cls, operation, done = ACTIONS[action]
    form = request.form.to_dict()
    raw: dict[str, Any] = blank_to_none({k: v.strip() for k, v in form.items()
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
    grant = get_grant(db.session, grant_id)
    if schema_cls is None:
        try:
            data, errors = {"registered_on": date.fromisoformat(raw.get("registered_on", ""))}, {}
        except ValueError:
            data, errors = None, {"registered_on": [_("Not a valid date.")]}
    else:
        data, errors = load_form(schema_cls(), raw)
    if data is not None:
        try:
            operation(db.session, grant, actor=g.user.email, **data)
        except AppError as exc:
            db.session.rollback()
            errors = errors_of(exc)
        else:
            db.session.commit()
            flash(str(done), "success")
            return redirect(url_for("portfolio.grant", grant_id=grant_id))
    return grant_page(grant_id, errors, form, action, 422)


# --------------------------------------------------------------------------- policies


@bp.get("/policies")
def policies():
    ensure_default_policy(db.session)
    db.session.commit()
    return render_template("portfolio/policies.html",
                           versions=policy_versions(db.session), parameters=PARAMETERS)


@bp.route("/policies/new", methods=["GET", "POST"])
def new_policy():
    ensure_default_policy(db.session)
    current = policy_in_force(db.session, date.today())
    errors: dict[str, Any] = {}
    form: dict[str, Any] = request.form.to_dict() if request.method == "POST" else {
        "effective_on": date.today().isoformat(),
        **{f"value_{k}": _as_text(v) for k, v in current.values.items()}}
    if request.method == "POST":
        values: dict[str, Any] = {}
        for name, (kind, _clause) in PARAMETERS.items():
            text = form.get(f"value_{name}", "").strip()
            values[name] = _from_text(kind, text)
        raw = blank_to_none({k: form.get(k, "").strip() for k in (
            "version", "effective_on", "approved_by", "ic_resolution_ref", "note")})
        raw["values"] = values
        data, errors = load_form(PolicyCreateSchema(), raw)
        if data is not None:
            try:
                create_policy_version(db.session, actor=g.user.email, **data)
            except AppError as exc:
                db.session.rollback()
                errors = errors_of(exc)
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
