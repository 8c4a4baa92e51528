"""API routes of grants, rounds, conversions and policies, on the shared API blueprint."""

from __future__ import annotations

import hashlib
import json

from flask import g, request
from flask_babel import lazy_gettext as _l
from marshmallow import fields
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.api.routes import PAGE_PARAMS, page_body
from fundapp.api.schemas import PageSchema
from fundapp.compliance.ledger import canonical_json
from fundapp.errors import AppError, ValidationFailed
from fundapp.extensions import db
from fundapp.pagination import paginate
from fundapp.portfolio import operations as ops
from fundapp.portfolio import queries
from fundapp.portfolio.models import IdempotentRequest
from fundapp.portfolio.schemas import (
    AcceptanceCreateSchema,
    AlternativeConditionCreateSchema,
    BreachCreateSchema,
    CapTableSchema,
    ConversionCreateSchema,
    ConversionSchema,
    DisbursementCreateSchema,
    DisbursementListSchema,
    DisbursementSchema,
    DocumentSchema,
    GrantCreateSchema,
    GrantSchema,
    OverrideCreateSchema,
    PolicyCreateSchema,
    PolicyListSchema,
    PolicySchema,
    PreviewRequestSchema,
    PreviewSchema,
    RefundCreateSchema,
    ReviewCreateSchema,
    RoundCreateSchema,
    RoundListSchema,
    RoundSchema,
    ToleranceClosureSchema,
)


class GrantPageSchema(PageSchema):
    items = fields.List(fields.Nested(GrantSchema))


IDEMPOTENCY_HEADER = {"name": "Idempotency-Key", "in": "header", "required": False,
                      "schema": {"type": "string", "maxLength": 200},
                      "description": "Repeats with the same key replay the first answer."}


def _actor() -> str:
    return g.user.email


# --------------------------------------------------------------------------- policies


@api_route(bp, "/v1/policies", "GET", summary="Policy versions, newest effective date first",
           response=PolicyListSchema)
def list_policies():
    ops.ensure_default_policy(db.session)
    db.session.commit()
    return {"items": PolicySchema(many=True).dump(queries.policy_versions(db.session))}


@api_route(bp, "/v1/policies", "POST", summary="Create a new policy version (admin)",
           body=PolicyCreateSchema, response=PolicySchema, status=201)
def create_policy():
    data = load_json(PolicyCreateSchema())
    row = ops.create_policy_version(db.session, actor=_actor(), **data)
    db.session.commit()
    return PolicySchema().dump(row), 201


# --------------------------------------------------------------------------- grants


@api_route(bp, "/v1/grants", "GET", summary="Grant agreements", response=GrantPageSchema,
           params=PAGE_PARAMS + [{"name": "status", "in": "query", "schema": {"type": "string"}}])
def list_grants():
    page = paginate(db.session, queries.grants_query(request.args.get("status", "")),
                    request.args.get("page", 1), request.args.get("per_page", 25))
    return page_body(page, GrantSchema())


@api_route(bp, "/v1/grants", "POST", summary="Sign a grant agreement for a deal",
           body=GrantCreateSchema, response=GrantSchema, status=201)
def create_grant():
    data = load_json(GrantCreateSchema())
    grant = ops.create_grant(db.session, actor=_actor(), **data)
    db.session.commit()
    return GrantSchema().dump(grant), 201


@api_route(bp, "/v1/grants/<int:grant_id>", "GET", summary="A grant agreement",
           response=GrantSchema)
def get_grant(grant_id: int):
    return GrantSchema().dump(ops.get_grant(db.session, grant_id))


@api_route(bp, "/v1/grants/<int:grant_id>/disbursements", "GET",
           summary="Disbursements of a grant", response=DisbursementListSchema)
def list_disbursements(grant_id: int):
    grant = ops.get_grant(db.session, grant_id)
    return {"items": DisbursementSchema(many=True).dump(grant.disbursements)}


@api_route(bp, "/v1/grants/<int:grant_id>/disbursements", "POST",
           summary="Release a tranche (R2.b)", body=DisbursementCreateSchema,
           response=DisbursementSchema, status=201)
def create_disbursement(grant_id: int):
    data = load_json(DisbursementCreateSchema())
    grant = ops.get_grant(db.session, grant_id)
    payment = ops.disburse(db.session, grant, actor=_actor(), **data)
    db.session.commit()
    return DisbursementSchema().dump(payment), 201


