"""API routes of the fund itself: read it (every role) and correct it (admin), on the shared
API blueprint. The handlers never commit: the request's unit of work does."""

from __future__ import annotations

from flask import g
from flask_babel import lazy_gettext as _l

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.errors import NotFound
from fundapp.extensions import db
from fundapp.fund.operations import update_fund
from fundapp.fund.queries import fund_facts, the_fund
from fundapp.fund.schemas import FundSchema, FundUpdateSchema


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
