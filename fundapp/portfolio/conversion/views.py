"""Pages of conversion previews (what-if sheets), conversions and cap tables.

The conversion form loads through the API's schema and runs inside an `attempt`; the views never
commit, the request's unit of work does. A preview only reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fundapp.errors import RuleRefused
from fundapp.extensions import db
from fundapp.fund.queries import policy_versions
from fundapp.inputs import load_form
from fundapp.portfolio.common import field_error, get_company
from fundapp.portfolio.conversion import engine as calc
from fundapp.portfolio.conversion import reversals
from fundapp.portfolio.conversion.operations import (
    WHAT_IF_PARAMETERS,
    Preview,
    Side,
    conversion_sensitivity,
    convert_grant,
    pinned_policy_name,
    plan_conversion,
    preview_conversion,
    preview_side,
    registration_overdue,
    what_if_policy,
    what_if_texts,
)
from fundapp.portfolio.conversion.queries import cap_table_view
from fundapp.portfolio.conversion.schemas import (
    ConversionFormSchema,
    ConversionReversalSchema,
    DisbursementReversalSchema,
)
from fundapp.portfolio.grants.models import Grant
from fundapp.portfolio.grants.operations import get_grant
from fundapp.portfolio.grants.queries import grants_query
from fundapp.portfolio.grants.views import STATUS_LABELS, TRANCHE_LABELS, grant_page
from fundapp.portfolio.rounds.queries import company_rounds
from fundapp.portfolio.rounds.schemas import ROWS, RoundFormSchema
from fundapp.portfolio.rounds.views import KIND_LABELS
from fundapp.portfolio.web import attempt_naming_the_clause, bp, current_actor
from fundapp.ui import format_money

# --------------------------------------------------------------------------- preview, conversion


def _scenario(mode: str) -> dict[str, Any] | None:
    """The round of the query string: a recorded round, or a hypothetical one."""
    if mode == "recorded" and request.args.get("round_id", "").isdigit():
        return {"round_id": int(request.args["round_id"])}
    if mode == "hypothetical":
        data = load_form(RoundFormSchema(), request.args)
        return {"round_data": data, "holders_before": data.get("holders_before")}
    return None


def _preview(grant: Grant, mode: str) -> Preview | None:
    """The what-if sheet of the query string under the grant's pinned policy."""
    scenario = _scenario(mode)
    return preview_conversion(db.session, grant, **scenario) if scenario is not None else None


# What a refused cell or column is called on the page (its clause id is shown beside it).
REFUSAL_LABELS = {
    "R3": _l("Not a qualifying financing"),
    "R3.a": _l("Not a priced cash equity round"),
    "R3.b": _l("Outside the conversion window and grace period"),
    "R3.c": _l("Closes before R&D acceptance"),
    "R3.d": _l("Too little new money"),
    "R3.e": _l("No independent lead investor"),
    "R4.a": _l("Refunds exceed payments"),
    "R5.a": _l("No pre-money valuation"),
    "R5.b": _l("Pre-money does not exceed the converting amount"),
    "R6.b": _l("Conversion price below par"),
    "R6.c": _l("Cap table does not match the round"),
    "R6.d": _l("Stake cap cannot be met"),
}
SENSITIVITY_FIELDS = ("pre_money", "discount", "closing_on")
WHAT_IF_INPUTS = ("policy_version_id", *(f"what_if_{n}" for n in WHAT_IF_PARAMETERS))


def refusal_label(clause: str | None) -> str:
    return str(REFUSAL_LABELS.get(clause or "", _l("Refused by the rule book")))


def percent_text(fraction: Decimal) -> str:
    """0.2 -> '20%', 0.125 -> '12.5%' (a discount as typed, exact)."""
    text = format((fraction * 100).normalize(), "f")
    return f"{text}%"


