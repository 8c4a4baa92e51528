"""Pages of financing rounds and their evidence documents.

The round form loads through the API's schema (its form variant gathers the numbered investor and
holder rows) and runs inside an `attempt`; the views never commit, the request's unit of work
does.
"""

from __future__ import annotations

from io import BytesIO

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fundapp.errors import ValidationFailed
from fundapp.extensions import db
from fundapp.inputs import load_form
from fundapp.portfolio.common import MAX_ID, get_company
from fundapp.portfolio.rounds.models import EvidenceDocument, FinancingRound, RoundKind
from fundapp.portfolio.rounds.operations import (
    attach_evidence,
    evidence_content,
    get_round,
    record_round,
)
from fundapp.portfolio.rounds.schemas import ROWS, RoundFormSchema
from fundapp.portfolio.web import attempt_naming_the_clause, bp, current_actor
from fundapp.ui import reader_name

KIND_LABELS = {
    RoundKind.PRICED_EQUITY: _l("Priced cash equity round"),
    RoundKind.DEBT: _l("Debt"),
    RoundKind.CONVERTIBLE: _l("Convertible"),
    RoundKind.SECONDARY: _l("Secondary sale"),
}


# --------------------------------------------------------------------------- rounds, cap table


@bp.route("/companies/<int:company_id>/rounds/new", methods=["GET", "POST"])
def new_round(company_id: int):
    company = get_company(db.session, company_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        row, errors, _refusal = attempt_naming_the_clause(lambda: record_round(
            db.session, company, load_form(RoundFormSchema()), actor=current_actor()))
        if not errors:
            flash(_("Financing round recorded."), "success")
            return redirect(url_for("portfolio.round_page", round_id=row.id))
    # On a refusal the template shows the posted values next to the messages.
    return render_template("portfolio/new_round.html", company=company, errors=errors,
                           rows=ROWS, kind_labels=KIND_LABELS), 422 if errors else 200


@bp.get("/rounds/<int:round_id>")
def round_page(round_id: int):
    row = get_round(db.session, round_id)
    return render_template("portfolio/round.html", rnd=row, kind_labels=KIND_LABELS,
                           errors={})


def _attach(row: FinancingRound) -> EvidenceDocument:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed(_l("Choose a file."), details={"file": [_("Choose a file.")]})
    return attach_evidence(db.session, row, filename=upload.filename, content=upload.read(),
                           actor=current_actor())


@bp.post("/rounds/<int:round_id>/documents")
def upload_document(round_id: int):
    row = get_round(db.session, round_id)
    _doc, errors, _refusal = attempt_naming_the_clause(lambda: _attach(row))
    if errors:
        return render_template("portfolio/round.html", rnd=row, kind_labels=KIND_LABELS,
                               errors=errors), 422
    flash(_("Evidence document kept."), "success")
    return redirect(url_for("portfolio.round_page", round_id=round_id))


@bp.get("/documents/<int:document_id>")
def document(document_id: int):
    doc = db.session.get(EvidenceDocument, document_id) if document_id <= MAX_ID else None
    content = evidence_content(db.session, doc) if doc is not None else None
    if content is None:
        abort(404)
    return send_file(BytesIO(content), mimetype=doc.content_type, download_name=doc.filename,
                     as_attachment=True)


# --------------------------------------------------------------------------- corrections (issue 12)


def _round_form_values(row: FinancingRound) -> dict[str, str]:
    values = {"name": row.name, "kind": row.kind.value, "closed_on": str(row.closed_on),
              "definitive_agreement_signed_on": str(row.definitive_agreement_signed_on or ""),
              "pre_money_valuation_amount": str(row.pre_money_valuation_amount),
              "units_before": str(row.units_before)}
    for n, investor in enumerate(sorted(row.investors, key=lambda i: i.position), start=1):
        values[f"investor_{n}_name"] = investor.name
        values[f"investor_{n}_cash"] = str(investor.cash_amount)
        if investor.is_independent:
            values[f"investor_{n}_independent"] = "yes"
        if investor.is_lead:
            values["lead"] = str(n)
    return values


@bp.route("/rounds/<int:round_id>/edit", methods=["GET", "POST"])
def edit_round(round_id: int):
    """Correct a round and its investors while no conversion uses it, with a reason (issue 12)."""
    from fundapp.portfolio.rounds.operations import correct_round, round_used_by_conversion
    from fundapp.portfolio.rounds.schemas import CORRECTION_ROWS, RoundCorrectionFormSchema

    row = get_round(db.session, round_id)
    errors: dict[str, list[str]] = {}
    values: dict = _round_form_values(row)
    if request.method == "POST":
        def correct():
            data = load_form(RoundCorrectionFormSchema())
            reason = data.pop("reason")
            return correct_round(db.session, round_id, data, actor=current_actor(),
                                 reason=reason)

        _saved, errors, refusal = attempt_naming_the_clause(correct)
        if not errors:
            flash(_("Correction saved."), "success")
            return redirect(url_for("portfolio.round_page", round_id=round_id))
        values = request.form.to_dict()
    elif round_used_by_conversion(db.session, row.id):
        errors = {"_form": [_("A conversion is priced by this round: reverse the conversion "
                              "before correcting the round.")]}
    return render_template("portfolio/edit_round.html", values=values, errors=errors,
                           round_id=round_id,
                           company_name=reader_name(row.company.legal_name, row.company.name_en),
                           rows=CORRECTION_ROWS, kind_labels=KIND_LABELS), \
        (refusal.status if refusal else 422) if errors and request.method == "POST" else 200
