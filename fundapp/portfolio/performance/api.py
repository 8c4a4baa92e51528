"""API routes of the fund's performance and of index series, on the shared API blueprint."""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from fundapp.api import bp
from fundapp.api.core import api_route
from fundapp.compliance.book_cache import cached
from fundapp.errors import AppError, refuse_on_constraint
from fundapp.extensions import db
from fundapp.inputs import load_form
from fundapp.portfolio.fields import ItemsSchema
from fundapp.portfolio.performance.models import IndexSeries
from fundapp.portfolio.performance.operations import import_index_series
from fundapp.portfolio.performance.schemas import (
    IndexSeriesSchema,
    IndexSeriesUploadSchema,
    PerformanceSchema,
)
from fundapp.portfolio.performance.summary import cached_summary, check_as_of
from fundapp.portfolio.web import AS_OF_PARAM, as_of_arg, current_actor, date_arg

# One series per name: two first uploads of the same name at the same time.
refuse_on_constraint(AppError(_l("An index series of this name was uploaded at the same time. "
                                 "Try again."), status=409, code="conflict"),
                     "uq_index_series_name", "index_series.name")


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
    period_start = date_arg("period_start")
    # The figures, not every one of the fund's flows: those only for a period or when asked.
    detail = period_start is not None or request.args.get("include") == "cash_flows"
    index_series = request.args.get("index") or None
    as_of = check_as_of(as_of_arg())
    # The figures are cached under the book's version (compliance/book_cache.py), and so is
    # their JSON form.
    return cached(db.session, "performance_json", (as_of, period_start, index_series, detail),
                  lambda: PerformanceSchema().dump(cached_summary(
                      db.session, as_of, period_start=period_start, index_series=index_series,
                      detail=detail)))


@api_route(bp, "/v1/index-series", "GET", summary="Index series for PME", response=ItemsSchema)
def list_index_series():
    rows = db.session.scalars(select(IndexSeries).order_by(IndexSeries.name))
    return {"items": IndexSeriesSchema(many=True).dump(rows)}


@api_route(bp, "/v1/index-series", "POST",
           summary="Upload an index series as CSV (date,level; UTF-8 or GBK): file field or "
                   "text/csv body",
           response=IndexSeriesSchema, status=201,
           params=[{"name": "name", "in": "query", "required": True,
                    "schema": {"type": "string", "maxLength": 100}},
                   {"name": "name_en", "in": "query", "required": False,
                    "schema": {"type": "string", "maxLength": 100}}])
def upload_index_series():
    # The name comes as a query argument or, with a multipart upload, as a form field.
    names = load_form(IndexSeriesUploadSchema(), request.values)
    upload = request.files.get("file")
    content = upload.read() if upload else request.get_data()
    series = import_index_series(db.session, name=names["name"], name_en=names["name_en"],
                                 content=content, actor=current_actor())
    return IndexSeriesSchema().dump(series), 201
