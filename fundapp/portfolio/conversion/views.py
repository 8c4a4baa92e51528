"""Pages of conversion previews (what-if sheets), conversions and cap tables."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from fundapp.errors import AppError
from fundapp.extensions import db
from fundapp.portfolio.common import get_company
from fundapp.portfolio.conversion.operations import (
    convert_grant,
    preview_conversion,
    registration_overdue,
)
from fundapp.portfolio.conversion.queries import cap_table_view
from fundapp.portfolio.grants.operations import get_grant
from fundapp.portfolio.grants.queries import grants_query
from fundapp.portfolio.grants.views import STATUS_LABELS, grant_page
from fundapp.portfolio.rounds.queries import company_rounds
from fundapp.portfolio.rounds.schemas import RoundCreateSchema
from fundapp.portfolio.rounds.views import KIND_LABELS, ROWS, round_from_args
from fundapp.portfolio.web import bp, errors_of, load_form

# --------------------------------------------------------------------------- preview, conversion


@bp.get("/grants/<int:grant_id>/preview")
def preview(grant_id: int):
    grant = get_grant(db.session, grant_id)
    rounds = company_rounds(db.session, grant.company_id)
    args = request.args
    result, errors, has_table, refused = None, {}, False, None
    mode = args.get("mode", "")
    if mode == "recorded" and args.get("round_id", "").isdigit():
        try:
            found = preview_conversion(db.session, grant, round_id=int(args["round_id"]))
            result, has_table = found.result, found.has_cap_table
        except AppError as exc:
            errors, refused = errors_of(exc), exc.details.get("clauses")
    elif mode == "hypothetical":
        data, errors = load_form(RoundCreateSchema(), round_from_args(args))
        if data is not None:
            try:
                found = preview_conversion(db.session, grant, round_data=data,
                                           holders_before=data.get("holders_before"))
                result, has_table = found.result, found.has_cap_table
            except AppError as exc:
                errors, refused = errors_of(exc), exc.details.get("clauses")
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
        return grant_page(grant_id, {"round_id": [_("Choose a round.")]}, request.form,
                          "convert", 422)
    try:
        convert_grant(db.session, grant_id,
                      round_id=None if by_appraisal else int(round_id),
                      basis="appraisal" if by_appraisal else "round",
                      ic_resolution_ref=request.form.get("ic_resolution_ref", ""),
                      keep_undisbursed_ref=request.form.get("keep_undisbursed_ref", ""),
                      actor=g.user.email)
    except AppError as exc:
        db.session.rollback()
        return grant_page(grant_id, errors_of(exc), request.form, "convert",
                          exc.status if exc.status in (409, 422) else 422)
    db.session.commit()
    flash(_("The grant was converted."), "success")
    return redirect(url_for("portfolio.conversion", grant_id=grant_id))


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
