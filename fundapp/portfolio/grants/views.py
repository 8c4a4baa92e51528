"""Pages of grant agreements and of the fund's policy versions.

Forms load through the API's schemas (their form variants gather numbered rows and per-value
inputs into the API's shape) and run their operation inside an `attempt`: a refusal rolls back
at once and comes back as messages by field. The views never commit; the request's unit of work
does. A GET never writes: the policy pages show what exists, or say that nothing does yet.
"""

from __future__ import annotations

from datetime import date

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from fundapp.deals.models import Deal
from fundapp.extensions import db
from fundapp.fund.models import PolicyVersion
from fundapp.fund.operations import create_policy_version
from fundapp.fund.policies import PARAMETERS, load_default_file
from fundapp.fund.queries import policy_versions
from fundapp.inputs import load_form
from fundapp.pagination import paginate
from fundapp.portfolio.conversion.operations import (
    record_alternative_condition_met,
    record_registration,
    registration_overdue,
)
from fundapp.portfolio.conversion.schemas import (
    AlternativeConditionCreateSchema,
    RegistrationCreateSchema,
)
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
from fundapp.portfolio.grants.queries import (
    PICKER_LIMIT,
    deals_ready_for_agreement,
    grants_query,
)
from fundapp.portfolio.grants.schemas import (
    TRANCHE_ROWS,
    AcceptanceCreateSchema,
    BreachCreateSchema,
    DisbursementCreateSchema,
    GrantFormSchema,
    OverrideFormSchema,
    PolicyFormSchema,
    RefundCreateSchema,
    ReviewCreateSchema,
    ToleranceClosureSchema,
    as_text,
)
from fundapp.portfolio.rounds.operations import live_checks
from fundapp.portfolio.rounds.queries import company_rounds
from fundapp.portfolio.web import attempt_naming_the_clause, bp, current_actor
from fundapp.ui import format_money, reader_name

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


def _deal_option(deal) -> dict:
    """A deal as the picker lists it: plain values."""
    company = reader_name(deal.company.legal_name, deal.company.name_en)
    project = reader_name(deal.project_name, deal.project_name_en)
    return {"id": deal.id, "label": f"{company} · {project} "
                                    f"({_('budget')} {format_money(deal.approved_budget_amount)})"}


def _deal_options(query: str, chosen: str = "") -> tuple[list[dict], bool]:
    """The deals the picker offers for `query` (at most PICKER_LIMIT, and whether more match),
    with the chosen one kept among them."""
    deals = deals_ready_for_agreement(db.session, query, limit=PICKER_LIMIT + 1)
    more = len(deals) > PICKER_LIMIT
    options = [_deal_option(d) for d in deals[:PICKER_LIMIT]]
    if chosen.isdigit() and all(str(o["id"]) != chosen for o in options):
        kept = db.session.get(Deal, int(chosen)) if int(chosen) < 2**31 else None
        if kept is not None:
            options.insert(0, _deal_option(kept))
    return options, more


@bp.get("/grants/new/deals")
def grant_deal_options():
    """The new grant page's search-as-you-type picker: deals ready for an agreement (JSON)."""
    options, more = _deal_options(request.args.get("q", "")[:100])
    return jsonify({"items": options, "more": more})


@bp.route("/grants/new", methods=["GET", "POST"])
def new_grant():
    # A picker that searches (issue 14): never every deal in one drop-down.
    deal_query = request.args.get("deal_q", "")[:100]
    chosen = (request.form if request.method == "POST" else request.args).get("deal_id", "")
    deals, more_deals = _deal_options(deal_query, chosen)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        grant, errors, _refusal = attempt_naming_the_clause(lambda: create_grant(
            db.session, actor=current_actor(), **load_form(GrantFormSchema())))
        if not errors:
            flash(_("Grant agreement signed."), "success")
            return redirect(url_for("portfolio.grant", grant_id=grant.id))
    # On a refusal the template shows the posted values next to the messages.
    defaults = {"deal_id": request.args.get("deal_id", ""), "signed_on": date.today().isoformat()}
    return render_template("portfolio/new_grant.html", deals=deals, more_deals=more_deals,
                           deal_query=deal_query, defaults=defaults, errors=errors,
                           tranche_rows=TRANCHE_ROWS), 422 if errors else 200


