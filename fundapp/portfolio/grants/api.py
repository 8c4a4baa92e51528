"""API routes of policy versions and grant agreements, on the shared API blueprint.

The handlers never commit: the request's unit of work does. The POSTs that create money (signing,
disbursements, refunds) are idempotent: a repeat with the same Idempotency-Key replays the first
answer.
"""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l
from marshmallow import fields
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.api.routes import PAGE_PARAMS, page_body
from fundapp.api.schemas import PageSchema
from fundapp.compliance.book_cache import cached
from fundapp.compliance.corrections import correction_schema
from fundapp.errors import AppError, refuse_on_constraint
from fundapp.extensions import db
from fundapp.fund.operations import create_policy_version
from fundapp.fund.queries import policy_versions
from fundapp.pagination import paginate
from fundapp.portfolio.common import MAX_ID
from fundapp.portfolio.conversion.operations import record_alternative_condition_met
from fundapp.portfolio.conversion.schemas import AlternativeConditionCreateSchema
from fundapp.portfolio.grants import operations as ops
from fundapp.portfolio.grants.models import Grant, GrantDisbursement, Tranche
from fundapp.portfolio.grants.queries import grants_query
from fundapp.portfolio.grants.schemas import (
    AcceptanceCreateSchema,
    BreachCreateSchema,
    DisbursementCreateSchema,
    DisbursementListSchema,
    DisbursementSchema,
    GrantCorrectionSchema,
    GrantCreateSchema,
    GrantSchema,
    OverrideCreateSchema,
    PolicyCreateSchema,
    PolicyListSchema,
    PolicySchema,
    RefundCreateSchema,
    ReviewCreateSchema,
    ToleranceClosureSchema,
    TrancheScheduleCorrectionSchema,
)
from fundapp.portfolio.web import current_actor


class GrantPageSchema(PageSchema):
    items = fields.List(fields.Nested(GrantSchema))


# Two requests signing for one deal at the same time: the second meets the unique deal_id.
refuse_on_constraint(AppError(_l("This deal already has a grant agreement."), status=409,
                              code="duplicate"), "uq_grants_deal_id", "grants.deal_id")


# --------------------------------------------------------------------------- policies


@api_route(bp, "/v1/policies", "GET", summary="Policy versions, newest effective date first",
           response=PolicyListSchema)
def list_policies():
    return {"items": PolicySchema(many=True).dump(policy_versions(db.session))}


@api_route(bp, "/v1/policies", "POST", summary="Create a new policy version (admin)",
           body=PolicyCreateSchema, response=PolicySchema, status=201)
def create_policy():
    data = load_json(PolicyCreateSchema())
    row = create_policy_version(db.session, actor=current_actor(), **data)
    return PolicySchema().dump(row), 201


# --------------------------------------------------------------------------- grants


def _shown() -> tuple:
    """What GrantSchema shows of a grant besides its row, in one statement per relation for
    a whole page of grants (not one per grant, nor one per tranche for its reviews)."""
    return (selectinload(Grant.tranches).selectinload(Tranche.reviews),
            selectinload(Grant.disbursements).joinedload(GrantDisbursement.tranche),
            selectinload(Grant.refunds), selectinload(Grant.conversion),
            selectinload(Grant.alternative_trigger))


@api_route(bp, "/v1/grants", "GET", summary="Grant agreements", response=GrantPageSchema,
           params=PAGE_PARAMS + [{"name": "status", "in": "query", "schema": {"type": "string"}}])
def list_grants():
    status = request.args.get("status", "")
    number, size = request.args.get("page", 1), request.args.get("per_page", 25)

    def page_of_grants() -> dict:
        stmt = grants_query(status).options(*_shown())
        return page_body(paginate(db.session, stmt, number, size), GrantSchema())

    # Every field of a grant is the book's (changed only by ledgered operations that move its
    # version): a page of them is made once per book version (compliance/book_cache.py).
    return cached(db.session, "grants_json", (status, str(number), str(size)), page_of_grants,
                  by_language=False)


@api_route(bp, "/v1/grants", "POST", summary="Sign a grant agreement for a deal",
           body=GrantCreateSchema, response=GrantSchema, status=201, idempotent=True)
def create_grant():
    data = load_json(GrantCreateSchema())
    grant = ops.create_grant(db.session, actor=current_actor(), **data)
    return GrantSchema().dump(grant), 201


@api_route(bp, "/v1/grants/<int:grant_id>", "GET", summary="A grant agreement",
           response=GrantSchema)
