"""API routes of conversion previews, conversions and cap tables, on the shared API blueprint.

The handlers never commit: the request's unit of work does. A conversion is idempotent with an
Idempotency-Key (the unit of work claims the key before the handler runs and replays the first
answer); without a key, a second conversion of the grant is refused by the operation under the
grant's lock, and by the database's one-conversion-per-grant constraint as the backstop.
"""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.errors import AppError, RuleRefused, refuse_on_constraint
from fundapp.extensions import db
from fundapp.inputs import load_form
from fundapp.portfolio.common import get_company
from fundapp.portfolio.conversion import operations as ops
from fundapp.portfolio.conversion import reversals
from fundapp.portfolio.conversion.queries import cap_table_view
from fundapp.portfolio.conversion.schemas import (
    CapTableSchema,
    ConversionCreateSchema,
    ConversionReversalSchema,
    ConversionSchema,
    DisbursementReversalSchema,
    PreviewRequestSchema,
    PreviewSchema,
    RegistrationCreateSchema,
    SensitivityQuerySchema,
    SensitivitySchema,
)
from fundapp.portfolio.grants.operations import get_grant
from fundapp.portfolio.grants.schemas import DisbursementSchema
from fundapp.portfolio.rounds.schemas import RoundFormSchema
from fundapp.portfolio.web import current_actor

# What a concurrent twin meets when the database refuses its write.
refuse_on_constraint(AppError(_l("This grant has already been converted."), status=409,
                              code="already_converted", details={"rule": "R4"}),
                     "uq_conversions_standing_grant_id", "conversions.grant_id")
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
    what_if = ops.what_if_policy(db.session, grant, policy_version_id=data["policy_version_id"],
                                 changes=ops.what_if_texts(data))
    holders = (data.get("round") or {}).get("holders_before")
    scenario = {"round_id": data.get("round_id"), "round_data": data.get("round"),
                "holders_before": holders, "basis": data["basis"]}
    preview = ops.preview_conversion(db.session, grant, **scenario)
    other = None
    if what_if is not None:
        side = ops.preview_side(db.session, grant, what_if.name, what_if.policy, **scenario)
        other = {"policy_version": what_if.version, "policy_version_id": what_if.version_id,
                 "changes": what_if.changes, "name": what_if.name,
                 "refused_clause": side.clause, "reason": side.reason,
                 "sheet": side.result.to_dict() if side.result is not None else None}
    return PreviewSchema().dump({"grant_id": grant_id, "round_id": preview.round_id,
                                 "cap_table_before_known": preview.has_cap_table,
                                 "policy_version": ops.pinned_policy_name(grant),
                                 "sheet": preview.result.to_dict(), "what_if": other})


SENSITIVITY_PARAMS = [
    {"name": "round_id", "in": "query", "schema": {"type": "integer"},
     "description": "A recorded round; without it, describe a hypothetical round with the "
                    "preview page's fields (kind, closed_on, definitive_agreement_signed_on, "
                    "pre_money_valuation_amount, units_before, investor_<n>_name, "
                    "investor_<n>_cash, investor_<n>_independent, lead = the lead's row "
                    "number, holder_<n>_name, holder_<n>_units)"},
    {"name": "pre_money", "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
     "style": "form", "explode": True,
     "description": "Pre-money valuations in CNY, or shares of the round's such as 150%; "
                    "repeated or comma-separated; at most 12 (default 50%-200%)"},
    {"name": "discount", "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
     "style": "form", "explode": True,
     "description": "Discounts (R5.c) as 0.20 or 20%; at most 8 (default 0, 10, 20, 30% and "
                    "the policy's own)"},
    {"name": "closing_on", "in": "query",
     "schema": {"type": "array", "items": {"type": "string", "format": "date"}},
     "style": "form", "explode": True,
     "description": "Closing dates (R3.b window and grace); at most 6 (default the round's)"},
]


