"""In Chromium: drag a card to the next column; a refused move is explained on the card."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from fundapp.app import create_app
from fundapp.deals import operations as ops
from fundapp.extensions import db
from tests.browser.conftest import LiveServer
from tests.conftest import make_config
from tests.deals.factories import uscc

pytestmark = pytest.mark.browser


def _seed(database_url: str) -> tuple[int, int]:
    app = create_app(make_config(database_url))
    with app.test_request_context(headers={"Accept-Language": "en"}):
        ok = ops.create_company(db.session, actor="t", legal_name="拖拽可行有限公司",
                                uscc=uscc(1), sector="ai")
        big = ops.create_company(db.session, actor="t", legal_name="超额申请有限公司",
                                 uscc=uscc(2), sector="bci")
        good = ops.create_deal(db.session, actor="t", company_id=ok.id, project_name="可行项目",
                               requested_grant_amount="1000000.00",
                               approved_budget_amount="3000000.00")
        bad = ops.create_deal(db.session, actor="t", company_id=big.id, project_name="超额项目",
                              requested_grant_amount="6000000.00",
                              approved_budget_amount="20000000.00")
        db.session.commit()
        ids = good.id, bad.id
        db.session.remove()
        db.engine.dispose()
    return ids


def test_drag_card_to_next_stage_and_see_refusal(page: Page, live_server: LiveServer,
                                                 browser_database):
    good, bad = _seed(browser_database)
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", live_server.email)
    page.fill("input[name=password]", live_server.password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    page.goto(f"{live_server.url}/deals/board")
    roadshow = page.get_by_test_id("column-roadshow")
    page.get_by_test_id(f"card-{good}").drag_to(roadshow)
    expect(roadshow.get_by_test_id(f"card-{good}")).to_be_visible()
    expect(page.get_by_test_id("count-roadshow")).to_have_text("1")
    page.get_by_test_id(f"card-{bad}").drag_to(roadshow)
    error = page.get_by_test_id(f"error-{bad}")
    expect(error).to_be_visible()
    expect(error).to_contain_text("R2.a")
    expect(error).to_contain_text("5,000,000.00")
    expect(page.get_by_test_id("column-formal_check").get_by_test_id(f"card-{bad}")).to_be_visible()
    page.reload()  # the server agrees: one moved, one stayed
    expect(page.get_by_test_id("column-roadshow").get_by_test_id(f"card-{good}")).to_be_visible()
    expect(page.get_by_test_id("column-formal_check").get_by_test_id(f"card-{bad}")).to_be_visible()