def _grant_action(path: str, operation, schema, summary: str, *, endpoint: str,
                  status: int = 200) -> None:
    """A POST on a grant that runs one operation and answers with the grant as it now is."""

    def view(grant_id: int):
        data = load_json(schema())
        grant = ops.get_grant(db.session, grant_id)
        operation(db.session, grant, actor=_actor(), **data)
        db.session.commit()
        return GrantSchema().dump(grant), status

    view.__name__ = endpoint
    api_route(bp, f"/v1/grants/<int:grant_id>/{path}", "POST", summary=summary, body=schema,
              response=GrantSchema, status=status, endpoint=endpoint)(view)


for _args, _kwargs in [
    (("reviews", ops.record_milestone_review, ReviewCreateSchema,
      "Record a milestone review (R2.b)"), {"endpoint": "create_review", "status": 201}),
    (("refunds", ops.record_refund, RefundCreateSchema, "Record a refund"),
     {"endpoint": "create_refund", "status": 201}),
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
    (("alternative-condition", ops.record_alternative_condition_met,
      AlternativeConditionCreateSchema, "Record an agreed alternative condition as met, with "
      "the filed appraisal that prices the conversion (R3.f)"),
     {"endpoint": "record_alternative_condition", "status": 201}),
]:
    _grant_action(*_args, **_kwargs)


# --------------------------------------------------------------------------- conversion


@api_route(bp, "/v1/grants/<int:grant_id>/conversion-preview", "POST",
           summary="What-if conversion sheet for a recorded or hypothetical round; changes "
                   "nothing", body=PreviewRequestSchema, response=PreviewSchema)
def conversion_preview(grant_id: int):
    data = load_json(PreviewRequestSchema())
    grant = ops.get_grant(db.session, grant_id)
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
    grant = ops.get_grant(db.session, grant_id)
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
    conversion = ops.convert_grant(db.session, grant_id, actor=_actor(), **data)
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


# --------------------------------------------------------------------------- rounds, cap table


@api_route(bp, "/v1/companies/<int:company_id>/rounds", "GET",
           summary="A company's financing rounds with their R3 checks",
           response=RoundListSchema)
def list_rounds(company_id: int):
    ops.get_company(db.session, company_id)
    return {"items": RoundSchema(many=True).dump(queries.company_rounds(db.session, company_id))}


@api_route(bp, "/v1/companies/<int:company_id>/rounds", "POST",
           summary="Record a financing round; it is checked against R3 for each open grant",
           body=RoundCreateSchema, response=RoundSchema, status=201)
def create_round(company_id: int):
    data = load_json(RoundCreateSchema())
    company = ops.get_company(db.session, company_id)
    row = ops.record_round(db.session, company, data, actor=_actor())
    db.session.commit()
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
                              content=upload.read(), actor=_actor())
    db.session.commit()
    return DocumentSchema().dump(doc), 201


@api_route(bp, "/v1/companies/<int:company_id>/cap-table", "GET",
           summary="The company's cap table and its history of rounds and conversions",
           response=CapTableSchema)
def get_cap_table(company_id: int):
    ops.get_company(db.session, company_id)
    return CapTableSchema().dump(queries.cap_table_view(db.session, company_id))


# --------------------------------------------------------------------------- portfolio (issue 5)

from datetime import date as _date  # noqa: E402

from fundapp.portfolio import kpis as kpi_ops  # noqa: E402
from fundapp.portfolio.models import (  # noqa: E402
    CashFlow,
    Exit,
    ExitKind,
    FlowKind,
    IndexSeries,
    MarkMethod,
    ValuationMark,
)
from fundapp.portfolio.performance import check_as_of, performance_summary  # noqa: E402
from fundapp.portfolio.schemas import (  # noqa: E402
    AppraisalCreateSchema,
    AppraisalSchema,
    BalanceCreateSchema,
    CashFlowCreateSchema,
    CashFlowSchema,
    ExitCreateSchema,
    ExitSchema,
    IndexSeriesSchema,
    ItemsSchema,
    KpiAnswerSchema,
    MarkCreateSchema,
    MarkSchema,
    PerformanceSchema,
    to_json,
)

AS_OF_PARAM = {"name": "as_of", "in": "query", "schema": {"type": "string", "format": "date"},
               "description": "Figures as of this date (default today); not in the future."}


