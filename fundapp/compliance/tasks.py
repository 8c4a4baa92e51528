"""The compliance area's long work, run by `fundapp worker` (issue 16): signed ledger exports, the
ledger verification PDF and database backups asked for on the web."""

from __future__ import annotations

import inspect
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from fundapp.compliance import exports
from fundapp.compliance.exports import ExportScope
from fundapp.config import instance_dir
from fundapp.errors import AppError
from fundapp.tasks.operations import Progress, TaskResult, register_task

EXPORT_TASK = "ledger.export"
VERIFICATION_PDF_TASK = "ledger.verification_pdf"
BACKUP_TASK = "db.backup"


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


def backup_dir() -> Path:
    """Where backups asked for on the web are written, on the worker's machine: FUNDAPP_BACKUP_DIR,
    else the instance folder's backups/. Copy them off that machine, as the nightly ones."""
    configured = os.environ.get("FUNDAPP_BACKUP_DIR", "").strip()
    return Path(configured) if configured else instance_dir() / "backups"


def run_backup(session: Session, params: dict[str, Any], progress: Progress) -> TaskResult:
    from fundapp.compliance.backup import BackupError, backup_database

    progress(0, 1)
    url = session.get_bind().url
    suffix = "sqlite3" if url.get_backend_name() == "sqlite" else "dump"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    try:
        path = backup_database(url.render_as_string(hide_password=False),
                               backup_dir() / f"fundapp-{stamp}-task{params['task_key']}.{suffix}")
    except BackupError as exc:
        raise AppError(_l("The backup failed: %(why)s", why=str(exc)), code="backup_failed",
                       status=500) from None
    progress(1, 1)
    size = path.stat().st_size
    return TaskResult(label=str(_l("Backup written to %(path)s (%(size)s bytes)",
                                   path=str(path), size=f"{size:,}")),
                      data={"path": str(path), "size_bytes": size})


register_task(EXPORT_TASK, run_export, _l("Signed ledger export"))
register_task(BACKUP_TASK, run_backup, _l("Database backup"))
register_task(VERIFICATION_PDF_TASK, run_verification_pdf, _l("Ledger verification report"))
