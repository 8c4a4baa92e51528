"""In Chromium: the new deal page's company picker (picker.js) searches as you type and is used
with the keyboard alone (issue 14: the companies are not all listed); the deal it opens is for
the company chosen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from fundapp.app import create_app
from fundapp.deals import operations as ops
from fundapp.deals.models import Deal
from fundapp.extensions import db
from tests.browser.conftest import LiveServer, sign_in
from tests.conftest import make_config
from tests.deals.factories import make_roadshow, uscc

pytestmark = pytest.mark.browser


def _seed(database_url: str) -> int:
    """Companies named alike, more than the picker lists, and the one to find; its id."""
    app = create_app(make_config(database_url))
    with app.test_request_context(headers={"Accept-Language": "en"}):
        for n in range(1, 26):
            ops.create_company(db.session, actor="t", legal_name=f"测试科技{n}有限公司",
                               uscc=uscc(n), sector="ai")
        star = ops.create_company(db.session, actor="t", legal_name="星辰芯片有限公司",
                                  name_en="Star Chips Ltd", uscc=uscc(99), sector="ai")
        db.session.commit()
        star_id = star.id
        db.session.remove()
        db.engine.dispose()
    return star_id


def _deal_company(database_url: str, project: str) -> int | None:
    app = create_app(make_config(database_url))
    with app.app_context():
        company_id = db.session.scalar(select(Deal.company_id).where(Deal.project_name == project))
        db.session.remove()
        db.engine.dispose()
    return company_id


def test_choose_a_company_with_the_keyboard_and_open_the_deal(page: Page, live_server: LiveServer,
                                                              browser_database):
    star_id = _seed(browser_database)
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/deals/new")
    expect(page.locator("#company-search")).to_be_hidden()  # the no-JS search form gives way
    box = page.locator("#f-company_id")
    expect(box).to_have_attribute("role", "combobox")
    box.focus()
    box.press_sequentially("xcxp")  # the pinyin initials of 星辰芯片
    options = page.locator("#f-company_id-options [role=option]")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Star Chips Ltd")
    box.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("Enter")  # chooses, does not submit
    expect(page.locator("#f-company_id-options")).to_be_hidden()
    expect(box).to_have_value(re.compile(r"^Star Chips Ltd"))
    expect(page.locator("input[type=hidden][name=company_id]")).to_have_value(str(star_id))

    page.fill("#f-project_name", "芯片流片项目")
    page.fill("#f-requested_grant_amount", "1000000.00")
    page.fill("#f-approved_budget_amount", "3000000.00")
    with page.expect_navigation():
        page.click("button[type=submit].primary")
    expect(page.locator(".flash-success")).to_contain_text("Deal opened at the formal check.")
    assert _deal_company(browser_database, "芯片流片项目") == star_id


def test_add_a_company_to_a_roadshow_with_the_picker(page: Page, live_server: LiveServer,
                                                     browser_database):
    _seed(browser_database)
    app = create_app(make_config(browser_database))
    with app.app_context():
        roadshow_id = make_roadshow(panel=0).id
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/roadshows/{roadshow_id}")
    expect(page.locator("#slot-company-search")).to_be_hidden()
    box = page.locator("#slot-company")
    box.focus()
    box.press_sequentially("星辰")
    expect(page.locator("#slot-company-options [role=option]")).to_have_count(1)
    box.press("ArrowDown")
    box.press("Enter")
    with page.expect_navigation():
        page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("Company added to the roadshow.")
    expect(page.locator("section ol li")).to_contain_text(["Star Chips Ltd"])