def _sensitivity(grant: Grant, mode: str) -> calc.SensitivityGrid | None:
    scenario = _scenario(mode)
    if scenario is None:
        return None
    return conversion_sensitivity(db.session, grant, pre_money=request.args.getlist("pre_money"),
                                  discount=request.args.getlist("discount"),
                                  closing_on=request.args.getlist("closing_on"), **scenario)


def _comparison(grant: Grant, mode: str) -> dict[str, Any] | None:
    """The pinned policy's preview beside the what-if policy's, with what differs."""
    raw_id = request.args.get("policy_version_id", "").strip()
    if raw_id and not raw_id.isdigit():
        raise field_error("policy_version_id", _l("There is no such policy version."))
    what_if = what_if_policy(db.session, grant,
                             policy_version_id=int(raw_id) if raw_id else None,
                             changes=what_if_texts(request.args))
    scenario = _scenario(mode)
    if what_if is None or scenario is None:
        return None
    pinned = preview_side(db.session, grant, pinned_policy_name(grant), None, **scenario)
    other = preview_side(db.session, grant, what_if.name, what_if.policy, **scenario)
    places = 0 if grant.company.legal_form.value == "jsc" else 2

    def shown(side: Side) -> dict[str, str]:
        r = side.result
        if r is None:
            return {"price": "—", "units": "—", "stake": "—", "converted": "—",
                    "refused": f"{side.clause}: {refusal_label(side.clause)}"}
        return {"price": r.conversion_price_display, "units": format_money(r.fund_units, places),
                "stake": r.fund_stake_display, "converted": format_money(r.converted_amount),
                "refused": "—"}

    a, b = shown(pinned), shown(other)
    labels = {"price": _("Conversion price Pc"), "units": _("Fund units"),
              "stake": _("Fund stake"), "converted": _("Converted amount"),
              "refused": _("Refused by")}
    rows = [{"label": label, "pinned": a[key], "what_if": b[key], "differs": a[key] != b[key]}
            for key, label in labels.items()]
    return {"pinned": pinned, "what_if": other, "rows": rows, "policy": what_if}


@bp.get("/grants/<int:grant_id>/preview")
def preview(grant_id: int):
    grant = get_grant(db.session, grant_id)
    rounds = company_rounds(db.session, grant.company_id)
    mode = request.args.get("mode", "")
    found, errors, refusal = attempt_naming_the_clause(lambda: _preview(grant, mode))
    refused = refusal.details.get("clauses") if refusal is not None else None
    # The round reads (it computed, or a rule refused it): the grid and the what-if can run.
    readable = found is not None or isinstance(refusal, RuleRefused)
    grid, grid_errors, _refusal = (attempt_naming_the_clause(lambda: _sensitivity(grant, mode))
                                   if readable else (None, {}, None))
    asked = any(request.args.get(k, "").strip() for k in WHAT_IF_INPUTS)
    comparison, what_if_errors, _refusal = (
        attempt_naming_the_clause(lambda: _comparison(grant, mode)) if readable and asked
        else (None, {}, None))
    bad = errors or grid_errors or what_if_errors
    return render_template("portfolio/preview.html", grant=grant, rounds=rounds,
                           args=request.args, sheet=found.result.to_dict() if found else None,
                           has_table=bool(found and found.has_cap_table), errors=errors,
                           rows=ROWS, kind_labels=KIND_LABELS, mode=mode,
                           refused=refused, grid=grid, grid_errors=grid_errors,
                           comparison=comparison, what_if_errors=what_if_errors,
                           readable=readable,
                           versions=policy_versions(db.session),
                           pinned_name=pinned_policy_name(grant),
                           what_if_parameters=WHAT_IF_PARAMETERS,
                           sensitivity_fields=SENSITIVITY_FIELDS, what_if_inputs=WHAT_IF_INPUTS,
                           refusal_label=refusal_label, percent_text=percent_text,
                           unit_places=0 if grant.company.legal_form.value == "jsc" else 2
                           ), 422 if bad else 200