def _date_arg(name: str, default: _date | None = None) -> _date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return _date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(_l("Some fields are not valid."), details={
            name: [str(_l("Not a valid date."))]}) from None


def _as_of() -> _date:
    return check_as_of(_date_arg("as_of"))


@api_route(bp, "/v1/performance", "GET", summary="Fund performance as of a date",
           response=PerformanceSchema,
           params=[AS_OF_PARAM,
                   {"name": "period_start", "in": "query", "schema": {"type": "string"},
                    "description": "Start of a reporting period: its cash flows are listed."},
                   {"name": "index", "in": "query", "schema": {"type": "string"}},
                   {"name": "include", "in": "query", "schema": {"type": "string",
                                                                 "enum": ["cash_flows"]},
                    "description": "cash_flows: also list every flow since inception (large;"
                                   " GET /api/v1/cash-flows gives the same list)."}])
def get_performance():
    period_start = _date_arg("period_start")
    # The figures, not every one of the fund's flows: those only for a period or when asked.
    detail = period_start is not None or request.args.get("include") == "cash_flows"
    summary = performance_summary(db.session, _as_of(), period_start=period_start,
                                  index_series=request.args.get("index") or None, detail=detail)
    return PerformanceSchema().dump(summary)


@api_route(bp, "/v1/holdings", "GET", summary="Schedule of investments as of a date",
           response=ItemsSchema, params=[AS_OF_PARAM])
def list_holdings():
    as_of = _as_of()
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
           body=MarkCreateSchema, response=MarkSchema, status=201)
def create_mark(holding_id: int):
    data = load_json(MarkCreateSchema())
    holding = ops.get_holding(db.session, holding_id)
    mark = ops.record_mark(db.session, holding, measured_on=data["measured_on"],
                           method=MarkMethod(data["method"]),
                           value_per_unit=data["value_per_unit"], inputs=data["inputs"],
                           note=data["note"], actor=_actor())
    db.session.commit()
    return MarkSchema().dump(mark), 201


@api_route(bp, "/v1/marks/<int:mark_id>/finalise", "POST",
           summary="Finalise a mark (not by its author)", response=MarkSchema)
def finalise_mark(mark_id: int):
    mark = ops.finalise_mark(db.session, ops.get_mark(db.session, mark_id), actor=_actor())
    db.session.commit()
    return MarkSchema().dump(mark)


@api_route(bp, "/v1/holdings/<int:holding_id>/appraisals", "POST",
           summary="Record a filed appraisal", body=AppraisalCreateSchema,
           response=AppraisalSchema, status=201)
def create_appraisal(holding_id: int):
    data = load_json(AppraisalCreateSchema())
    row = ops.record_appraisal(db.session, ops.get_holding(db.session, holding_id),
                               actor=_actor(), **data)
    db.session.commit()
    return AppraisalSchema().dump(row), 201


@api_route(bp, "/v1/exits", "GET", summary="Exits", response=ItemsSchema)
def list_exits():
    rows = db.session.scalars(select(Exit).order_by(Exit.transfer_on, Exit.id))
    return {"items": ExitSchema(many=True).dump(rows)}


@api_route(bp, "/v1/holdings/<int:holding_id>/exits", "POST",
           summary="Record an exit (buy-back R7, exchange R9, trade sale, IPO sale, liquidation)",
           body=ExitCreateSchema, response=ExitSchema, status=201)
def create_exit(holding_id: int):
    data = load_json(ExitCreateSchema())
    holding = ops.get_holding(db.session, holding_id)
    kind = ExitKind(data.pop("kind"))
    row = ops.record_exit(db.session, holding, kind=kind, actor=_actor(), **data)
    db.session.commit()
    return ExitSchema().dump(row), 201


@api_route(bp, "/v1/exits/<int:exit_id>/balance", "POST",
           summary="Record the balance payment of an exit (R9.d)", body=BalanceCreateSchema,
           response=ExitSchema)
def create_exit_balance(exit_id: int):
    data = load_json(BalanceCreateSchema())
    row = db.session.get(Exit, exit_id) if 0 < exit_id < 2**31 else None
    if row is None:
        raise AppError(_l("No such exit."), status=404, code="not_found")
    ops.record_exit_balance(db.session, row, paid_on=data["paid_on"], actor=_actor())
    db.session.commit()
    return ExitSchema().dump(row)