@api_route(bp, "/v1/grants/<int:grant_id>/sensitivity", "GET",
           summary="Sensitivity grid: the fund's units and stake over pre-money valuations x "
                   "discounts (x closing dates); refused cells name their clause; changes "
                   "nothing", response=SensitivitySchema, params=SENSITIVITY_PARAMS)
def conversion_sensitivity(grant_id: int):
    query = load_form(SensitivityQuerySchema(), request.args)
    grant = get_grant(db.session, grant_id)
    scenario: dict = {"round_id": query["round_id"]}
    if query["round_id"] is None:
        data = load_form(RoundFormSchema(), request.args)
        scenario = {"round_data": data, "holders_before": data.get("holders_before")}
    grid = ops.conversion_sensitivity(db.session, grant, pre_money=query["pre_money"],
                                      discount=query["discount"],
                                      closing_on=query["closing_on"], **scenario)
    return SensitivitySchema().dump(sensitivity_data(grid, grant_id, query["round_id"]))


def sensitivity_data(grid, grant_id: int, round_id: int | None) -> dict:
    """The grid with each row led by its pre-money valuation, for SensitivitySchema."""
    return {"grant_id": grant_id, "round_id": round_id,
            "pre_money_values": grid.pre_money_values, "discounts": grid.discounts,
            "closing_dates": grid.closing_dates, "base_pre_money": grid.base_pre_money,
            "base_discount": grid.base_discount, "base_closed_on": grid.base_closed_on,
            "tables": [{"closed_on": t.closed_on,
                        "rows": [{"pre_money_valuation": value, "cells": cells}
                                 for value, cells in zip(grid.pre_money_values, t.rows,
                                                         strict=True)]}
                       for t in grid.tables]}


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


@api_route(bp, "/v1/grants/<int:grant_id>/registration", "POST",
           summary="R6.g: the day the company registered the change of its registered capital "
                   "(late registration is a breach candidate)",
           body=RegistrationCreateSchema, response=ConversionSchema)
def record_registration(grant_id: int):
    data = load_json(RegistrationCreateSchema())
    grant = get_grant(db.session, grant_id)
    ops.record_registration(db.session, grant, actor=current_actor(), **data)
    return ConversionSchema().dump(get_grant(db.session, grant_id).conversion)


# --------------------------------------------------------------------------- cap table


@api_route(bp, "/v1/companies/<int:company_id>/cap-table", "GET",
           summary="The company's cap table and its history of rounds and conversions",
           response=CapTableSchema)
def get_cap_table(company_id: int):
    get_company(db.session, company_id)
    return CapTableSchema().dump(cap_table_view(db.session, company_id))


# --------------------------------------------------------------------------- reversals (issue 12)


@api_route(bp, "/v1/conversions/<int:conversion_id>/reversal", "POST",
           summary="Reverse a conversion by an IC resolution: the grant, its cancelled tranches "
                   "and payments at closing are restored, the holding and cap table marked "
                   "reversed; refused (R12, details.blockers) while anything depends on the "
                   "holding since. The grant can then convert again",
           body=ConversionReversalSchema, response=ConversionSchema, idempotent=True)
def reverse_conversion(conversion_id: int):
    data = load_json(ConversionReversalSchema())
    conversion = reversals.reverse_conversion(db.session, conversion_id, actor=current_actor(),
                                              **data)
    return ConversionSchema().dump(conversion)


@api_route(bp, "/v1/disbursements/<int:disbursement_id>/reversal", "POST",
           summary="Reverse a payment recorded wrongly (not a refund by the company): it stays, "
                   "marked reversed, and its tranche is undisbursed again; refused (R12) while "
                   "a conversion used it",
           body=DisbursementReversalSchema, response=DisbursementSchema, idempotent=True)
def reverse_disbursement(disbursement_id: int):
    data = load_json(DisbursementReversalSchema())
    payment = reversals.reverse_disbursement(db.session, disbursement_id, actor=current_actor(),
                                             **data)
    return DisbursementSchema().dump(payment)
