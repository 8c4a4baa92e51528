"""The history import's long work, run by `fundapp worker`: the dry run and the commit of an
uploaded workbook, with progress on the task's page."""

from __future__ import annotations

import json
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from fundapp.history_import import operations as ops
from fundapp.tasks.operations import Progress, TaskResult, register_task

DRY_RUN_TASK = "history.dry_run"
COMMIT_TASK = "history.commit"


def _run(session: Session, params: dict[str, Any], progress: Progress,
         dry_run: bool) -> TaskResult:
    row = ops.get_upload(session, int(params["import_id"]))
    progress(0, 1)
    try:
        report = ops.run_import(session, row.content, filename=row.filename,
                                actor=params["actor"], dry_run=dry_run,
                                locale=params.get("locale") or "zh",
                                reason=params.get("reason", ""),
                                ic_reference=params.get("ic_reference", ""), progress=progress)
    except ops.ImportRefused as exc:
        # The refusal is the outcome the page shows: the report, with nothing imported.
        report = exc.report
        report["refused"] = str(exc.message)
    if row.status != "imported":
        row.report_json = json.dumps(report, ensure_ascii=False)
    return TaskResult(endpoint="history_import.report", values={"import_id": row.id},
                      label=str(_l("Open the import report")),
                      data={"problems": len(report["problems"]),
                            "differences": len(report["differences"]),
                            "imported": bool(report.get("imported"))})


def run_dry_run(session: Session, params: dict[str, Any], progress: Progress) -> TaskResult:
    return _run(session, params, progress, dry_run=True)


def run_commit(session: Session, params: dict[str, Any], progress: Progress) -> TaskResult:
    return _run(session, params, progress, dry_run=False)


register_task(DRY_RUN_TASK, run_dry_run, _l("History import: dry run"), max_attempts=1)
register_task(COMMIT_TASK, run_commit, _l("History import"), max_attempts=1)
