"""Issue 14's accessibility: axe-core (from npm, in .cache/axe; `make test` installs it through
scripts/sysdeps.sh test, never from a CDN) finds no serious or critical violation on any page of
the demo fund, for each role, in Chinese and in English; and a form can be filled and sent with the
keyboard alone, with the focus visible on the way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import TIMEOUT_MS, LiveServer, demo_pages_server
from tests.browser.test_layout import NOT_PAGES

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / ".cache" / "axe" / "node_modules" / "axe-core" / \
    "axe.min.js"
ROLES = ("fund_manager", "admin", "ic_member", "auditor")
LANGUAGES = ("zh", "en")
BLOCKING = {"serious", "critical"}
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
}"""


@pytest.fixture(scope="module")
def a11y_server(sqlite_template, tmp_path_factory) -> Iterator[tuple[LiveServer, list]]:
    """The demo fund served once for the module, one user per role and language, its GET pages."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `make sysdeps-test` (npm install --prefix .cache/axe "
                    "axe-core@4)", pytrace=False)
    with demo_pages_server(sqlite_template, tmp_path_factory.mktemp("a11y"),
                           [(f"a11y-{role}-{language}@example.cn", role, language)
                            for role in ROLES for language in LANGUAGES], NOT_PAGES) as served:
        yield served


def signed_in(browser: Browser, server: LiveServer, role: str, language: str) -> Page:
    context = browser.new_context(locale="zh-CN" if language == "zh" else "en-US",
                                  viewport={"width": 1366, "height": 768},
                                  bypass_csp=True)  # lets axe be injected; the app's CSP stays
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", f"a11y-{role}-{language}@example.cn")
    page.fill("input[name=password]", server.password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    assert not page.url.endswith("/login"), f"{role} could not sign in"
    return page


def violations(page: Page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    return [v for v in page.evaluate(RUN_AXE) if v["impact"] in BLOCKING]


def test_the_sign_in_page_has_no_serious_violation(browser, a11y_server):
    server, _ = a11y_server
    failures = []
    for language in LANGUAGES:
        context = browser.new_context(locale="zh-CN" if language == "zh" else "en-US",
                                      bypass_csp=True)
        try:
            page = context.new_page()
            page.goto(f"{server.url}/login")
            failures += [f"/login {language}: {v}" for v in violations(page)]
        finally:
            context.close()
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_page_has_a_serious_violation(browser, a11y_server, language):
    """Every page once per language, as the first role (in ROLES' order: the one with the most
    forms first) that may open it; each role's own dashboard, inbox and menus besides. axe's rules
    look at the markup, which depends on the role's buttons, not on who else may see the page."""
    server, urls = a11y_server
    failures, checked, reached = [], set(), {}
    for role in ROLES:
        page = signed_in(browser, server, role, language)
        reached[role] = 0
        try:
            assert page.locator("html").get_attribute("lang") == (
                "zh-CN" if language == "zh" else "en")
            for endpoint, url in urls:
                if url in checked and endpoint != "main.dashboard":
                    continue
                try:
                    response = page.goto(server.url + url)
                except PlaywrightError as error:  # a file to download, not a page
                    if "Download is starting" in str(error):
                        continue
                    raise
                if response is None or response.status != 200 or "text/html" not in (
                        response.headers.get("content-type", "")):
                    continue  # a page this role may not open, or an id the demo lacks
                checked.add(url)
                reached[role] += 1
                failures += [f"{role} {language} {url} ({endpoint}): {v['impact']} {v['id']}: "
                             f"{v['help']} at {v['nodes']}" for v in violations(page)]
        finally:
            page.context.close()
    assert all(reached.values()), f"a role reached no page: {reached}"
    assert len(checked) >= 40, f"only {len(checked)} pages reached"
    assert failures == [], "\n".join(failures)


def focus_is_visible(page: Page) -> bool:
    """The focused element shows an outline or a box shadow (a visible focus ring)."""
    return page.evaluate("""() => {
      const el = document.activeElement;
      if (!el || el === document.body) return false;
      const style = getComputedStyle(el);
      return (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
             || (style.boxShadow && style.boxShadow !== 'none');
    }""")


def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until `selector` has the focus, checking the focus is visible at each stop."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        assert focus_is_visible(page), "the focus is not visible on " + page.evaluate(
            "document.activeElement.outerHTML.slice(0, 120)")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} cannot be reached with Tab")


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_company_can_be_added_with_the_keyboard_alone(browser, a11y_server, language):
    server, _ = a11y_server
    page = signed_in(browser, server, "fund_manager", language)
    try:
        page.goto(f"{server.url}/companies/new")
        name = f"键盘科技有限公司 {language}"
        tab_to(page, "input[name=legal_name]")
        page.keyboard.type(name)
        tab_to(page, "select[name=sector]")
        page.keyboard.press("ArrowDown")  # the first sector
        assert page.eval_on_selector("select[name=sector]", "el => el.value") != ""
        tab_to(page, "button[type=submit]")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert name in page.content(), page.url
    finally:
        page.context.close()
