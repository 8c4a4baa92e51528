"""API routes of conversion previews, conversions and cap tables, on the shared API blueprint."""

from __future__ import annotations

import hashlib
import json

from flask import g, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.compliance.ledger import canonical_json
from fundapp.errors import AppError, ValidationFailed
from fundapp.extensions import db
from fundapp.idempotency import IdempotentRequest
from fundapp.portfolio.common import get_company
from fundapp.portfolio.conversion import operations as ops
from fundapp.portfolio.conversion.queries import cap_table_view
from fundapp.portfolio.conversion.schemas import (
    CapTableSchema,
    ConversionCreateSchema,
    ConversionSchema,
    PreviewRequestSchema,
    PreviewSchema,
)
from fundapp.portfolio.grants.operations import get_grant
from fundapp.portfolio.web import current_actor

IDEMPOTENCY_HEADER = {"name": "Idempotency-Key", "in": "header", "required": False,
                      "schema": {"type": "string", "maxLength": 200},
                      "description": "Repeats with the same key replay the first answer."}


# --------------------------------------------------------------------------- conversion


@api_route(bp, "/v1/grants/<int:grant_id>/conversion-preview", "POST",
           summary="What-if conversion sheet for a recorded or hypothetical round; changes "
                   "nothing", body=PreviewRequestSchema, response=PreviewSchema)
def conversion_preview(grant_id: int):
    data = load_json(PreviewRequestSchema())
    grant = get_grant(db.session, grant_id)
    holders = (data.get("round") or {}).get("holders_before")
    preview = ops.preview_conversion(db.session, grant, round_id=data.get("round_id"),
                                     round_data=data.get("round"), holders_before=holders,
                                     basis=data["basis"])
    db.session.rollback()  # a preview never writes
    return PreviewSchema().dump({"grant_id": grant_id, "round_id": preview.round_id,
                                 "cap_table_before_known": preview.has_cap_table,
                                 "sheet": preview.result.to_dict()})


@api_route(bp, "/v1/grants/<int:grant_id>/conversion", "GET", summary="The grant's conversion",
           response=ConversionSchema)
def get_conversion(grant_id: int):
    grant = get_grant(db.session, grant_id)
    if grant.conversion is None:
        raise AppError(_l("This grant has not been converted."), status=404, code="not_found")
    return ConversionSchema().dump(grant.conversion)


@api_route(bp, "/v1/grants/<int:grant_id>/conversion", "POST",
           summary="Convert the grant at a qualifying round (R3-R6) or, with basis \"appraisal\", "
                   "at the filed appraisal of a met alternative condition (R3.f); idempotent with "
                   "Idempotency-Key", body=ConversionCreateSchema, response=ConversionSchema,
           status=201, params=[IDEMPOTENCY_HEADER])
def create_conversion(grant_id: int):
    data = load_json(ConversionCreateSchema())
    key = request.headers.get("Idempotency-Key", "").strip()
    scope = f"POST /v1/grants/{grant_id}/conversion"
    digest = hashlib.sha256(canonical_json(data).encode()).hexdigest()
    if key:
        if len(key) > 200:
            raise ValidationFailed(_l("Some fields are not valid."),
                                   details={"Idempotency-Key": ["Longer than maximum length 200."]})
        replay = _replay(scope, key, digest)
        if replay is not None:
            return replay
    # The grant's lock first, then the key again: a concurrent twin with the same key waited
    # for the lock and now finds the first answer.
    ops.lock_grant(db.session, grant_id)
    if key:
        replay = _replay(scope, key, digest)
        if replay is not None:
            db.session.rollback()
            return replay
    conversion = ops.convert_grant(db.session, grant_id, actor=current_actor(), **data)
    body = ConversionSchema().dump(conversion)
    if key:
        db.session.add(IdempotentRequest(user_id=g.user.id, scope=scope, key=key,
                                         request_hash=digest, status_code=201,
                                         response_json=json.dumps(body, ensure_ascii=False)))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AppError(_l("This grant has already been converted."), status=409,
                       code="already_converted", details={"rule": "R4"}) from None
    return body, 201


def _replay(scope: str, key: str, digest: str):
    row = db.session.scalar(select(IdempotentRequest).where(
        IdempotentRequest.user_id == g.user.id, IdempotentRequest.scope == scope,
        IdempotentRequest.key == key))
    if row is None:
        return None
    if row.request_hash != digest:
        raise AppError(_l("This Idempotency-Key was used with a different request."),
                       status=409, code="idempotency_key_reused")
    return json.loads(row.response_json), row.status_code, {"Idempotent-Replayed": "true"}


# --------------------------------------------------------------------------- cap table


@api_route(bp, "/v1/companies/<int:company_id>/cap-table", "GET",
           summary="The company's cap table and its history of rounds and conversions",
           response=CapTableSchema)
def get_cap_table(company_id: int):
    get_company(db.session, company_id)
    return CapTableSchema().dump(cap_table_view(db.session, company_id))
