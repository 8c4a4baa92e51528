"""What a user sees in a real browser: sign in and out, the language, no third-party requests."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import FUND_NAME_EN, LiveServer

pytestmark = pytest.mark.browser


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def sign_in(page: Page, server: LiveServer, password: str | None = None) -> None:
    """Fill the login form with the keyboard and submit it with Enter."""
    page.goto(f"{server.url}/login")
    page.locator("input[name=email]").click()
    page.keyboard.type(server.email)
    page.keyboard.press("Tab")
    page.keyboard.type(password if password is not None else server.password)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_sign_in_with_keyboard_lands_on_dashboard(page: Page, live_server: LiveServer):
    sign_in(page, live_server)
    assert path_of(page) == "/"
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.get_by_test_id("profile-link")).to_have_text(live_server.name)
    fund = page.get_by_test_id("fund-summary")
    expect(fund).to_be_visible()
    expect(fund.locator("h2")).to_have_text(FUND_NAME_EN)
    expect(fund).to_contain_text("100,000,000.00")


def test_failed_sign_in_shows_error_and_stays_on_login(page: Page, live_server: LiveServer):
    sign_in(page, live_server, password="not-the-password")
    assert path_of(page) == "/login"
    expect(page.get_by_test_id("login-error")).to_have_text(
        "The e-mail address or password is wrong.")
    expect(page.locator("input[name=email]")).to_have_value(live_server.email)
    expect(page.get_by_test_id("logout")).to_have_count(0)


def test_language_switch_turns_english_page_chinese(page: Page, live_server: LiveServer):
    page.goto(f"{live_server.url}/login")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.get_by_test_id("switch-language")).to_have_text("中文")
    with page.expect_navigation():
        page.get_by_test_id("switch-language").click()
    assert path_of(page) == "/login"
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_test_id("switch-language")).to_have_text("English")
    expect(page.locator("h1")).to_have_text("登录")


@pytest.mark.parametrize("browser_locale", ["zh-CN"])
def test_chinese_browser_gets_chinese_first_page(page: Page, live_server: LiveServer):
    page.goto(f"{live_server.url}/")  # not signed in: redirected to the login page
    assert path_of(page) == "/login"
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_test_id("switch-language")).to_have_text("English")
    expect(page.locator("h1")).to_have_text("登录")


def test_sign_out_returns_to_login_and_closes_dashboard(page: Page, live_server: LiveServer):
    sign_in(page, live_server)
    assert path_of(page) == "/"
    with page.expect_navigation():
        page.get_by_test_id("logout").click()
    assert path_of(page) == "/login"
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    expect(page.get_by_test_id("logout")).to_have_count(0)

    page.go_back()  # the dashboard is no-store: the browser asks again and is sent to sign in
    assert path_of(page) == "/login"
    expect(page.get_by_test_id("fund-summary")).to_have_count(0)

    page.goto(f"{live_server.url}/")
    assert path_of(page) == "/login"
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.get_by_test_id("logout")).to_have_count(0)


def test_pages_load_without_console_errors_or_foreign_requests(page: Page,
                                                               live_server: LiveServer):
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))

    sign_in(page, live_server)
    expect(page.get_by_test_id("fund-summary")).to_be_visible()
    page.goto(f"{live_server.url}/profile")
    expect(page.get_by_test_id("save-language")).to_be_visible()
    page.wait_for_load_state("networkidle")

    assert errors == []
    assert requests, "no requests recorded"
    origin = urlsplit(live_server.url)
    foreign = [url for url in requests
               if urlsplit(url)[:2] != (origin.scheme, origin.netloc)]
    assert foreign == [], "requests left the local server (a CDN?)"
    assert any(urlsplit(url).path == "/static/app.css" for url in requests)


def test_dashboard_screenshot(page: Page, live_server: LiveServer, tmp_path):
    sign_in(page, live_server)
    expect(page.get_by_test_id("fund-summary")).to_be_visible()
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert len(data) > 0
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
