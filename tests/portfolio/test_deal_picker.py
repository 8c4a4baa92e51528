"""The new grant page's deal picker searches (issue 14): never every deal in one drop-down.

With JavaScript the drop-down becomes a search-as-you-type box fed by GET /grants/new/deals;
without it the page's own search form narrows the drop-down.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from bench.pages import _generate
from fundapp.compliance.models import LedgerHead
from fundapp.deals.models import Deal, DealStage
from fundapp.extensions import db
from fundapp.fund.operations import create_fund
from fundapp.portfolio.grants.queries import PICKER_LIMIT
from tests.conftest import login, make_user
from tests.isolation import isolated_client


def _ready_deals(app) -> list[Deal]:
    create_fund(db.session, name="Picker fund", committed_amount=Decimal(10**9),
                established_on=date(2025, 1, 1), actor="test")
    db.session.commit()
    head = db.session.scalar(select(LedgerHead.seq))
    _generate(db.session, deals=250, holdings=0, flows=0, ledger=head)
    make_user("picker@example.cn")
    return list(db.session.scalars(select(Deal).where(
        Deal.stage == DealStage.AGREEMENT_SIGNED).order_by(Deal.id)))


def test_the_picker_lists_a_bounded_page_and_finds_any_deal(app):
    ready = _ready_deals(app)
    assert len(ready) > PICKER_LIMIT
    client = isolated_client(app)
    assert login(client, "picker@example.cn").status_code == 302

    page = client.get("/grants/new")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    options = re.findall(r'<option value="(\d+)"', html)
    assert len(options) == PICKER_LIMIT  # not all of them
    assert 'data-picker-url="/grants/new/deals"' in html
    assert 'name="deal_q"' in html  # the search form that works without JavaScript
    assert "picker.js" in html

    last = ready[-1]  # beyond the first page of the drop-down
    assert str(last.id) not in options
    found = client.get("/grants/new", query_string={"deal_q": last.project_name})
    assert re.findall(r'<option value="(\d+)"', found.get_data(as_text=True)) == [str(last.id)]

    answer = client.get("/grants/new/deals", query_string={"q": last.project_name})
    assert answer.status_code == 200
    body = answer.get_json()
    assert [item["id"] for item in body["items"]] == [last.id]
    assert last.project_name in body["items"][0]["label"] and body["more"] is False
    everything = client.get("/grants/new/deals").get_json()
    assert len(everything["items"]) == PICKER_LIMIT and everything["more"] is True
    # by the company's name too, and a deal already taken by a grant is never offered
    by_company = client.get("/grants/new/deals", query_string={"q": last.company.legal_name})
    assert last.id in [item["id"] for item in by_company.get_json()["items"]]


def test_the_picker_answers_only_those_who_may_sign_grants(app):
    _ready_deals(app)
    make_user("ic-only@example.cn", roles=("ic_member",))
    client = isolated_client(app)
    assert login(client, "ic-only@example.cn").status_code == 302
    assert client.get("/grants/new/deals", query_string={"q": "项目"}).status_code == 403