def grant_page(grant_id: int, errors: dict[str, list[str]] | None = None, action: str = "",
               status: int = 200):
    """The grant's page; after a refused action, that action's form shows what was typed."""
    grant = get_grant(db.session, grant_id)
    rounds = company_rounds(db.session, grant.company_id)
    stored = {c.round_id: c.clauses for r in rounds for c in r.checks if c.grant_id == grant.id}
    is_open = grant.status in (GrantStatus.DISBURSING, GrantStatus.RD_ACCEPTED)
    # An open grant is checked as it stands now; a closed one shows what was recorded.
    checks = live_checks(grant, rounds) if is_open else stored
    values = grant_policy_values(grant)
    return render_template(
        "portfolio/grant.html", grant=grant, rounds=rounds, checks=checks, values=values,
        status_labels=STATUS_LABELS, tranche_labels=TRANCHE_LABELS, errors=errors or {},
        action=action, is_open=is_open, overdue=registration_overdue(grant, date.today()),
        parameters=PARAMETERS), status


@bp.get("/grants/<int:grant_id>")
def grant(grant_id: int):
    return grant_page(grant_id)


# action -> (the form's schema, the operation, what the page says when it is done)
ACTIONS = {
    "review": (ReviewCreateSchema, record_milestone_review, _l("Milestone review recorded.")),
    "disburse": (DisbursementCreateSchema, disburse, _l("Tranche released.")),
    "refund": (RefundCreateSchema, record_refund, _l("Refund recorded.")),
    "accept": (AcceptanceCreateSchema, accept_rd, _l("R&D acceptance recorded.")),
    "breach": (BreachCreateSchema, declare_breach, _l("Breach declared.")),
    "tolerance": (ToleranceClosureSchema, close_with_tolerance,
                  _l("Closed with tolerance.")),
    "override": (OverrideFormSchema, override_grant_policy, _l("Policy override saved.")),
    "registration": (RegistrationCreateSchema, record_registration,
                     _l("Registration recorded.")),
    "alternative": (AlternativeConditionCreateSchema, record_alternative_condition_met,
                    _l("Alternative condition recorded as met (R3.f).")),
}


@bp.post("/grants/<int:grant_id>/<any(review, disburse, refund, accept, breach, tolerance, "
         "override, registration, alternative):action>")
def grant_action(grant_id: int, action: str):
    schema_cls, operation, done = ACTIONS[action]
    grant = get_grant(db.session, grant_id)
    _result, errors, _refusal = attempt_naming_the_clause(lambda: operation(
        db.session, grant, actor=current_actor(), **load_form(schema_cls())))
    if not errors:
        flash(str(done), "success")
        return redirect(url_for("portfolio.grant", grant_id=grant_id))
    return grant_page(grant_id, errors, action, 422)


# --------------------------------------------------------------------------- policies


def _policy_today() -> PolicyVersion | None:
    """The version in force today, read only (the default policy is created with the fund)."""
    return db.session.scalar(select(PolicyVersion).where(PolicyVersion.effective_on
                                                         <= date.today())
                             .order_by(PolicyVersion.effective_on.desc(),
                                       PolicyVersion.id.desc()).limit(1))


@bp.get("/policies")
def policies():
    return render_template("portfolio/policies.html",
                           versions=policy_versions(db.session), parameters=PARAMETERS)


@bp.route("/policies/new", methods=["GET", "POST"])
def new_policy():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        _row, errors, _refusal = attempt_naming_the_clause(lambda: create_policy_version(
            db.session, actor=current_actor(), **load_form(PolicyFormSchema())))
        if not errors:
            flash(_("New policy version saved."), "success")
            return redirect(url_for("portfolio.policies"))
    # The form starts from the values in force today, or the shipped defaults before any
    # version exists; on a refusal the template shows the posted values.
    current = _policy_today()
    values = current.values if current is not None else load_default_file()["values"]
    defaults = {"effective_on": date.today().isoformat(),
                **{f"value_{k}": as_text(v) for k, v in values.items()}}
    return render_template("portfolio/new_policy.html", defaults=defaults, errors=errors,
                           parameters=PARAMETERS), 422 if errors else 200


# --------------------------------------------------------------------------- corrections (issue 12)


def _tranche_group(grant, editable_only: bool) -> dict:
    return {"key": "tranches", "label": _("Tranches"),
            "hint": _("Amounts and conditions of tranches not yet paid; the tranches must sum "
                      "to the award (R2.b)."),
            "columns": [{"key": "position", "input": "tranche_position", "label": "#",
                         "readonly": True},
                        {"key": "status", "label": _("Status"), "readonly": True},
                        {"key": "amount", "input": "tranche_amount", "label": _("Amount (CNY)"),
                         "numeric": True},
                        {"key": "milestone", "input": "tranche_milestone",
                         "label": _("Condition (milestone)")}]}


def _tranche_values(grant) -> list[dict]:
    return [{"position": t.position, "status": str(TRANCHE_LABELS.get(t.status, t.status)),
             "amount": str(t.amount), "milestone": t.milestone} for t in grant.tranches]


