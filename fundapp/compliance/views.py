"""The ledger as auditors read it."""

from __future__ import annotations

from flask import Blueprint, Response, g, render_template, request
from sqlalchemy import select

from fundapp.compliance.models import LedgerEntry
from fundapp.compliance.queries import verification_report
from fundapp.extensions import db
from fundapp.pagination import paginate

bp = Blueprint("compliance", __name__, url_prefix="/compliance")


def ledger_query(action: str = "", actor: str = ""):
    stmt = select(LedgerEntry).order_by(LedgerEntry.seq.desc())
    if action:
        stmt = stmt.where(LedgerEntry.action.like(f"{action}%"))
    if actor:
        stmt = stmt.where(LedgerEntry.actor == actor.strip().lower())
    return stmt


@bp.get("/ledger")
def ledger():
    action = request.args.get("action", "").strip()
    actor = request.args.get("actor", "").strip()
    page = paginate(db.session, ledger_query(action, actor), request.args.get("page", 1))
    return render_template("compliance/ledger.html", page=page, action=action, actor=actor)


@bp.get("/ledger/verification.pdf")
def ledger_verification_pdf():
    from reports.render import render_pdf

    data = verification_report(db.session, g.user.email)
    language = request.args.get("lang", "both")
    pdf = render_pdf("ledger_verification", data, language if language in ("zh", "en") else "both")
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": "inline; filename=ledger-verification.pdf"})
