"""In Chromium: the new meeting page's agenda picker searches as you type (issue 14: the deals at
the IC decision stage are not all listed), and a ticked deal stays ticked while searching on."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from fundapp.deals.models import DealStage
from tests.browser.conftest import LiveServer, seed_deals, sign_in

pytestmark = pytest.mark.browser


def test_agenda_picker_searches_and_keeps_the_ticked(page: Page, live_server: LiveServer,
                                                     browser_database):
    ids = seed_deals(browser_database, ("星辰芯片有限公司", "海洋机器人有限公司", "量子数据有限公司"),
                     DealStage.IC_DECISION)
    sign_in(page, live_server)
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
