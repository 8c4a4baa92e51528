"""The ledger as auditors read it."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select

from fundapp.compliance.models import LedgerEntry
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