CONVERSION_FIELDS = ("round_id", "ic_resolution_ref", "keep_undisbursed_ref")


def _typed(names: tuple[str, ...]) -> list[tuple[str, str]]:
    """What the form had typed, to carry through the confirmation step."""
    return [(n, request.form[n]) for n in names if request.form.get(n, "") != ""]


def _conversion_sheet(grant: Grant, data: dict[str, Any]) -> dict[str, Any]:
    """The confirmation page of a conversion: its sheet and what it does to the tranches."""
    preview, _row = plan_conversion(db.session, grant, round_id=data.get("round_id"),
                                    basis=data.get("basis", "round"),
                                    ic_resolution_ref=data.get("ic_resolution_ref") or "")
    r = preview.result
    places = 0 if grant.company.legal_form.value == "jsc" else 2
    rows = [(_("Conversion price Pc"), r.conversion_price_display),
            (_("Fund units"), format_money(r.fund_units, places)),
            (_("Fund stake"), r.fund_stake_display),
            (_("Converting amount"), format_money(r.converting_amount)),
            (_("Converted amount"), format_money(r.converted_amount)),
            (_("Remainder closed as a grant (R6.d)"), format_money(r.remaining_grant_amount)),
            (_("Registration due (R6.g)"), r.registration_due_on.isoformat())]
    keep = bool((data.get("keep_undisbursed_ref") or "").strip())
    paid_at_closing, cancelled = [], []
    for tranche in grant.tranches:
        if tranche.status.value != "pending":
            continue
        paid = sum((d.amount for d in grant.disbursements if d.tranche_id == tranche.id),
                   Decimal("0.00"))
        if r.policy.convert_base == "awarded":
            if paid < tranche.amount:
                paid_at_closing.append([tranche.position, format_money(tranche.amount - paid)])
        elif paid == 0 and not keep:
            cancelled.append([tranche.position, format_money(tranche.amount)])
    head = [_("Tranche"), _("Amount")]
    sections = [{"title": _("Calculation sheet"), "rows": rows},
                {"title": _("Undisbursed tranches cancelled (R4.b)"),
                 "table": {"head": head, "rows": cancelled},
                 "empty": (_("Kept by IC resolution %(ref)s.", ref=data["keep_undisbursed_ref"])
                           if keep else _("No tranche is cancelled."))}]
    if paid_at_closing:
        sections.append({"title": _("Tranches paid at closing (R4.a)"),
                         "table": {"head": head, "rows": paid_at_closing}})
    return {"title": _("Confirm the conversion"),
            "intro": _("Converting the grant cannot be undone. Check the calculation and what "
                       "happens to the tranches."),
            "sections": sections, "confirm_label": _("Confirm the conversion"),
            "action_url": url_for("portfolio.convert", grant_id=grant.id),
            "back_url": url_for("portfolio.grant", grant_id=grant.id, back="convert",
                                **dict(_typed(CONVERSION_FIELDS))) + "#convert",
            "hidden": _typed(CONVERSION_FIELDS)}


def _confirm_then(grant_id: int, form: str, sheet: Callable[[], dict[str, Any]],
                  commit: Callable[[], object], done_message: str, done_url: str):
    """Without ``confirmed=1`` the confirmation page built by `sheet` is shown; with it `commit`
    runs, then `done_message` is flashed and the browser sent to `done_url`. A refusal shows the
    grant's page again with `form` open (409 or 422)."""
    if request.form.get("confirmed") != "1":
        shown, errors, refusal = attempt_naming_the_clause(sheet)
    else:
        shown = None
        _done, errors, refusal = attempt_naming_the_clause(commit)
    if errors:
        status = refusal.status if refusal is not None and refusal.status in (409, 422) else 422
        return grant_page(grant_id, errors, form, status)
    if shown is not None:
        return render_template("confirm.html", **shown)
    flash(done_message, "success")
    return redirect(done_url)


