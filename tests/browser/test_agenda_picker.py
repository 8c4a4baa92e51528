"""In Chromium: the new meeting page's agenda picker searches as you type (issue 14: the deals at
the IC decision stage are not all listed), and a ticked deal stays ticked while searching on."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from fundapp.app import create_app
from fundapp.deals import operations as ops
from fundapp.deals.models import DealStage
from fundapp.extensions import db
from tests.browser.conftest import LiveServer
from tests.conftest import make_config
from tests.deals.factories import uscc

pytestmark = pytest.mark.browser


def _seed(database_url: str) -> dict[str, int]:
    """Deals at the IC decision stage (set directly: the stages before are not under test)."""
    app = create_app(make_config(database_url))
    ids = {}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        for n, name in enumerate(("星辰芯片有限公司", "海洋机器人有限公司", "量子数据有限公司"),
                                 start=1):
            company = ops.create_company(db.session, actor="t", legal_name=name, uscc=uscc(n),
                                         sector="ai")
            deal = ops.create_deal(db.session, actor="t", company_id=company.id,
                                   project_name=f"项目{n}", requested_grant_amount="1000000.00",
                                   approved_budget_amount="3000000.00")
            deal.stage = DealStage.IC_DECISION
            ids[name] = deal.id
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return ids


def test_agenda_picker_searches_and_keeps_the_ticked(page: Page, live_server: LiveServer,
                                                     browser_database):
    ids = _seed(browser_database)
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", live_server.email)
    page.fill("input[name=password]", live_server.password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    page.goto(f"{live_server.url}/ic/meetings/new")
    expect(page.locator("#deal-search")).to_be_hidden()  # the no-JS search form gives way
    box = page.locator("#agenda-q")
    box.fill("星辰")
    star = page.locator(f"input[name=deal_ids][value='{ids['星辰芯片有限公司']}']")
    expect(star).to_be_visible()
    expect(page.locator(f"input[name=deal_ids][value='{ids['海洋机器人有限公司']}']")).to_have_count(0)
    star.check()
    box.fill("海洋")
    sea = page.locator(f"input[name=deal_ids][value='{ids['海洋机器人有限公司']}']")
    expect(sea).to_be_visible()
    expect(star).to_be_checked()  # still there, still ticked
    box.fill("没有这个公司")
    expect(page.locator("#agenda-deals")).to_contain_text("No deal found.")
    expect(star).to_be_checked()
