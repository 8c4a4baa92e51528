"""The compliance checks page at full scale: its items paged 50 at a time, filtered by severity
and by check, each subject linked to its page; the counts stay those of the whole report; the
statements it sends do not grow with the portfolio; no raw code in either language. The API
pages its items the same way."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import event

from fundapp.compliance.ledger import record
from fundapp.deals.models import Company
from fundapp.extensions import db
from fundapp.portfolio.holdings.models import Holding, HoldingOrigin
from tests.conftest import api_token, login, make_user
from tests.portfolio.helpers import make_fund
from tests.test_language_crawl import offences

pytestmark = pytest.mark.timeout(120)

ROW = re.compile(r'<tr class="severity-(\w+)" data-check="([\w.]+)">')


def move_the_book() -> None:
    """A ledgered change to the book, as every operation that adds a holding writes: the checks
    of the book are kept per book version (compliance/book_cache.py) and run again after it."""
    record(db.session, actor="test", action="cash_flow.follow_on", subject_type="holding",
           subject_id="test")
    db.session.commit()


def old_holdings(count: int, start: int = 0) -> None:
    """Direct investments held since 2010 with no mark: each is flagged twice (a stale mark and
    R10.d's holding limit), both warnings. Inserted as rows, then the book moved once."""
    for n in range(start, start + count):
        company = Company(legal_name=f"示例科技{n}有限公司", name_en=f"Example Tech {n} Ltd.",
                          normalised_name=f"示例科技{n}")
        db.session.add(company)
        db.session.flush()
        db.session.add(Holding(company_id=company.id, holder_entity="平台公司",
                               units=Decimal("1000.00"), cost_amount=Decimal("100000.00"),
                               acquired_on=date(2010, 1, 1), origin=HoldingOrigin.DIRECT))
    db.session.commit()
    move_the_book()


@pytest.fixture
def auditor(app, client):
    make_fund()
    make_user("auditor@example.cn", roles=("auditor",), name="Audit")
    login(client, "auditor@example.cn")
    return client


def rows(client, query: str = "", language: str = "en") -> tuple[str, list[tuple[str, str]]]:
    page = client.get(f"/compliance/checks{query}", headers={"Accept-Language": language})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return html, ROW.findall(html)


def test_items_are_paged_fifty_at_a_time_with_the_counts_of_the_whole_report(auditor):
    old_holdings(30)  # 60 warnings, and the ledger's and the scheduler's
    html, first = rows(auditor)
    assert len(first) == 50 and 'rel="next"' in html
    counts = re.search(r'data-testid="check-counts">([^<]*)<', html).group(1)
    warnings = int(re.search(r"(\d+) warnings", counts).group(1))
    assert warnings >= 60
    html, second = rows(auditor, "?page=2")
    assert 1 <= len(second) and 'rel="prev"' in html
    assert re.search(r'data-testid="check-counts">([^<]*)<', html).group(1) == counts
    total = int(re.search(r"(\d+) in total", html).group(1))
    assert len(first) + len(second) == total


def test_filters_by_severity_and_by_check(auditor):
    old_holdings(3)
    _, limits = rows(auditor, "?check=portfolio.holding_limit")
    assert limits == [("warning", "portfolio.holding_limit")] * 3
    _, warnings = rows(auditor, "?severity=warning")
    assert warnings and {severity for severity, _ in warnings} == {"warning"}
    assert ("warning", "portfolio.stale_marks") in warnings
    html, none = rows(auditor, "?severity=critical&check=portfolio.holding_limit")
    assert none == [] and 'data-testid="checks-none-match"' in html
    assert 'href="/compliance/checks"' in html  # the way back to every item
    html, _ = rows(auditor, "?severity=warning")
    assert '<option value="warning" selected>' in html
    assert 'href="/compliance/checks.csv?severity=warning"' in html
    exported = auditor.get("/compliance/checks.csv?check=portfolio.holding_limit")
    assert exported.get_data(as_text=True).count("portfolio.holding_limit") == 3


def test_each_subject_links_to_its_page(auditor):
    old_holdings(1)
    holding_id = db.session.query(Holding.id).scalar()
    html, _ = rows(auditor, "?check=portfolio.holding_limit")
    assert f'href="/portfolio/holdings/{holding_id}" data-testid="subject-link">' \
           "Example Tech 0 Ltd.</a>" in html
    html, _ = rows(auditor, "?check=ledger.chain")
    assert 'data-testid="subject-link"' not in html  # the ledger has no page of its own


def test_both_languages_show_no_raw_code(auditor):
    old_holdings(3)
    for language in ("zh", "en"):
        for query in ("", "?severity=critical&check=portfolio.holding_limit"):
            html, _ = rows(auditor, query, language)
            assert offences(html, language, ["Audit"], "/compliance/checks") == [], (language,
                                                                                       query)
    # The stale marks' clause is the valuation rules, named, not the code "metrics".
    html, _ = rows(auditor, "?check=portfolio.stale_marks", "zh")
    assert "<code>估值口径</code>" in html and ">metrics<" not in html
    html, _ = rows(auditor, "?check=portfolio.stale_marks", "en")
    assert "<code>Metrics rules</code>" in html and ">metrics<" not in html


def statements(client, path: str, headers: dict) -> int:
    sent: list[str] = []

    def count(conn, cursor, statement, *args):
        sent.append(statement)

    client.get(path, headers=headers)  # warm: caches filled once per process
    move_the_book()  # ... but the checks run again, as after any change
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get(path, headers=headers).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(sent)


def test_statements_do_not_grow_with_the_number_of_holdings(auditor):
    headers = {"Authorization": f"Bearer {api_token(auditor, 'auditor@example.cn')}"}
    old_holdings(2)
    few = [statements(auditor, "/compliance/checks", {}),
           statements(auditor, "/api/v1/compliance/checks", headers)]
    old_holdings(40, start=2)
    db.session.expire_all()
    many = [statements(auditor, "/compliance/checks", {}),
            statements(auditor, "/api/v1/compliance/checks", headers)]
    assert many == few


def test_the_api_pages_and_filters_its_items(auditor):
    old_holdings(30)
    headers = {"Authorization": f"Bearer {api_token(auditor, 'auditor@example.cn')}"}
    body = auditor.get("/api/v1/compliance/checks?per_page=20&page=2", headers=headers).get_json()
    assert (body["page"], body["per_page"], len(body["items"])) == (2, 20, 20)
    assert body["total"] == sum(body["counts"].values()) and body["pages"] == -(-body["total"]
                                                                                // 20)
    body = auditor.get("/api/v1/compliance/checks?check=portfolio.stale_marks",
                       headers=headers).get_json()
    assert body["total"] == 30 and {i["check"] for i in body["items"]} == {
        "portfolio.stale_marks"}
    assert body["counts"]["warning"] >= 60  # of the whole report
    assert body["items"][0]["message"]["zh"] and body["items"][0]["message"]["en"]
