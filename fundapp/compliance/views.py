"""The compliance pages: the ledger, signed exports, checks and the scheduler's run history."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    g,
    render_template,
    request,
    send_file,
)
from flask_babel import force_locale
from sqlalchemy import false, select

from fundapp.compliance.checks import SEVERITY_LABELS, run_checks, shanghai_today
from fundapp.compliance.exports import (
    SCOPE_KINDS,
    ExportScope,
    bundle_response,
    get_export,
    text_problem,
)
from fundapp.compliance.models import JobRun, LedgerExport
from fundapp.compliance.queries import ledger_count, ledger_filters, ledger_names, ledger_query
from fundapp.compliance.schemas import ExportCreateSchema
from fundapp.compliance.signing import current_public_key, published_keys, shanghai_iso
from fundapp.compliance.verify_export import neutralise
from fundapp.errors import AppError
from fundapp.extensions import db
from fundapp.inputs import load_form
from fundapp.notifications.views import bp as notifications_bp
from fundapp.pagination import paginate
from fundapp.tasks.views import redirect_to
from fundapp.unit_of_work import attempt

__all__ = ["bp", "ledger_query"]  # ledger_query: its old home, kept for importers

bp = Blueprint("compliance", __name__, url_prefix="/compliance")
bp.register_blueprint(notifications_bp)
VERIFIER = Path(__file__).with_name("verify_export.py")


@bp.app_context_processor
def _correction_history():
    """`correction_history(subject_type, id)` for the History section of object pages (issue 12)."""
    from fundapp.compliance.corrections import history_rows

    return {"correction_history": history_rows}


@bp.get("/ledger")
def ledger():
    try:
        filters = ledger_filters(request.args)
        errors = {}
    except AppError as exc:
        filters, errors = {"action": "", "actor": "", "from_on": None, "to_on": None}, exc.details
    page = paginate(db.session, ledger_query(**filters, actor_by_name=True),
                    request.args.get("page", 1), count=ledger_count(**filters))
    return render_template("compliance/ledger.html", page=page, action=filters["action"],
                           actor=filters["actor"], from_on=request.args.get("from", "")[:10],
                           to_on=request.args.get("to", "")[:10],
                           names=ledger_names(db.session, page.items),
                           errors=errors), 422 if errors else 200


@bp.post("/ledger/verification.pdf")
def queue_verification_pdf():
    """The verification report as a task for the worker (issue 16): the chain is walked there."""
    from fundapp.compliance.tasks import VERIFICATION_PDF_TASK
    from fundapp.tasks.operations import enqueue

    language = request.args.get("lang", "both")
    return redirect_to(enqueue(db.session, VERIFICATION_PDF_TASK, {
        "actor": g.user.email, "lang": language if language in ("zh", "en") else "both"},
        requested_by=g.user.email))


def _export_page(form: dict[str, str], errors: dict, status: int = 200):
    page = paginate(db.session, select(LedgerExport).order_by(LedgerExport.id.desc()),
                    request.args.get("page", 1))
    keys = published_keys(db.session)  # issue 16: every key with its validity, for auditors
    return render_template("compliance/exports.html", page=page, form=form, errors=errors,
                           scopes=SCOPE_KINDS, fingerprint=current_public_key(db.session).fingerprint,
                           signing_keys=keys, shanghai_iso=shanghai_iso), status


@bp.get("/exports")
def exports():
    today = shanghai_today(datetime.now(UTC))
    return _export_page({"from": date(today.year, 1, 1).isoformat(), "to": today.isoformat(),
                         "scope": "all", "value": ""}, {})


@bp.post("/exports")
def create_export_view():
    """Queues the export for the worker (issue 16) and shows its progress page."""
    task, errors = attempt(lambda: _create_export(load_form(ExportCreateSchema())))
    if errors:
        return _export_page(request.form, errors, 422)
    return redirect_to(task)


def _create_export(data: dict):
    from fundapp.compliance.tasks import EXPORT_TASK, check_export_scope, export_params
    from fundapp.tasks.operations import enqueue

    scope = ExportScope(data["from_on"], data["to_on"], data["scope"], data["value"].strip())
    check_export_scope(db.session, scope)
    return enqueue(db.session, EXPORT_TASK, export_params(scope, g.user.email),
                   requested_by=g.user.email)


@bp.get("/exports/<int:export_id>/download")
def download_export(export_id: int):
    return bundle_response(db.session, get_export(db.session, export_id))


@bp.get("/exports/verify_ledger_export.py")
def download_verifier():
    """The offline verifier for auditors (tools/verify_ledger_export.py links to this file)."""
    return send_file(VERIFIER, mimetype="text/x-python", as_attachment=True,
                     download_name="verify_ledger_export.py")


@bp.get("/exports/public_key.pem")
def download_public_key():
    return Response(current_public_key(db.session).pem, mimetype="application/x-pem-file",
                    headers={"Content-Disposition": "attachment; filename=fund_public_key.pem"})


CHECKS_PER_PAGE = 50


@bp.get("/checks")
def checks():
    """Every check runs, so the counts are of the whole report; the table shows one page of the
    items the filters keep (a full portfolio has hundreds)."""
    from fundapp.compliance.subjects import SUBJECT_PAGES
    from fundapp.pagination import page_of

    report = run_checks(db.session)
    severity, check = request.args.get("severity", ""), request.args.get("check", "")
    page = page_of(report.filtered(severity, check), request.args.get("page", 1),
                   CHECKS_PER_PAGE)
    filters = {name: value for name, value in (("severity", severity), ("check", check))
               if value}
    return render_template("compliance/checks.html", report=report, counts=report.counts(),
                           page=page, severity=severity, check=check, filters=filters,
                           severity_labels={key: str(label) for key, label
                                            in SEVERITY_LABELS.items()},
                           subject_pages=SUBJECT_PAGES)


CHECK_COLUMNS = ("severity", "clause", "check", "subject_type", "subject_id", "subject",
                 "message_en", "message_zh", "due_on")


def _check_rows() -> list[list[str]]:
    """Every item the page's filters keep (all of them without filters), on every page."""
    from fundapp.compliance.checks import item_dicts

    report = run_checks(db.session)
    items = report.filtered(request.args.get("severity", ""), request.args.get("check", ""))
    rows = []
    for data in item_dicts(items):
        rows.append([data["severity"], data["clause"], data["check"], data["subject_type"],
                     data["subject_id"], data["subject"], data["message"]["en"],
                     data["message"]["zh"], data["due_on"] or ""])
    return [[neutralise(str(cell)) for cell in row] for row in rows]


