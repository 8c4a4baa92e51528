"""API routes of the fund itself: read it (every role) and correct it (admin), on the shared
API blueprint. The handlers never commit: the request's unit of work does."""

from __future__ import annotations

from flask import g
from flask_babel import lazy_gettext as _l

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.errors import AppError, NotFound
from fundapp.extensions import db
from fundapp.fund.operations import create_fund, update_fund
from fundapp.fund.queries import fund_facts, the_fund
from fundapp.fund.schemas import FundCreateSchema, FundSchema, FundUpdateSchema


def _fund_or_404():
    fund = the_fund(db.session)
    if fund is None:
        raise NotFound(_l("The fund is not set up yet. An administrator sets it up (name, "
                          "committed capital, inception date) on the set-up page or with "
                          "`fundapp fund create`."))
    return fund


@api_route(bp, "/v1/fund", "GET", summary="The fund: names, committed capital, inception, "
           "holding platform, the policy version in force today", response=FundSchema)
def get_fund():
    return FundSchema().dump(fund_facts(db.session, _fund_or_404()))


@api_route(bp, "/v1/fund", "PATCH", summary="Correct the fund (admin): names, holding platform, "
           "committed capital (with a reason); ledgered with before and after",
           body=FundUpdateSchema, response=FundSchema, endpoint="update_fund")
def update_fund_view():
    fund = _fund_or_404()
    data = load_json(FundUpdateSchema(partial=True))
    update_fund(db.session, fund.id, actor=g.user.email, **data)
    return FundSchema().dump(fund_facts(db.session, the_fund(db.session)))


@api_route(bp, "/v1/fund", "POST", summary="Set the fund up (admin, once): names, committed "
           "capital, inception date; the default policy version is in force from then (409 "
           "when it is set up already)", body=FundCreateSchema, response=FundSchema, status=201,
           endpoint="create_fund")
def create_fund_view():
    data = load_json(FundCreateSchema())  # the body first: a bad field is named even then
    if the_fund(db.session) is not None:
        raise AppError(_l("The fund is already set up."), status=409, code="duplicate")
    create_fund(db.session, actor=g.user.email, **data)
    return FundSchema().dump(fund_facts(db.session, the_fund(db.session))), 201
