"""API routes of financing rounds and their evidence documents, on the shared API blueprint.

The handlers never commit: the request's unit of work does. Recording a round (it sets the price
of conversions into equity) is idempotent with an Idempotency-Key.
"""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.errors import ValidationFailed
from fundapp.extensions import db
from fundapp.portfolio.common import get_company
from fundapp.portfolio.rounds import operations as ops
from fundapp.portfolio.rounds.queries import company_rounds
from fundapp.portfolio.rounds.schemas import (
    DocumentSchema,
    RoundCorrectionSchema,
    RoundCreateSchema,
    RoundListSchema,
    RoundSchema,
)
from fundapp.portfolio.web import current_actor


@api_route(bp, "/v1/companies/<int:company_id>/rounds", "GET",
           summary="A company's financing rounds with their R3 checks",
           response=RoundListSchema)
def list_rounds(company_id: int):
    get_company(db.session, company_id)
    return {"items": RoundSchema(many=True).dump(company_rounds(db.session, company_id))}


@api_route(bp, "/v1/companies/<int:company_id>/rounds", "POST",
           summary="Record a financing round; it is checked against R3 for each open grant",
           body=RoundCreateSchema, response=RoundSchema, status=201, idempotent=True)
def create_round(company_id: int):
    data = load_json(RoundCreateSchema())
    company = get_company(db.session, company_id)
    row = ops.record_round(db.session, company, data, actor=current_actor())
    return RoundSchema().dump(row), 201


@api_route(bp, "/v1/companies/<int:company_id>/rounds/<int:round_id>", "GET",
           summary="A financing round with its clause-by-clause R3 checks", response=RoundSchema)
def get_round(company_id: int, round_id: int):
    return RoundSchema().dump(ops.get_round(db.session, round_id, company_id))


@api_route(bp, "/v1/companies/<int:company_id>/rounds/<int:round_id>/documents", "POST",
           summary="Upload an evidence document (multipart field \"file\"; PDF or image)",
           response=DocumentSchema, status=201)
def upload_round_document(company_id: int, round_id: int):
    row = ops.get_round(db.session, round_id, company_id)
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(_l("Some fields are not valid."),
                               details={"file": [str(_l("Choose a file."))]})
    doc = ops.attach_evidence(db.session, row, filename=upload.filename or "",
                              content=upload.read(), actor=current_actor())
    return DocumentSchema().dump(doc), 201


@api_route(bp, "/v1/companies/<int:company_id>/rounds/<int:round_id>", "PATCH",
           summary="Correct a financing round and its investors (the fields sent; investors "
                   "sent replace them) with a reason, only while no conversion uses the round "
                   "(else 409); its R3 checks are made again (round.corrected)",
           body=RoundCorrectionSchema, response=RoundSchema)
def correct_round(company_id: int, round_id: int):
    from fundapp.compliance.corrections import correction_schema

    data = load_json(correction_schema(RoundCorrectionSchema))  # the body first, as elsewhere
    ops.get_round(db.session, round_id, company_id)
    reason = data.pop("reason")
    row = ops.correct_round(db.session, round_id, data, actor=current_actor(), reason=reason)
    return RoundSchema().dump(row)
