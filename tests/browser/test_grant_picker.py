"""In Chromium: the new grant page's deal picker (picker.js, the shared search-as-you-type
picker) still turns its drop-down into a combobox chosen with the keyboard (issue 14)."""

from __future__ import annotations

import re

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
    """Deals at "agreement signed" (set directly: the stages before are not under test)."""
    app = create_app(make_config(database_url))
    ids = {}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        for n, name in enumerate(("星辰芯片有限公司", "海洋机器人有限公司"), start=1):
            company = ops.create_company(db.session, actor="t", legal_name=name, uscc=uscc(n),
                                         sector="ai")
            deal = ops.create_deal(db.session, actor="t", company_id=company.id,
                                   project_name=f"项目{n}", requested_grant_amount="1000000.00",
                                   approved_budget_amount="3000000.00")
            deal.stage = DealStage.AGREEMENT_SIGNED
            ids[name] = deal.id
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return ids


def test_grant_deal_picker_chooses_with_the_keyboard(page: Page, live_server: LiveServer,
                                                     browser_database):
    ids = _seed(browser_database)
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", live_server.email)
    page.fill("input[name=password]", live_server.password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    page.goto(f"{live_server.url}/grants/new")
    expect(page.locator("#deal-search")).to_be_hidden()  # the no-JS search form gives way
    box = page.locator("#f-deal_id")
    expect(box).to_have_attribute("role", "combobox")
    box.focus()
    box.press_sequentially("海洋")
    options = page.locator("#f-deal_id-options [role=option]")
    expect(options).to_have_count(1)
    box.press("ArrowDown")
    box.press("Enter")
    expect(box).to_have_value(re.compile("^海洋机器人有限公司"))
    expect(page.locator("input[type=hidden][name=deal_id]")).to_have_value(
        str(ids["海洋机器人有限公司"]))
    box.press("Escape")
    box.press_sequentially("没有")
    expect(page.get_by_text("No deal found.")).to_be_visible()
    expect(page.locator("input[type=hidden][name=deal_id]")).to_have_value("")
