"""Pages of financing rounds and their evidence documents."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fundapp.errors import AppError, ValidationFailed
from fundapp.extensions import db
from fundapp.portfolio.common import MAX_ID, get_company
from fundapp.portfolio.rounds.models import EvidenceDocument, RoundKind
from fundapp.portfolio.rounds.operations import (
    attach_evidence,
    evidence_path,
    get_round,
    record_round,
)
from fundapp.portfolio.rounds.schemas import RoundCreateSchema
from fundapp.portfolio.web import blank_to_none, bp, errors_of, load_form

KIND_LABELS = {
    RoundKind.PRICED_EQUITY: _l("Priced cash equity round"),
    RoundKind.DEBT: _l("Debt"),
    RoundKind.CONVERTIBLE: _l("Convertible"),
    RoundKind.SECONDARY: _l("Secondary sale"),
}
ROWS = 5  # investor and holder rows on the round form


def round_from_args(args) -> dict[str, Any]:
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
    raw = blank_to_none({k: args.get(k, "").strip() for k in (
        "name", "kind", "closed_on", "definitive_agreement_signed_on",
        "pre_money_valuation_amount", "units_before")})
    raw["investors"] = investors
    if lead:
        raw["lead"] = lead
    if holders:
        raw["holders_before"] = holders
    return raw


# --------------------------------------------------------------------------- rounds, cap table


@bp.route("/companies/<int:company_id>/rounds/new", methods=["GET", "POST"])
def new_round(company_id: int):
    company = get_company(db.session, company_id)
    errors: dict[str, Any] = {}
    form = request.form if request.method == "POST" else {}
    if request.method == "POST":
        data, errors = load_form(RoundCreateSchema(), round_from_args(request.form))
        if data is not None:
            try:
                row = record_round(db.session, company, data, actor=g.user.email)
            except AppError as exc:
                db.session.rollback()
                errors = errors_of(exc)
            else:
                db.session.commit()
                flash(_("Financing round recorded."), "success")
                return redirect(url_for("portfolio.round_page", round_id=row.id))
    return render_template("portfolio/new_round.html", company=company, form=form,
                           errors=errors, rows=ROWS,
                           kind_labels=KIND_LABELS), 422 if errors else 200


@bp.get("/rounds/<int:round_id>")
def round_page(round_id: int):
    row = get_round(db.session, round_id)
    return render_template("portfolio/round.html", rnd=row, kind_labels=KIND_LABELS,
                           errors={})


@bp.post("/rounds/<int:round_id>/documents")
def upload_document(round_id: int):
    row = get_round(db.session, round_id)
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise ValidationFailed(_l("Choose a file."), details={"file": [_("Choose a file.")]})
        attach_evidence(db.session, row, filename=upload.filename, content=upload.read(),
                        actor=g.user.email)
    except AppError as exc:
        db.session.rollback()
        return render_template("portfolio/round.html", rnd=row, kind_labels=KIND_LABELS,
                               errors=errors_of(exc)), 422
    db.session.commit()
    flash(_("Evidence document kept."), "success")
    return redirect(url_for("portfolio.round_page", round_id=round_id))


@bp.get("/documents/<int:document_id>")
def document(document_id: int):
    doc = db.session.get(EvidenceDocument, document_id) if document_id <= MAX_ID else None
    if doc is None or not evidence_path(doc.sha256).exists():
        abort(404)
    return send_file(evidence_path(doc.sha256), mimetype=doc.content_type,
                     download_name=doc.filename, as_attachment=True)
