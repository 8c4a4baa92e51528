"""The pipeline's long work, run by `fundapp worker` (issue 16): the deals list as XLSX, kept with
the task (any web host serves the download)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from fundapp.deals import export, queries
from fundapp.tasks.operations import Progress, TaskResult, register_task

EXPORT_XLSX_TASK = "deals.export_xlsx"
SIGNUP_IMPORT_TASK = "deals.signup_import"
# A sheet with more rows than this is imported by the worker; a smaller one in the request.
IMPORT_IN_REQUEST_ROWS = 300
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def run_export_xlsx(session: Session, params: dict[str, Any], progress: Progress) -> TaskResult:
    args = {str(k): str(v) for k, v in params.get("args", {}).items()}
    filters = queries.DealFilters.from_args(args)
    rows = list(session.execute(queries.deal_list(filters, args.get("sort", "id"))).mappings())
    total = len(rows)
    progress(0, total)

    def counted():
        for index, row in enumerate(rows, 1):
            yield row
            if index % 200 == 0 or index == total:
                progress(index, total)

    with force_locale(params.get("locale") or "zh"):
        body = export.pipeline_xlsx(counted())
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return TaskResult(file_name=f"pipeline-{stamp}.xlsx", file_type=XLSX, file_bytes=body,
                      data={"rows": total})


def run_signup_import(session: Session, params: dict[str, Any],
                      progress: Progress) -> TaskResult:
    """A large sign-up sheet's import (all or nothing, as in the request it came from)."""
    from sqlalchemy import select

    from fundapp.deals import roadshows as roadshow_ops
    from fundapp.deals.intake import SheetError, import_signup
    from fundapp.deals.models import SheetUpload
    from fundapp.errors import AppError, NotFound, ValidationFailed

    progress(0, 1)
    roadshow = roadshow_ops.get_roadshow(session, params["roadshow_id"])
    upload = session.scalar(select(SheetUpload).where(SheetUpload.token == params["token"],
                                                      SheetUpload.roadshow_id == roadshow.id))
    if upload is None:
        raise NotFound(_l("This upload is no longer available. Upload the sheet again."))
    try:
        result = import_signup(session, roadshow, upload.filename, upload.content,
                               actor=params["actor"])
    except SheetError as exc:
        raise AppError(exc.message, status=422, code="sheet_unreadable") from None
    except ValidationFailed as exc:  # its rows' problems are on the sheet's preview page
        raise AppError(exc.message, status=422, code=exc.code) from None
    upload.imported_at = datetime.now(UTC)
    progress(1, 1)
    return TaskResult(endpoint="deals.roadshow", values={"roadshow_id": roadshow.id},
                      data={"rows": result.rows, "companies_created": result.companies_created,
                            "deals_created": result.deals_created})


register_task(EXPORT_XLSX_TASK, run_export_xlsx, _l("Deals export (XLSX)"))
register_task(SIGNUP_IMPORT_TASK, run_signup_import, _l("Sign-up sheet import"))