@bp.post("/grants/<int:grant_id>/conversion")
def convert(grant_id: int):
    """Without ``confirmed=1`` the form's values are checked and the calculation sheet shown
    with what the conversion will do; nothing changes until it is confirmed."""
    grant = get_grant(db.session, grant_id)
    return _confirm_then(
        grant_id, "convert",
        lambda: _conversion_sheet(grant, load_form(ConversionFormSchema())),
        lambda: convert_grant(db.session, grant_id, actor=current_actor(),
                              **load_form(ConversionFormSchema())),
        _("The grant was converted."), url_for("portfolio.conversion", grant_id=grant_id))


@bp.get("/grants/<int:grant_id>/conversion")
def conversion(grant_id: int):
    grant = get_grant(db.session, grant_id)
    if grant.conversion is None:
        abort(404)
    return render_template("portfolio/conversion.html", grant=grant, conv=grant.conversion,
                           sheet=grant.conversion.sheet,
                           overdue=registration_overdue(grant, date.today()))


@bp.get("/companies/<int:company_id>/cap-table")
def cap_table(company_id: int):
    company = get_company(db.session, company_id)
    view = cap_table_view(db.session, company_id)
    grants_of = db.session.scalars(grants_query(company_id=company_id)).unique().all()
    return render_template("portfolio/cap_table.html", company=company, view=view,
                           grants=grants_of, status_labels=STATUS_LABELS,
                           kind_labels=KIND_LABELS)


# --------------------------------------------------------------------------- reversals (issue 12)


REVERSAL_FIELDS = ("ic_reference", "reason", "on")


def _typed_reversal() -> list[tuple[str, str]]:
    return [(name, request.form.get(name, "")) for name in REVERSAL_FIELDS
            if request.form.get(name, "")]


def _conversion_reversal_sheet(conversion, data: dict[str, Any]) -> dict[str, Any]:
    """The confirmation page of a conversion's reversal: what is restored and what is removed."""
    plan = reversals.plan_conversion_reversal(db.session, conversion)
    if plan.blockers:
        raise RuleRefused(reversals.RULE, _l(
            "The conversion cannot be reversed: the holding has been used since "
            "(%(blockers)s). Reverse or correct those first.",
            blockers="; ".join(plan.blockers)), blockers=plan.blockers)
    if not data["ic_reference"].strip():
        raise field_error("ic_reference", _l("A conversion is reversed only by an IC "
                                             "resolution: give its reference."))
    grant = plan.grant
    places = 0 if grant.company.legal_form.value == "jsc" else 2
    rows = [(_("Converted on"), conversion.converted_on.isoformat()),
            (_("IC resolution reference"), data["ic_reference"]),
            (_("Reason"), data["reason"]),
            (_("Reversal takes effect on"), data["on"].isoformat()),
            (_("Grant status after"), str(STATUS_LABELS[plan.status_after]))]
    if plan.reopens_remainder:
        rows.append((_("Remainder closed as a grant (R6.d)"),
                     _("reopened: %(amount)s", amount=format_money(
                         conversion.remaining_grant_amount))))
    removed = [(_("Fund units removed from the holding"),
                format_money(conversion.fund_units, places)),
               (_("Cost removed from the holding"), format_money(conversion.converted_amount)),
               (_("Cap table written by the conversion"),
                _("marked reversed; the table before it is current again")
                if plan.cap_table is not None else "—")]
    tranches = [[t.position, format_money(t.amount)] for t in grant.tranches
                if t.position in plan.restored_tranches]
    payments = [[p.tranche.position, p.paid_on.isoformat(), format_money(p.amount)]
                for p in plan.closing_payments]
    return {"title": _("Confirm the reversal of the conversion"),
            "intro": _("The conversion stays in the history, marked reversed, with the IC "
                       "resolution and the reason; the grant can then be converted again."),
            "sections": [
                {"title": _("Reversal"), "rows": rows},
                {"title": _("Removed"), "rows": removed},
                {"title": _("Tranches restored (cancelled by the conversion, R4.b)"),
                 "table": {"head": [_("Tranche"), _("Amount")], "rows": tranches},
                 "empty": _("No tranche was cancelled by the conversion.")},
                {"title": _("Payments at closing reversed (R4.a)"),
                 "table": {"head": [_("Tranche"), _("Paid on"), _("Amount")],
                           "rows": payments},
                 "empty": _("No payment was made at closing.")}],
            "confirm_label": _("Reverse the conversion"),
            "action_url": url_for("portfolio.reverse_conversion", conversion_id=conversion.id),
            "back_url": url_for("portfolio.grant", grant_id=grant.id) + "#reversals",
            "hidden": _typed_reversal()}


