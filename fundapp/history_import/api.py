"""API of the history import (issue 12): the template, an upload answered by its dry run, the
commit."""

from __future__ import annotations

from flask import Response, g, request
from flask_babel import lazy_gettext as _l

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.errors import ValidationFailed
from fundapp.extensions import db
from fundapp.history_import import operations as ops
from fundapp.history_import.schemas import HistoryCommitSchema


@api_route(bp, "/v1/history-imports/template", "GET",
           summary="The history workbook's template (XLSX, bilingual headers, an example sheet)")
def history_template():
    return Response(ops.template_bytes(), mimetype=ops.XLSX, headers={
        "Content-Disposition": "attachment; filename=history-import-template.xlsx"})


@api_route(bp, "/v1/history-imports", "POST", status=201,
           summary="Upload a history workbook (multipart field 'file'); answers with its dry "
                   "run: a summary per sheet, problems by sheet/row/column, conversion "
                   "differences. Nothing is imported.")
def upload_history():
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(_l("Send the workbook as the multipart field 'file'."),
                               details={"file": [str(_l("This field is required."))]})
    content = upload.read(ops.MAX_BYTES + 1)
    row = ops.upload(db.session, content, upload.filename or "history.xlsx", actor=g.user.email)
    report = ops.run_import(db.session, content, filename=row.filename, actor=g.user.email,
                            dry_run=True)
    return {"import_id": row.id, "report": report}, 201


@api_route(bp, "/v1/history-imports/<int:import_id>/commit", "POST", body=HistoryCommitSchema,
           summary="Import an uploaded workbook, all or nothing (422 with the report when it "
                   "has problems, or differences not accepted with reason and ic_reference)")
def commit_history(import_id: int):
    data = load_json(HistoryCommitSchema())
    row = ops.get_upload(db.session, import_id)
    report = ops.run_import(db.session, row.content, filename=row.filename, actor=g.user.email,
                            dry_run=False, reason=data["reason"],
                            ic_reference=data["ic_reference"])
    return {"import_id": import_id, "report": report}, 200
