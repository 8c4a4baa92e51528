"""API routes of the compliance area (ledger exports, the public key, checks), on the shared API
blueprint."""

from __future__ import annotations

from flask import g, request
from marshmallow import Schema, fields
from sqlalchemy import select

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.compliance.checks import item_dicts, run_checks
from fundapp.compliance.exports import (
    ExportScope,
    bundle_response,
    get_export,
)
from fundapp.compliance.models import LedgerExport
from fundapp.compliance.schemas import (
    ChecksSchema,
    ExportCreateSchema,
    ExportPageSchema,
    ExportSchema,
    PublicKeySchema,
)
from fundapp.compliance.signing import current_public_key, published_keys, shanghai_iso
from fundapp.extensions import db
from fundapp.pagination import page_of, paginate
from fundapp.tasks.api import TaskSchema, accepted

PAGE_PARAMS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                    "maximum": 200}},
]


@api_route(bp, "/v1/ledger/public-key", "GET", response=PublicKeySchema, anonymous=True,
           summary="The fund's Ed25519 public key that signs ledger export manifests")
def ledger_public_key():
    key = current_public_key(db.session)
    return PublicKeySchema().dump({"algorithm": "Ed25519", "pem": key.pem,
                                   "fingerprint": key.fingerprint})


class PublicKeyListSchema(Schema):
    items = fields.List(fields.Dict(), metadata={"description": (
        "Every signing key, newest first: algorithm, pem, fingerprint, valid_from, valid_until "
        "(null while it signs), current (the key that signs exports made now)")})


@api_route(bp, "/v1/ledger/public-keys", "GET", response=PublicKeyListSchema, anonymous=True,
           summary="Every public key that signs or signed ledger exports, with its validity")
def ledger_public_keys():
    return {"items": [{"algorithm": "Ed25519", "pem": k.pem, "fingerprint": k.fingerprint,
                       "valid_from": shanghai_iso(k.valid_from),
                       "valid_until": shanghai_iso(k.valid_until),
                       "current": k.current} for k in published_keys(db.session)]}


@api_route(bp, "/v1/ledger/exports", "GET", summary="Ledger exports, newest first",
           response=ExportPageSchema, params=PAGE_PARAMS)
def list_ledger_exports():
    page = paginate(db.session, select(LedgerExport).order_by(LedgerExport.id.desc()),
                    request.args.get("page", 1), request.args.get("per_page", 25))
    return {"items": ExportSchema().dump(page.items, many=True), "page": page.number,
            "per_page": page.per_page, "total": page.total, "pages": page.pages}


@api_route(bp, "/v1/ledger/exports", "POST", status=202, body=ExportCreateSchema,
           response=TaskSchema, summary="Queue a signed ledger export (period and scope): 202 "
           "with the task to poll (GET /api/v1/tasks/{id}); when done, its result names the "
           "export")
def create_ledger_export():
    from fundapp.compliance.tasks import EXPORT_TASK, check_export_scope, export_params
    from fundapp.tasks.operations import enqueue

    data = load_json(ExportCreateSchema())
    scope = ExportScope(data["from_on"], data["to_on"], data["scope"], data["value"].strip())
    check_export_scope(db.session, scope)
    return accepted(enqueue(db.session, EXPORT_TASK, export_params(scope, g.user.email),
                            requested_by=g.user.email))


@api_route(bp, "/v1/ledger/exports/<int:export_id>", "GET", response=ExportSchema,
           summary="One ledger export")
def get_ledger_export(export_id: int):
    return ExportSchema().dump(get_export(db.session, export_id))


@api_route(bp, "/v1/ledger/exports/<int:export_id>/download", "GET",
           summary="The export bundle (ZIP: entries.jsonl/.csv/.xlsx, manifest.json, "
                   "manifest.sig)")
def download_ledger_export(export_id: int):
    return bundle_response(db.session, get_export(db.session, export_id))


class CheckPageSchema(ChecksSchema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()


CHECK_PARAMS = PAGE_PARAMS + [
    {"name": "severity", "in": "query", "schema": {"type": "string",
                                                    "enum": ["critical", "warning", "info"]}},
    {"name": "check", "in": "query", "schema": {"type": "string"},
     "description": "one check's id (see `checks`)"},
]


@api_route(bp, "/v1/compliance/checks", "GET", response=CheckPageSchema, params=CHECK_PARAMS,
           summary="What needs attention, each item naming its clause: a page of the items "
                   "(50 by default) of a severity and/or a check; counts and checks are of the "
                   "whole report")
def list_compliance_checks():
    report = run_checks(db.session)
    page = page_of(report.filtered(request.args.get("severity", ""),
                                   request.args.get("check", "")),
                   request.args.get("page", 1), request.args.get("per_page", 50))
    items = [{**data, "due_on": item.due_on}
             for item, data in zip(page.items, item_dicts(page.items), strict=True)]
    return CheckPageSchema().dump({
        "ran_at": report.ran_at, "counts": report.counts(),
        "checks": [{"id": c.id, "clause": c.clause, "title": str(c.title)}
                   for c in report.checks], "items": items, "page": page.number,
        "per_page": page.per_page, "total": page.total, "pages": page.pages})


# --------------------------------------------------------------------------- parity with the pages
# (issue 12: the ledger verification report and a backup, queued as the pages queue them)

LANG_PARAM = [{"name": "lang", "in": "query", "schema": {"type": "string",
                                                          "enum": ["zh", "en", "both"]},
               "description": "the report's language (default both)"}]


@api_route(bp, "/v1/ledger/verification", "POST", status=202, response=TaskSchema,
           params=LANG_PARAM,
           summary="Queue the ledger verification report (PDF; the whole chain is walked by the "
                   "worker): 202 with the task to poll (GET /api/v1/tasks/{id})")
def queue_ledger_verification():
    from fundapp.compliance.tasks import VERIFICATION_PDF_TASK
    from fundapp.tasks.operations import enqueue

    language = request.args.get("lang", "both")
    return accepted(enqueue(db.session, VERIFICATION_PDF_TASK, {
        "actor": g.user.email, "lang": language if language in ("zh", "en") else "both"},
        requested_by=g.user.email))


@api_route(bp, "/v1/backups", "POST", status=202, response=TaskSchema,
           summary="Queue a backup of the database now (admin), made by the worker: 202 with "
                   "the task to poll (GET /api/v1/tasks/{id})")
def queue_backup():
    import secrets

    from fundapp.compliance.tasks import BACKUP_TASK
    from fundapp.tasks.operations import enqueue

    return accepted(enqueue(db.session, BACKUP_TASK, {"task_key": secrets.token_hex(4)},
                            requested_by=g.user.email))
