"""In Chromium: the new grant page's deal picker (picker.js, the shared search-as-you-type
picker) still turns its drop-down into a combobox chosen with the keyboard (issue 14)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from fundapp.deals.models import DealStage
from tests.browser.conftest import LiveServer, seed_deals, sign_in

pytestmark = pytest.mark.browser


def test_grant_deal_picker_chooses_with_the_keyboard(page: Page, live_server: LiveServer,
                                                     browser_database):
    ids = seed_deals(browser_database, ("星辰芯片有限公司", "海洋机器人有限公司"),
                     DealStage.AGREEMENT_SIGNED)
    sign_in(page, live_server)
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
