"""API routes of the compliance area (ledger exports, the public key, checks), on the shared API
blueprint."""

from __future__ import annotations

from flask import g, request, send_file
from sqlalchemy import select

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.compliance.checks import run_checks
from fundapp.compliance.exports import (
    ExportScope,
    create_export,
    export_path,
    fund_name,
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
from fundapp.compliance.signing import load_signing_key
from fundapp.extensions import db
from fundapp.pagination import paginate

PAGE_PARAMS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                    "maximum": 200}},
]


@api_route(bp, "/v1/ledger/public-key", "GET", response=PublicKeySchema, anonymous=True,
           summary="The fund's Ed25519 public key that signs ledger export manifests")
def ledger_public_key():
    key = load_signing_key()
    return PublicKeySchema().dump({"algorithm": "Ed25519", "pem": key.public_pem,
                                   "fingerprint": key.fingerprint})


@api_route(bp, "/v1/ledger/exports", "GET", summary="Ledger exports, newest first",
           response=ExportPageSchema, params=PAGE_PARAMS)
def list_ledger_exports():
    page = paginate(db.session, select(LedgerExport).order_by(LedgerExport.id.desc()),
                    request.args.get("page", 1), request.args.get("per_page", 25))
    return {"items": ExportSchema().dump(page.items, many=True), "page": page.number,
            "per_page": page.per_page, "total": page.total, "pages": page.pages}


@api_route(bp, "/v1/ledger/exports", "POST", status=201, body=ExportCreateSchema,
           response=ExportSchema, summary="Create a signed ledger export (period and scope)")
def create_ledger_export():
    data = load_json(ExportCreateSchema())
    scope = ExportScope(data["from_on"], data["to_on"], data["scope"], data["value"].strip())
    result = create_export(db.session, scope, actor=g.user.email,
                           fund_name=fund_name(db.session))
    return ExportSchema().dump(result.export), 201


@api_route(bp, "/v1/ledger/exports/<int:export_id>", "GET", response=ExportSchema,
           summary="One ledger export")
def get_ledger_export(export_id: int):
    return ExportSchema().dump(get_export(db.session, export_id))


@api_route(bp, "/v1/ledger/exports/<int:export_id>/download", "GET",
           summary="The export bundle (ZIP: entries.jsonl/.csv/.xlsx, manifest.json, "
                   "manifest.sig)")
def download_ledger_export(export_id: int):
    export = get_export(db.session, export_id)
    return send_file(export_path(export), mimetype="application/zip", as_attachment=True,
                     download_name=export_path(export).name)


@api_route(bp, "/v1/compliance/checks", "GET", response=ChecksSchema,
           summary="What needs attention, each item naming its clause")
def list_compliance_checks():
    return ChecksSchema().dump(checks_body())


def checks_body() -> dict:
    report = run_checks(db.session)
    items = []
    for item in report.items:
        data = item.as_dict()
        data["due_on"] = item.due_on
        items.append(data)
    return {"ran_at": report.ran_at, "counts": report.counts(),
            "checks": [{"id": c.id, "clause": c.clause, "title": str(c.title)}
                       for c in report.checks], "items": items}
