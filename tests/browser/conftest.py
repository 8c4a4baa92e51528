"""Browser fixtures: the app served on a free localhost port, driven by Debian's Chromium.

Browser tests run on SQLite only (a copy of the migrated template, as `database` makes for
"sqlite"): the database engine is covered by the other tests, and this keeps the suite fast.
Playwright drives the system Chromium at /usr/bin/chromium; it never downloads a browser.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from werkzeug.serving import make_server

from fundapp.app import create_app
from fundapp.extensions import db
from tests.conftest import PASSWORD, make_config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
TIMEOUT_MS = 10_000
EXPECT_TIMEOUT_MS = 3_000

USER_EMAIL = "manager@example.cn"
USER_NAME = "王经理 Wang"
FUND_NAME = "浦江拨投结合基金（测试）"
FUND_NAME_EN = "Pujiang Grant-plus-Investment Fund (test)"


@contextmanager
def serving(app) -> Iterator[str]:
    """`app` served on a free localhost port in a background thread: yields its base URL; the
    server is shut down and the app's connections closed afterwards."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@dataclass(frozen=True)
class LiveServer:
    url: str  # e.g. http://127.0.0.1:43211, no trailing slash
    email: str
    password: str
    name: str


@pytest.fixture
def browser_database(sqlite_template, tmp_path) -> str:
    """A fresh, migrated SQLite database (the "sqlite" case of the shared `database` fixture)."""
    path = tmp_path / "browser.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


def _seed(app) -> None:
    from fundapp.auth.operations import create_user
    from fundapp.fund.operations import create_fund

    with app.app_context():
        create_user(db.session, email=USER_EMAIL, password=PASSWORD, roles=["fund_manager"],
                    name=USER_NAME, actor="test")
        create_fund(db.session, name=FUND_NAME, name_en=FUND_NAME_EN,
                    committed_amount=Decimal("100000000.00"), established_on=date(2025, 1, 1),
                    platform_name="测试平台 Test platform", actor="test")
        db.session.commit()
        db.session.remove()


@pytest.fixture
def live_server(browser_database) -> Iterator[LiveServer]:
    """The app on 127.0.0.1:<free port> in a background thread, with one fund manager and a fund."""
    app = create_app(make_config(browser_database))
    _seed(app)
    with serving(app) as url:
        yield LiveServer(url=url, email=USER_EMAIL, password=PASSWORD, name=USER_NAME)


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: the browser tests use Debian's Chromium. "
                    "`make test` installs it (scripts/sysdeps.sh test), or run as root: "
                    "apt-get install -y --no-install-recommends chromium", pytrace=False)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)  # a wrong page fails fast, not after 5 s
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def browser_locale() -> str:
    """The browser's language (Accept-Language); override with @pytest.mark.parametrize."""
    return "en-US"


@pytest.fixture
def page(browser, browser_locale):
    """A fresh browser context (no cookies, the given locale) and one page in it."""
    context = browser.new_context(locale=browser_locale, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def sign_in(page, server: LiveServer) -> None:
    """Sign the page's browser in as the live server's fund manager."""
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", server.email)
    page.fill("input[name=password]", server.password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")


def seed_deals(database_url: str, names: tuple[str, ...], stage) -> dict[str, int]:
    """A company and a deal for each name, the deal set directly at `stage` (the stages before
    are not under test); deal ids by company name."""
    from fundapp.deals import operations as ops
    from tests.deals.factories import uscc

    app = create_app(make_config(database_url))
    ids = {}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        for n, name in enumerate(names, start=1):
            company = ops.create_company(db.session, actor="t", legal_name=name, uscc=uscc(n),
                                         sector="ai")
            deal = ops.create_deal(db.session, actor="t", company_id=company.id,
                                   project_name=f"项目{n}", requested_grant_amount="1000000.00",
                                   approved_budget_amount="3000000.00")
            deal.stage = stage
            ids[name] = deal.id
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return ids


@contextmanager
def demo_pages_server(sqlite_template, folder, users, not_pages) -> Iterator[tuple[LiveServer,
                                                                                 list]]:
    """The demo fund served on a free port with `users` ((e-mail, role, locale) each) added, and
    its GET pages but `not_pages` (the page walks of the layout and accessibility tests)."""
    from fundapp.demo import load_demo
    from tests.conftest import make_user
    from tests.test_get_never_writes import first_ids, get_urls

    path = folder / "demo.sqlite3"
    shutil.copyfile(sqlite_template, path)
    app = create_app(make_config(f"sqlite:///{path}"))
    with app.app_context():
        load_demo(db.session)
        db.session.commit()
        for email, role, locale in users:
            make_user(email, roles=(role,), locale=locale)
        urls = [(endpoint, url) for endpoint, url in get_urls(app, first_ids())
                if endpoint not in not_pages and not url.startswith("/api/")]
        db.session.remove()
    with serving(app) as url:
        yield LiveServer(url=url, email="", password=PASSWORD, name=""), urls
