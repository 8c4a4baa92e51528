"""API routes of holdings, valuation marks, appraisals and cash flows, on the shared API
blueprint.

What creates money, equity or a value (a draft mark, an appraisal, a cash flow) is idempotent: a
retried POST with the same Idempotency-Key answers the first record instead of making a second.
"""

from __future__ import annotations

from sqlalchemy import select

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.extensions import db
from fundapp.portfolio.fields import ItemsSchema, to_json
from fundapp.portfolio.holdings import operations as ops
from fundapp.portfolio.holdings.models import CashFlow, FlowKind, MarkMethod, ValuationMark
from fundapp.portfolio.holdings.schemas import (
    AppraisalCreateSchema,
    AppraisalSchema,
    CashFlowCreateSchema,
    CashFlowSchema,
    MarkCreateSchema,
    MarkSchema,
)
from fundapp.portfolio.performance.summary import performance_summary
from fundapp.portfolio.web import AS_OF_PARAM, as_of_arg, current_actor, date_arg


@api_route(bp, "/v1/holdings", "GET", summary="Schedule of investments as of a date",
           response=ItemsSchema, params=[AS_OF_PARAM])
def list_holdings():
    as_of = as_of_arg()
    summary = performance_summary(db.session, as_of, detail=False)
    return {"as_of": as_of.isoformat(), "items": to_json(summary["holdings"])}


@api_route(bp, "/v1/holdings/<int:holding_id>/marks", "GET", summary="A holding's marks",
           response=ItemsSchema)
def list_marks(holding_id: int):
    holding = ops.get_holding(db.session, holding_id)
    marks = db.session.scalars(select(ValuationMark).where(ValuationMark.holding_id == holding.id)
                               .order_by(ValuationMark.measured_on, ValuationMark.id))
    return {"items": MarkSchema(many=True).dump(marks)}


@api_route(bp, "/v1/holdings/<int:holding_id>/marks", "POST", summary="Draft a valuation mark",
           body=MarkCreateSchema, response=MarkSchema, status=201, idempotent=True)
def create_mark(holding_id: int):
    data = load_json(MarkCreateSchema())
    holding = ops.get_holding(db.session, holding_id)
    mark = ops.record_mark(db.session, holding, measured_on=data["measured_on"],
                           method=MarkMethod(data["method"]),
                           value_per_unit=data["value_per_unit"], inputs=data["inputs"],
                           note=data["note"], actor=current_actor())
    return MarkSchema().dump(mark), 201


@api_route(bp, "/v1/marks/<int:mark_id>/finalise", "POST",
           summary="Finalise a mark (not by its author)", response=MarkSchema)
def finalise_mark(mark_id: int):
    mark = ops.finalise_mark(db.session, ops.get_mark(db.session, mark_id), actor=current_actor())
    return MarkSchema().dump(mark)


@api_route(bp, "/v1/holdings/<int:holding_id>/appraisals", "POST",
           summary="Record a filed appraisal", body=AppraisalCreateSchema,
           response=AppraisalSchema, status=201, idempotent=True)
def create_appraisal(holding_id: int):
    data = load_json(AppraisalCreateSchema())
    row = ops.record_appraisal(db.session, ops.get_holding(db.session, holding_id),
                               actor=current_actor(), **data)
    return AppraisalSchema().dump(row), 201


@api_route(bp, "/v1/cash-flows", "GET", summary="Typed cash flows in a period",
           response=ItemsSchema,
           params=[AS_OF_PARAM, {"name": "start", "in": "query", "schema": {"type": "string"}}])
def list_cash_flows():
    as_of = as_of_arg()
    summary = performance_summary(db.session, as_of, period_start=date_arg("start"))
    return {"as_of": as_of.isoformat(), "items": to_json(summary["cash_flows"])}


@api_route(bp, "/v1/cash-flows", "POST",
           summary="Record a follow-on investment, dividend, recovery or fee",
           body=CashFlowCreateSchema, response=CashFlowSchema, status=201, idempotent=True)
def create_cash_flow():
    data = load_json(CashFlowCreateSchema())
    flow = ops.record_cash_flow(db.session, actor=current_actor(),
                                **{**data, "kind": FlowKind(data["kind"])})
    return CashFlowSchema().dump(db.session.get(CashFlow, flow.id)), 201