def get_grant(grant_id: int):
    def shown() -> dict:
        grant = db.session.scalar(select(Grant).where(Grant.id == grant_id).options(*_shown())) \
            if 0 < grant_id <= MAX_ID else None
        return GrantSchema().dump(grant or ops.get_grant(db.session, grant_id))  # or 404

    return cached(db.session, "grant_json", (grant_id,), shown, by_language=False)


@api_route(bp, "/v1/grants/<int:grant_id>/disbursements", "GET",
           summary="Disbursements of a grant", response=DisbursementListSchema)
def list_disbursements(grant_id: int):
    grant = ops.get_grant(db.session, grant_id)
    return {"items": DisbursementSchema(many=True).dump(grant.disbursements)}


@api_route(bp, "/v1/grants/<int:grant_id>/disbursements", "POST",
           summary="Release a tranche (R2.b)", body=DisbursementCreateSchema,
           response=DisbursementSchema, status=201, idempotent=True)
def create_disbursement(grant_id: int):
    data = load_json(DisbursementCreateSchema())
    grant = ops.get_grant(db.session, grant_id)
    payment = ops.disburse(db.session, grant, actor=current_actor(), **data)
    return DisbursementSchema().dump(payment), 201


def _grant_action(path: str, operation, schema, summary: str, *, endpoint: str,
                  status: int = 200, idempotent: bool = False) -> None:
    """A POST on a grant that runs one operation and answers with the grant as it now is."""

    def view(grant_id: int):
        data = load_json(schema())
        grant = ops.get_grant(db.session, grant_id)
        operation(db.session, grant, actor=current_actor(), **data)
        return GrantSchema().dump(grant), status

    view.__name__ = endpoint
    api_route(bp, f"/v1/grants/<int:grant_id>/{path}", "POST", summary=summary, body=schema,
              response=GrantSchema, status=status, endpoint=endpoint,
              idempotent=idempotent)(view)


for _args, _kwargs in [
    (("reviews", ops.record_milestone_review, ReviewCreateSchema,
      "Record a milestone review (R2.b)"), {"endpoint": "create_review", "status": 201}),
    (("refunds", ops.record_refund, RefundCreateSchema, "Record a refund"),
     {"endpoint": "create_refund", "status": 201, "idempotent": True}),
    (("rd-acceptance", ops.accept_rd, AcceptanceCreateSchema, "Record the R&D acceptance (R2.c)"),
     {"endpoint": "accept_rd"}),
    (("breach", ops.declare_breach, BreachCreateSchema,
      "Declare a breach: suspension and recovery with penalty interest (R8.c)"),
     {"endpoint": "declare_breach"}),
    (("tolerance-closure", ops.close_with_tolerance, ToleranceClosureSchema,
      "Close with tolerance by IC decision (R8.b)"), {"endpoint": "close_with_tolerance"}),
    (("policy-override", ops.override_grant_policy, OverrideCreateSchema,
      "Override policy values for one agreement (needs an IC resolution)"),
     {"endpoint": "override_policy"}),
    (("alternative-condition", record_alternative_condition_met,
      AlternativeConditionCreateSchema, "Record an agreed alternative condition as met, with "
      "the filed appraisal that prices the conversion (R3.f)"),
     {"endpoint": "record_alternative_condition", "status": 201}),
]:
    _grant_action(*_args, **_kwargs)


# --------------------------------------------------------------------------- corrections (issue 12)


@api_route(bp, "/v1/grants/<int:grant_id>", "PATCH",
           summary="Correct a grant agreement (the fields sent) with a reason, only before its "
                   "first disbursement (else 409); the ledger keeps before and after "
                   "(grant.corrected)", body=GrantCorrectionSchema, response=GrantSchema)
def correct_grant(grant_id: int):
    ops.get_grant(db.session, grant_id)
    data = load_json(correction_schema(GrantCorrectionSchema))
    grant = ops.correct_grant(db.session, grant_id, actor=current_actor(), **data)
    return GrantSchema().dump(grant)


@api_route(bp, "/v1/grants/<int:grant_id>/tranches", "PATCH",
           summary="Correct the amounts and conditions of unpaid tranches with a reason; they "
                   "still sum to the award (R2.b) (tranche_schedule.corrected)",
           body=TrancheScheduleCorrectionSchema, response=GrantSchema)
def correct_tranches(grant_id: int):
    ops.get_grant(db.session, grant_id)
    data = load_json(TrancheScheduleCorrectionSchema())
    grant = ops.correct_tranches(db.session, grant_id, actor=current_actor(), **data)
    return GrantSchema().dump(grant)
