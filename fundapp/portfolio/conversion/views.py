"""Pages of conversion previews (what-if sheets), conversions and cap tables.

The conversion form loads through the API's schema and runs inside an `attempt`; the views never
commit, the request's unit of work does. A preview only reads.
"""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from fundapp.extensions import db
from fundapp.inputs import load_form
from fundapp.portfolio.common import get_company
from fundapp.portfolio.conversion.operations import (
    Preview,
    convert_grant,
    preview_conversion,
    registration_overdue,
)
from fundapp.portfolio.conversion.queries import cap_table_view
from fundapp.portfolio.conversion.schemas import ConversionFormSchema
from fundapp.portfolio.grants.models import Grant
from fundapp.portfolio.grants.operations import get_grant
from fundapp.portfolio.grants.queries import grants_query
from fundapp.portfolio.grants.views import STATUS_LABELS, grant_page
from fundapp.portfolio.rounds.queries import company_rounds
from fundapp.portfolio.rounds.schemas import ROWS, RoundFormSchema
from fundapp.portfolio.rounds.views import KIND_LABELS
from fundapp.portfolio.web import attempt_naming_the_clause, bp, current_actor

# --------------------------------------------------------------------------- preview, conversion


def _preview(grant: Grant, mode: str) -> Preview | None:
    """The what-if sheet of the query string: a recorded round, or a hypothetical one."""
    if mode == "recorded" and request.args.get("round_id", "").isdigit():
        return preview_conversion(db.session, grant, round_id=int(request.args["round_id"]))
    if mode == "hypothetical":
        data = load_form(RoundFormSchema(), request.args)
        return preview_conversion(db.session, grant, round_data=data,
                                  holders_before=data.get("holders_before"))
    return None


@bp.get("/grants/<int:grant_id>/preview")
def preview(grant_id: int):
    grant = get_grant(db.session, grant_id)
    rounds = company_rounds(db.session, grant.company_id)
    mode = request.args.get("mode", "")
    found, errors, refusal = attempt_naming_the_clause(lambda: _preview(grant, mode))
    refused = refusal.details.get("clauses") if refusal is not None else None
    return render_template("portfolio/preview.html", grant=grant, rounds=rounds,
                           args=request.args, sheet=found.result.to_dict() if found else None,
                           has_table=bool(found and found.has_cap_table), errors=errors,
                           rows=ROWS, kind_labels=KIND_LABELS, mode=mode,
                           refused=refused), 422 if errors else 200


@bp.post("/grants/<int:grant_id>/conversion")
def convert(grant_id: int):
    get_grant(db.session, grant_id)
    _conversion, errors, refusal = attempt_naming_the_clause(lambda: convert_grant(
        db.session, grant_id, actor=current_actor(), **load_form(ConversionFormSchema())))
    if errors:
        status = refusal.status if refusal is not None and refusal.status in (409, 422) else 422
        return grant_page(grant_id, errors, "convert", status)
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
