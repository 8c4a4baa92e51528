"""The history import's pages (issue 12): download the template, upload a workbook (its dry run
runs in the worker, with progress on the task's page), read the report, commit."""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, g, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from fundapp.extensions import db
from fundapp.history_import import operations as ops
from fundapp.history_import.models import HistoryImport
from fundapp.history_import.tasks import COMMIT_TASK, DRY_RUN_TASK
from fundapp.tasks.operations import enqueue
from fundapp.tasks.views import redirect_to

bp = Blueprint("history_import", __name__)


def _locale() -> str:
    return str(get_locale() or "zh")


@bp.get("/history-import")
def index():
    return _index()


def _index() -> str:
    rows = db.session.execute(select(
        HistoryImport.id, HistoryImport.filename, HistoryImport.sha256, HistoryImport.status,
        HistoryImport.uploaded_by, HistoryImport.uploaded_at, HistoryImport.imported_at,
        HistoryImport.rows).order_by(HistoryImport.id.desc()).limit(50)).mappings().all()
    return render_template("history_import/index.html", imports=[dict(r) for r in rows])


@bp.get("/history-import/template.xlsx")
def template():
    return Response(ops.template_bytes(), mimetype=ops.XLSX, headers={
        "Content-Disposition": "attachment; filename=history-import-template.xlsx"})


@bp.post("/history-import")
def upload():
    file = request.files.get("workbook")
    content = file.read(ops.MAX_BYTES + 1) if file is not None and file.filename else b""
    if not content or len(content) > ops.MAX_BYTES:
        flash(_("Choose a workbook to upload.") if not content else _("The file is too large."),
              "error")
        return _index(), 422
    row = ops.upload(db.session, content, file.filename, actor=g.user.email)
    return redirect_to(enqueue(db.session, DRY_RUN_TASK, {
        "import_id": row.id, "actor": g.user.email, "locale": _locale()},
        requested_by=g.user.email))


@bp.get("/history-import/<int:import_id>")
def report(import_id: int):
    row = ops.get_upload(db.session, import_id)
    report = json.loads(row.report_json) if row.report_json else None
    return render_template("history_import/report.html", row=row, report=report)


@bp.post("/history-import/<int:import_id>/commit")
def commit(import_id: int):
    row = ops.get_upload(db.session, import_id)
    reason = request.form.get("reason", "").strip()[:500]
    ic_reference = request.form.get("ic_reference", "").strip()[:100]
    return redirect_to(enqueue(db.session, COMMIT_TASK, {
        "import_id": row.id, "actor": g.user.email, "locale": _locale(), "reason": reason,
        "ic_reference": ic_reference}, requested_by=g.user.email))