@api_route(bp, "/v1/cash-flows", "GET", summary="Typed cash flows in a period",
           response=ItemsSchema,
           params=[AS_OF_PARAM, {"name": "start", "in": "query", "schema": {"type": "string"}}])
def list_cash_flows():
    as_of = _as_of()
    summary = performance_summary(db.session, as_of, period_start=_date_arg("start"))
    return {"as_of": as_of.isoformat(), "items": to_json(summary["cash_flows"])}


@api_route(bp, "/v1/cash-flows", "POST",
           summary="Record a follow-on investment, dividend, recovery or fee",
           body=CashFlowCreateSchema, response=CashFlowSchema, status=201)
def create_cash_flow():
    data = load_json(CashFlowCreateSchema())
    kind = FlowKind(data["kind"])
    if kind == FlowKind.FOLLOW_ON:
        if data["units"] is None:
            raise ValidationFailed(_l("Some fields are not valid."), details={
                "units": [str(_l("Missing data for required field."))]})
        flow = ops.record_follow_on(db.session, on=data["on"], amount=data["amount"],
                                    units=data["units"], holding_id=data["holding_id"],
                                    company_id=data["company_id"], reference=data["reference"],
                                    actor=_actor())
    else:
        flow = ops.record_income(db.session, kind=kind, on=data["on"], amount=data["amount"],
                                 holding_id=data["holding_id"], grant_id=data["grant_id"],
                                 reference=data["reference"], note=data["note"],
                                 actor=_actor())
    db.session.commit()
    return CashFlowSchema().dump(db.session.get(CashFlow, flow.id)), 201


@api_route(bp, "/v1/index-series", "GET", summary="Index series for PME", response=ItemsSchema)
def list_index_series():
    rows = db.session.scalars(select(IndexSeries).order_by(IndexSeries.name))
    return {"items": IndexSeriesSchema(many=True).dump(rows)}


@api_route(bp, "/v1/index-series", "POST",
           summary="Upload an index series as CSV (date,level): file field or text/csv body",
           response=IndexSeriesSchema, status=201,
           params=[{"name": "name", "in": "query", "schema": {"type": "string"}}])
def upload_index_series():
    upload = request.files.get("file")
    content = upload.read() if upload else request.get_data()
    name = request.form.get("name") or request.args.get("name", "")
    series = ops.import_index_series(db.session, name=name, content=content, actor=_actor())
    db.session.commit()
    return IndexSeriesSchema().dump(series), 201


@api_route(bp, "/v1/kpis", "GET", summary="KPI requests and answers", response=ItemsSchema,
           params=[{"name": "quarter", "in": "query", "schema": {"type": "string"}}])
def list_kpis():
    from fundapp.portfolio.performance import shanghai_today

    rows = kpi_ops.kpi_rows(db.session, quarter=request.args.get("quarter", ""),
                            today=shanghai_today())
    return {"items": to_json(rows)}


@api_route(bp, "/v1/kpis/summary", "GET", summary="KPI dashboard against the 2026 targets",
           response=ItemsSchema, params=[AS_OF_PARAM])
def kpi_summary():
    as_of = _as_of()
    return {"as_of": as_of.isoformat(),
            "items": to_json(kpi_ops.kpi_summary(db.session, as_of))}


@api_route(bp, "/v1/kpis/<int:report_id>/answer", "POST", summary="Enter a KPI answer",
           body=KpiAnswerSchema, response=ItemsSchema)
def answer_kpi(report_id: int):
    data = load_json(KpiAnswerSchema())
    report = kpi_ops.get_report(db.session, report_id)
    answered_on = data.pop("answered_on")
    kpi_ops.record_kpi_answer(db.session, report, data, answered_on=answered_on,
                              actor=_actor(), source="api")
    db.session.commit()
    return {"items": to_json({"id": report.id, "answered_on": report.answered_on})}


@api_route(bp, "/v1/kpis/import", "POST", summary="Import KPI answers from CSV",
           response=ItemsSchema, status=201)
def import_kpis():
    from fundapp.portfolio.performance import shanghai_today

    upload = request.files.get("file")
    content = upload.read() if upload else request.get_data()
    count = kpi_ops.import_kpi_csv(db.session, content, answered_on=shanghai_today(),
                                   actor=_actor())
    db.session.commit()
    return {"items": {"imported": count}}, 201
