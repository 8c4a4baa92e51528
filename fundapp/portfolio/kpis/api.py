"""API routes of KPI reports, on the shared API blueprint."""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.errors import AppError, refuse_on_constraint
from fundapp.extensions import db
from fundapp.portfolio.fields import ItemsSchema, to_json
from fundapp.portfolio.kpis import operations as kpi_ops
from fundapp.portfolio.kpis.schemas import KpiAnswerSchema
from fundapp.portfolio.performance.summary import shanghai_today
from fundapp.portfolio.web import AS_OF_PARAM, as_of_arg, current_actor

# One request per company and quarter: two imports creating the same one at the same time.
refuse_on_constraint(AppError(_l("A KPI request of this company and quarter was created at the "
                                 "same time. Try again."), status=409, code="conflict"),
                     "uq_kpi_reports_company_id", "kpi_reports.company_id")


@api_route(bp, "/v1/kpis", "GET", summary="KPI requests and answers", response=ItemsSchema,
           params=[{"name": "quarter", "in": "query", "schema": {"type": "string"}}])
def list_kpis():
    rows = kpi_ops.kpi_rows(db.session, quarter=request.args.get("quarter", ""),
                            today=shanghai_today())
    return {"items": to_json(rows)}


@api_route(bp, "/v1/kpis/summary", "GET", summary="KPI dashboard against the 2026 targets",
           response=ItemsSchema, params=[AS_OF_PARAM])
def kpi_summary():
    as_of = as_of_arg()
    return {"as_of": as_of.isoformat(),
            "items": to_json(kpi_ops.kpi_summary(db.session, as_of))}


@api_route(bp, "/v1/kpis/<int:report_id>/answer", "POST", summary="Enter a KPI answer",
           body=KpiAnswerSchema, response=ItemsSchema)
def answer_kpi(report_id: int):
    data = load_json(KpiAnswerSchema())
    report = kpi_ops.get_report(db.session, report_id)
    answered_on = data.pop("answered_on")
    kpi_ops.record_kpi_answer(db.session, report, data, answered_on=answered_on,
                              actor=current_actor(), source="api")
    return {"items": to_json({"id": report.id, "answered_on": report.answered_on})}


@api_route(bp, "/v1/kpis/import", "POST", summary="Import KPI answers from CSV (UTF-8 or GBK)",
           response=ItemsSchema, status=201)
def import_kpis():
    upload = request.files.get("file")
    content = upload.read() if upload else request.get_data()
    count = kpi_ops.import_kpi_csv(db.session, content, answered_on=shanghai_today(),
                                   actor=current_actor())
    return {"items": {"imported": count}}, 201