@bp.get("/checks.<any(csv, xlsx):fmt>")
def checks_export(fmt: str):
    with force_locale("en"):
        rows = _check_rows()
    name = f"compliance-checks-{shanghai_today(datetime.now(UTC)).isoformat()}.{fmt}"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CHECK_COLUMNS)
        writer.writerows(rows)
        return Response(("\ufeff" + buffer.getvalue()).encode("utf-8"), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={name}"})
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("checks")
    sheet.append(list(CHECK_COLUMNS))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(), headers={"Content-Disposition":
                                             f"attachment; filename={name}"},
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.post("/backups")
def queue_backup():
    """A backup of the database now (admin), made by the worker (issue 16): the request only
    queues it."""
    import secrets

    from fundapp.compliance.tasks import BACKUP_TASK
    from fundapp.tasks.operations import enqueue

    return redirect_to(enqueue(db.session, BACKUP_TASK, {"task_key": secrets.token_hex(4)},
                               requested_by=g.user.email))


@bp.get("/jobs")
def jobs():
    from fundapp.scheduler import JOBS

    job_id = request.args.get("job", "").strip()
    stmt = select(JobRun).order_by(JobRun.scheduled_for.desc(), JobRun.id.desc())
    if job_id:
        # Job ids are a fixed registry: text no job id can be (a NUL byte...) matches nothing,
        # without reaching the database.
        stmt = stmt.where(JobRun.job_id == job_id if text_problem(job_id) is None and
                          len(job_id) <= 80 else false())
    page = paginate(db.session, stmt, request.args.get("page", 1), 50)
    specs = [{"id": j.id, "clause": j.clause,
              "cron": ", ".join(f"{k}={v}" for k, v in j.cron.items())} for j in JOBS]
    return render_template("compliance/jobs.html", page=page, specs=specs, job_id=job_id)
