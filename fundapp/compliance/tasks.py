"""The compliance area's long work, run by `fundapp worker` (issue 16): signed ledger exports and
the ledger verification PDF."""

from __future__ import annotations

import inspect
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from fundapp.compliance import exports
from fundapp.compliance.exports import ExportScope
from fundapp.errors import AppError
from fundapp.tasks.operations import Progress, TaskResult, register_task

EXPORT_TASK = "ledger.export"
VERIFICATION_PDF_TASK = "ledger.verification_pdf"


def export_params(scope: ExportScope, actor: str) -> dict[str, Any]:
    return {"from_on": scope.from_on.isoformat(), "to_on": scope.to_on.isoformat(),
            "scope": scope.kind, "value": scope.value, "actor": actor}


def check_export_scope(session: Session, scope: ExportScope) -> None:
    """What the request refuses at once, before queueing (the same refusals as create_export)."""
    scope.validate()
    if exports.segment_bounds(session, scope) is None:
        raise AppError(_l("No ledger entries match this period and scope."), code="empty_export",
                       status=422, details={"from": [str(_l("No ledger entries match this "
                                                            "period and scope."))]})


def run_export(session: Session, params: dict[str, Any], progress: Progress) -> TaskResult:
    scope = ExportScope(date.fromisoformat(params["from_on"]), date.fromisoformat(params["to_on"]),
                        params["scope"], params["value"])
    extra: dict[str, Any] = {}
    if "progress" in inspect.signature(exports.create_export).parameters:
        extra["progress"] = progress
    result = exports.create_export(session, scope, actor=params["actor"],
                                   fund_name=exports.fund_name(session), **extra)
    export = result.export
    return TaskResult(endpoint="compliance.download_export", values={"export_id": export.id},
                      data={"export_id": export.id, "entry_count": export.entry_count})


def run_verification_pdf(session: Session, params: dict[str, Any],
                         progress: Progress) -> TaskResult:
    from fundapp.compliance.queries import verification_report
    from reports.render import render_pdf

    progress(0, 2)
    data = verification_report(session, params["actor"])
    progress(1, 2)
    language = params.get("lang", "both")
    pdf = render_pdf("ledger_verification", data,
                     language if language in ("zh", "en") else "both")
    progress(2, 2)
    return TaskResult(file_name="ledger-verification.pdf", file_type="application/pdf",
                      file_bytes=pdf)


register_task(EXPORT_TASK, run_export, _l("Signed ledger export"))
register_task(VERIFICATION_PDF_TASK, run_verification_pdf, _l("Ledger verification report"))