def _posted_tranches(grant) -> tuple[list[dict], list[dict]]:
    """The tranche rows as posted: for the schema, and to show again after a refusal."""
    from fundapp.inputs import form_rows

    status = {t.position: str(TRANCHE_LABELS.get(t.status, t.status)) for t in grant.tranches}
    rows = form_rows(None, position="tranche_position", amount="tranche_amount",
                     milestone="tranche_milestone")
    shown = [{**row, "status": status.get(int(row["position"]), "")
              if row["position"].isdigit() else ""} for row in rows]
    return [{k: v for k, v in row.items() if v or k == "milestone"} for row in rows], shown


GRANT_FIELDS = [
    ("agreement_no", _l("Agreement number"), "text", False),
    ("awarded_amount", _l("Award (CNY)"), "money", True),
    ("approved_budget_amount", _l("Approved budget (CNY)"), "money", True),
    ("signed_on", _l("Signed on"), "date", True),
    ("holder_entity", _l("Holding entity"), "text", True),
    ("exit_filing_no", _l("Exit filing number (R7.d)"), "text", False),
    ("exit_filed_on", _l("Exit filed on (R7.d)"), "date", False),
    ("alternative_conditions", _l("Alternative conditions (R3.f)"), "textarea", False),
]


@bp.route("/grants/<int:grant_id>/edit", methods=["GET", "POST"])
def edit_grant(grant_id: int):
    """Correct a grant agreement before its first disbursement, with a reason (issue 12)."""
    from fundapp.portfolio.grants.operations import correct_grant, has_disbursement
    from fundapp.portfolio.grants.schemas import GrantCorrectionSchema

    grant = get_grant(db.session, grant_id)
    errors: dict[str, list[str]] = {}
    values: dict = {name: "" if getattr(grant, name) is None else str(getattr(grant, name))
                    for name, *_rest in GRANT_FIELDS}
    values["tranches"] = _tranche_values(grant)
    if request.method == "POST":
        rows, shown = _posted_tranches(grant)
        # No tranche rows posted: the schedule keeps its shares of a corrected award.
        extra = {"tranches": rows} if rows else {}
        _saved, errors, refusal = attempt_naming_the_clause(lambda: correct_grant(
            db.session, grant_id, actor=current_actor(),
            **load_form(GrantCorrectionSchema(), **extra)))
        if not errors:
            flash(_("Correction saved."), "success")
            return redirect(url_for("portfolio.grant", grant_id=grant_id))
        values = {**request.form.to_dict(), "tranches": shown}
    elif has_disbursement(grant):
        errors = {"_form": [_("The grant has a disbursement: correct it by a refund or "
                              "reversal.")]}
    fields = [{"name": name, "label": label, "kind": kind, "required": required}
              for name, label, kind, required in GRANT_FIELDS]
    return render_template("corrections/form.html", values=values, errors=errors,
                           title=_("Correct grant agreement %(no)s",
                                   no=grant.agreement_no or grant.id),
                           intro=_("Only before the first disbursement; a corrected award keeps "
                                   "the tranches' shares unless you change them."),
                           fields=fields, row_groups=[_tranche_group(grant, False)],
                           cancel_url=url_for("portfolio.grant", grant_id=grant_id)), \
        (refusal.status if refusal else 422) if errors and request.method == "POST" else 200


@bp.route("/grants/<int:grant_id>/tranches/edit", methods=["GET", "POST"])
def edit_tranches(grant_id: int):
    """Correct the tranche schedule's unpaid tranches, with a reason (issue 12)."""
    from fundapp.portfolio.grants.operations import correct_tranches
    from fundapp.portfolio.grants.schemas import TrancheScheduleCorrectionSchema

    grant = get_grant(db.session, grant_id)
    errors: dict[str, list[str]] = {}
    values: dict = {"tranches": _tranche_values(grant)}
    if request.method == "POST":
        rows, shown = _posted_tranches(grant)
        _saved, errors, refusal = attempt_naming_the_clause(lambda: correct_tranches(
            db.session, grant_id, actor=current_actor(),
            **load_form(TrancheScheduleCorrectionSchema(), tranches=rows)))
        if not errors:
            flash(_("Correction saved."), "success")
            return redirect(url_for("portfolio.grant", grant_id=grant_id))
        values = {**request.form.to_dict(), "tranches": shown}
    return render_template("corrections/form.html", values=values, errors=errors,
                           title=_("Correct the tranche schedule"),
                           intro=_("Award: %(award)s CNY.", award=format_money(grant.awarded_amount)),
                           fields=[], row_groups=[_tranche_group(grant, True)],
                           cancel_url=url_for("portfolio.grant", grant_id=grant_id)), \
        422 if errors else 200