@bp.post("/conversions/<int:conversion_id>/reversal")
def reverse_conversion(conversion_id: int):
    """Without ``confirmed=1`` the consequences are shown; nothing changes until confirmed."""
    conversion = reversals.get_conversion(db.session, conversion_id)
    grant_id = conversion.grant_id
    return _confirm_then(
        grant_id, "reverse_conversion",
        lambda: _conversion_reversal_sheet(conversion, load_form(ConversionReversalSchema())),
        lambda: reversals.reverse_conversion(db.session, conversion_id, actor=current_actor(),
                                             **load_form(ConversionReversalSchema())),
        _("The conversion was reversed; the grant can be converted again."),
        url_for("portfolio.grant", grant_id=grant_id))


def _disbursement_reversal_sheet(payment, data: dict[str, Any]) -> dict[str, Any]:
    plan = reversals.plan_disbursement_reversal(db.session, payment)
    if plan.blockers:
        raise RuleRefused(reversals.RULE, _l("The payment cannot be reversed: %(blockers)s.",
                                             blockers="; ".join(plan.blockers)),
                          blockers=plan.blockers)
    grant = plan.grant
    rows = [(_("Payment"), _("tranche %(n)s, %(amount)s paid on %(day)s",
                             n=payment.tranche.position, amount=format_money(payment.amount),
                             day=payment.paid_on.isoformat())),
            (_("Reason"), data["reason"]),
            (_("Reversal takes effect on"), data["on"].isoformat()),
            (_("Disbursed before"), format_money(grant.disbursed_amount)),
            (_("Disbursed after"), format_money(plan.disbursed_after)),
            (_("Tranche %(n)s after", n=payment.tranche.position),
             str(TRANCHE_LABELS[plan.tranche_status_after]))]
    return {"title": _("Confirm the reversal of the payment"),
            "intro": _("Use this when the payment was recorded wrongly. Money the company paid "
                       "back is a refund, not a reversal. The payment stays in the history, "
                       "marked reversed, with the reason."),
            "sections": [{"title": _("Reversal"), "rows": rows}],
            "confirm_label": _("Reverse the payment"),
            "action_url": url_for("portfolio.reverse_disbursement", disbursement_id=payment.id),
            "back_url": url_for("portfolio.grant", grant_id=grant.id) + "#reversals",
            "hidden": _typed_reversal()}


@bp.post("/disbursements/<int:disbursement_id>/reversal")
def reverse_disbursement(disbursement_id: int):
    """Without ``confirmed=1`` the consequences are shown; nothing changes until confirmed."""
    payment = reversals.get_disbursement(db.session, disbursement_id)
    grant_id = payment.grant_id
    return _confirm_then(
        grant_id, "reverse_disbursement",
        lambda: _disbursement_reversal_sheet(payment, load_form(DisbursementReversalSchema())),
        lambda: reversals.reverse_disbursement(db.session, disbursement_id,
                                               actor=current_actor(),
                                               **load_form(DisbursementReversalSchema())),
        _("The payment was reversed."), url_for("portfolio.grant", grant_id=grant_id))
