"""API routes of holdings, valuation marks, appraisals and cash flows, on the shared API
blueprint.

What creates money, equity or a value (a draft mark, an appraisal, a cash flow) is idempotent: a
retried POST with the same Idempotency-Key answers the first record instead of making a second.
"""

from __future__ import annotations

from flask import request
from sqlalchemy import select

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.api.routes import PAGE_PARAMS
from fundapp.compliance.book_cache import cached
from fundapp.deals.models import Company
from fundapp.extensions import db
from fundapp.pagination import PER_PAGE, Page, paginate
from fundapp.portfolio.fields import ItemsSchema, to_json
from fundapp.portfolio.holdings import operations as ops
from fundapp.portfolio.holdings.models import (
    CashFlow,
    FlowKind,
    Holding,
    HoldingStatus,
    MarkMethod,
    ValuationMark,
)
from fundapp.portfolio.holdings.schemas import (
    AppraisalCreateSchema,
    AppraisalSchema,
    CashFlowCreateSchema,
    CashFlowSchema,
    MarkCorrectionSchema,
    MarkCreateSchema,
    MarkSchema,
)
from fundapp.portfolio.performance.summary import cash_flow_page, holding_rows
from fundapp.portfolio.web import AS_OF_PARAM, as_of_arg, current_actor, date_arg


def _page_meta(page: Page) -> dict:
    return {"page": page.number, "per_page": page.per_page, "total": page.total,
            "pages": page.pages}


@api_route(bp, "/v1/holdings", "GET", summary="Schedule of investments as of a date, a page "
           "at a time (by company)", response=ItemsSchema, params=[AS_OF_PARAM, *PAGE_PARAMS])
def list_holdings():
    as_of = as_of_arg()
    number, size = request.args.get("page", 1), request.args.get("per_page", PER_PAGE)

    def page_of_rows() -> dict:
        # The page's holdings are chosen by SQL and only their rows are computed (issue 14).
        stmt = (select(Holding.id).join(Company, Company.id == Holding.company_id)
                .where(Holding.acquired_on <= as_of, Holding.status != HoldingStatus.REVERSED)
                .order_by(Company.legal_name, Holding.id))
        page = paginate(db.session, stmt, number, size)
        return {"as_of": as_of.isoformat(),
                "items": to_json(holding_rows(db.session, as_of, page.items)),
                **_page_meta(page)}

    # The rows are the book's figures: a page is computed once per book version.
    return cached(db.session, "holdings_json", (as_of, str(number), str(size)), page_of_rows)


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


@api_route(bp, "/v1/cash-flows", "GET", summary="Typed cash flows in a period, a page at a time",
           response=ItemsSchema,
           params=[AS_OF_PARAM, {"name": "start", "in": "query", "schema": {"type": "string"}},
                   *PAGE_PARAMS])
def list_cash_flows():
    as_of = as_of_arg()
    # The flows as the performance figures count them (a converted grant's payments split),
    # without computing the figures; only the page's rows are built (issue 14).
    page = cash_flow_page(db.session, as_of, date_arg("start"), request.args.get("page", 1),
                          request.args.get("per_page", PER_PAGE))
    return {"as_of": as_of.isoformat(), "items": to_json(page.items), **_page_meta(page)}


@api_route(bp, "/v1/cash-flows", "POST",
           summary="Record a follow-on investment, dividend, recovery or fee",
           body=CashFlowCreateSchema, response=CashFlowSchema, status=201, idempotent=True)
def create_cash_flow():
    data = load_json(CashFlowCreateSchema())
    flow = ops.record_cash_flow(db.session, actor=current_actor(),
                                **{**data, "kind": FlowKind(data["kind"])})
    return CashFlowSchema().dump(db.session.get(CashFlow, flow.id)), 201


@api_route(bp, "/v1/marks/<int:mark_id>", "PATCH",
           summary="Correct a draft mark with a reason (the whole mark as it should have been "
                   "drafted); a final mark is refused with 409 (mark.corrected)",
           body=MarkCorrectionSchema, response=MarkSchema)
def correct_mark(mark_id: int):
    ops.get_mark(db.session, mark_id)
    data = load_json(MarkCorrectionSchema())
    mark = ops.correct_mark(db.session, mark_id, measured_on=data["measured_on"],
                            method=data["method"], value_per_unit=data["value_per_unit"],
                            inputs=data["inputs"], note=data["note"], actor=current_actor(),
                            reason=data["reason"])
    return MarkSchema().dump(mark)
