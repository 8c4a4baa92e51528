"""Issue 14's layout: on a 1366 x 768 laptop (and a 1920 x 1080 screen) no page of the demo fund is
wider than the window, for a fund manager, an IC member, an auditor and an admin, in Chinese; and
every column of the pipeline board can be scrolled into view."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import TIMEOUT_MS, LiveServer, demo_pages_server

pytestmark = pytest.mark.browser

ROLES = ("fund_manager", "ic_member", "auditor", "admin")
LAPTOP = {"width": 1366, "height": 768}
WIDE = {"width": 1920, "height": 1080}
# Files and redirects, not pages: downloads, PDFs, the health check, the sign-in page itself.
NOT_PAGES = {"compliance.checks_export", "compliance.download_export",
             "compliance.download_public_key", "compliance.download_verifier",
             "deals.export_deals", "ic.minutes_pdf", "ic.pack_pdf", "ic.quarterly_pdf",
             "tasks.download", "portfolio.document", "health.healthz", "auth.login",
             "deals.signup_preview", "admin.fund_not_set_up", "history_import.template",
             "help.image", "portfolio.grant_deal_options", "ic.agenda_deal_options",
             "deals.company_options"}
# A handful also checked on a 1920 x 1080 screen.
WIDE_PAGES = ("main.dashboard", "deals.board", "portfolio.holding", "portfolio.performance",
              "compliance.checks", "portfolio.grant")


@pytest.fixture(scope="module")
def demo_server(sqlite_template, tmp_path_factory) -> Iterator[tuple[LiveServer, list]]:
    """The demo fund served once for the module, one Chinese user per role, and its GET pages."""
    with demo_pages_server(sqlite_template, tmp_path_factory.mktemp("layout"),
                           [(f"layout-{role}@example.cn", role, "zh") for role in ROLES],
                           NOT_PAGES) as served:
        yield served


def signed_in(browser: Browser, server: LiveServer, role: str, viewport: dict) -> Page:
    context = browser.new_context(locale="zh-CN", viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", f"layout-{role}@example.cn")
    page.fill("input[name=password]", server.password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    assert not page.url.endswith("/login"), f"{role} could not sign in"
    return page


def overflow(page: Page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def walk(page: Page, server: LiveServer, role: str, urls: list, size: str) -> tuple[list, int]:
    failures, seen = [], 0
    for endpoint, url in urls:
        response = page.goto(server.url + url)
        if response is None or response.status != 200 or "text/html" not in (
                response.headers.get("content-type", "")):
            continue  # a page this role may not open, or an id the demo lacks
        seen += 1
        width, window = overflow(page)
        if width > window + 1:
            failures.append(f"{role} {size} {url} ({endpoint}): page is {width}px wide "
                            f"in a {window}px window")
    return failures, seen


@pytest.mark.parametrize("role", ROLES)
def test_no_page_is_wider_than_a_laptop_screen(browser, demo_server, role):
    server, urls = demo_server
    page = signed_in(browser, server, role, LAPTOP)
    try:
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        failures, seen = walk(page, server, role, urls, "1366x768")
        page.set_viewport_size(WIDE)
        wide, _ = walk(page, server, role, [u for u in urls if u[0] in WIDE_PAGES], "1920x1080")
    finally:
        page.context.close()
    assert seen >= 10, f"{role} reached only {seen} pages"
    assert failures + wide == []


def test_every_board_column_can_be_scrolled_into_view(browser, demo_server):
    server, _ = demo_server
    page = signed_in(browser, server, "fund_manager", LAPTOP)
    try:
        page.goto(f"{server.url}/deals/board")
        columns = page.locator(".board-column")
        assert columns.count() >= 8
        board = page.get_by_test_id("board").bounding_box()
        assert board is not None and board["x"] + board["width"] <= 1366 + 1
        for i in range(columns.count()):
            column = columns.nth(i)
            column.scroll_into_view_if_needed()  # scrolls the board's own container sideways
            box = column.bounding_box()
            name = column.locator("h2").inner_text()
            assert box is not None and box["x"] >= board["x"] - 1 and (
                box["x"] + box["width"] <= board["x"] + board["width"] + 1), (
                f"column {name} cannot be brought into view: {box} in {board}")
            expect(column.locator("h2")).to_be_in_viewport()
        assert overflow(page)[0] <= 1366 + 1
        # A card dragged to the next column keeps its button, now naming the stage after that.
        card = page.get_by_test_id("column-formal_check").locator(".deal-card").first
        deal = card.get_attribute("data-deal")
        card.drag_to(page.get_by_test_id("column-roadshow"))
        moved = page.get_by_test_id("column-roadshow").get_by_test_id(f"card-{deal}")
        expect(moved).to_be_visible()
        expect(moved.get_by_test_id(f"next-{deal}")).to_have_text("转入“专家评审” →")
    finally:
        page.context.close()
