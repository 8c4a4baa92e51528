"""Performance figures cached under the book's version (issue 14: fast pages at full scale).

A reader sees the figures of the book as it is: a new cash flow shows at once; a sign-in or a
vote (nothing that changes the book) does not make the fund's figures be computed again.
"""

from __future__ import annotations

from fundapp.compliance.ledger import moves_book
from fundapp.portfolio.performance import summary as summary_module
from tests.conftest import login, make_user
from tests.portfolio.helpers import make_deal, make_fund, manager_headers


def _count_computations(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = summary_module.performance_summary

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(summary_module, "performance_summary", counted)
    return calls


def test_figures_are_computed_once_per_book_version(client, monkeypatch):
    headers = manager_headers(client)
    make_fund()
    deal = make_deal()
    made = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "follow_on", "on": "2025-07-01", "amount": "1000000.00", "units": "100000.00",
        "company_id": deal.company_id, "reference": "FO-1"})
    assert made.status_code == 201, made.get_json()
    calls = _count_computations(monkeypatch)

    first = client.get("/api/v1/performance?as_of=2026-11-30", headers=headers).get_json()
    again = client.get("/api/v1/performance?as_of=2026-11-30", headers=headers).get_json()
    assert first == again and len(calls) == 1
    assert first["fund"]["paid_in_amount"] == "1000000.00"

    # Signing in is ledgered but cannot change a figure: still the same computation.
    make_user("auditor@example.cn", roles=("auditor",))
    login(client, "auditor@example.cn")
    client.get("/api/v1/performance?as_of=2026-11-30", headers=headers)
    assert len(calls) == 1

    # A new flow is: the next reader sees it.
    more = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "follow_on", "on": "2025-08-01", "amount": "500000.00", "units": "50000.00",
        "company_id": deal.company_id, "reference": "FO-2"})
    assert more.status_code == 201, more.get_json()
    after = client.get("/api/v1/performance?as_of=2026-11-30", headers=headers).get_json()
    assert after["fund"]["paid_in_amount"] == "1500000.00" and len(calls) == 2


def test_reading_many_grants_one_by_one_keeps_the_funds_figures(client, monkeypatch):
    """Each kind of result has its own room: more grants read one after another (each kept
    per book version) than the cache holds do not push out the fund's figures, the costliest
    to compute."""
    from fundapp.compliance import book_cache

    headers = manager_headers(client)
    make_fund()
    calls = _count_computations(monkeypatch)
    client.get("/api/v1/performance?as_of=2026-11-30", headers=headers)
    with client.application.test_request_context():
        from fundapp.extensions import db

        for n in range(book_cache.SIZE + 6):
            book_cache.cached(db.session, "grant_json", (n,), lambda n=n: {"id": n})
    client.get("/api/v1/performance?as_of=2026-11-30", headers=headers)
    assert len(calls) == 1


def test_each_language_gets_its_own_figures_page(client):
    manager_headers(client)
    make_fund()
    deal = make_deal()
    login(client, "manager@example.cn")
    client.post("/api/v1/cash-flows", headers=manager_headers(client, "m2@example.cn"), json={
        "kind": "follow_on", "on": "2025-07-01", "amount": "1000000.00", "units": "100000.00",
        "company_id": deal.company_id, "reference": "FO-1"})
    english = client.get("/portfolio/performance", headers={"Accept-Language": "en"})
    chinese = client.get("/portfolio/performance", headers={"Accept-Language": "zh"})
    assert "Schedule of investments" in english.get_data(as_text=True)
    zh = chinese.get_data(as_text=True)
    assert "投资明细表" in zh and "Schedule of investments" not in zh
    assert "actual/365 fixed, cash flows netted" not in zh  # the conventions, in Chinese


def test_only_actions_that_cannot_change_a_figure_leave_the_version():
    assert not moves_book("auth.login") and not moves_book("ic.vote_cast")
    assert not moves_book("notifications.read")
    for action in ("cash_flow.follow_on", "grant.disbursed", "mark.finalised", "lpr.rate_set",
                   "policy.version_created", "company.corrected", "history.imported",
                   "something.new"):
        assert moves_book(action), action
