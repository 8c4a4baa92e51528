"""API routes of conversion previews, conversions and cap tables, on the shared API blueprint.

The handlers never commit: the request's unit of work does. A conversion is idempotent with an
Idempotency-Key (the unit of work claims the key before the handler runs and replays the first
answer); without a key, a second conversion of the grant is refused by the operation under the
grant's lock, and by the database's one-conversion-per-grant constraint as the backstop.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.errors import AppError, RuleRefused, refuse_on_constraint
from fundapp.extensions import db
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

# What a concurrent twin meets when the database refuses its write.
refuse_on_constraint(AppError(_l("This grant has already been converted."), status=409,
                              code="already_converted", details={"rule": "R4"}),
                     "uq_conversions_grant_id", "conversions.grant_id")
refuse_on_constraint(RuleRefused("R3.f", _l("An alternative condition has already been recorded "
                                            "as met.")),
                     "uq_grant_alternative_triggers_grant_id",
                     "grant_alternative_triggers.grant_id")


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
                   "at the filed appraisal of a met alternative condition (R3.f)",
           body=ConversionCreateSchema, response=ConversionSchema, status=201, idempotent=True)
def create_conversion(grant_id: int):
    data = load_json(ConversionCreateSchema())
    conversion = ops.convert_grant(db.session, grant_id, actor=current_actor(), **data)
    return ConversionSchema().dump(conversion), 201


# --------------------------------------------------------------------------- cap table


@api_route(bp, "/v1/companies/<int:company_id>/cap-table", "GET",
           summary="The company's cap table and its history of rounds and conversions",
           response=CapTableSchema)
def get_cap_table(company_id: int):
    get_company(db.session, company_id)
    return CapTableSchema().dump(cap_table_view(db.session, company_id))
