"""Issue 13: the three labelled views, a stake-capped conversion carried at its converted share,
a deferred exchange balance as a receivable in NAV, and staleness counted from the acquisition.

Every expected figure is worked out here from the flows, by the formulas of metrics.md (and
pyxirr for a rate), not read back from the code under test.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pyxirr
from sqlalchemy import select

from fundapp.compliance.models import LedgerEntry
from fundapp.extensions import db
from fundapp.portfolio.performance.book import converted_shares
from tests.conftest import login, make_user
from tests.portfolio.helpers import (
    make_deal,
    make_fund,
    manager_headers,
    signed_and_paid,
    worked_example_round,
)

D = Decimal
FEN = D("0.01")


def ratio(value) -> Decimal:
    return D(value).quantize(D("0.0001"), rounding=ROUND_HALF_UP)


def performance(client, headers, as_of: str) -> dict:
    response = client.get(f"/api/v1/performance?as_of={as_of}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def direct_investment(client, headers, company_id: int, on: str = "2025-07-01",
                      amount: str = "1000000.00", units: str = "100000.00") -> int:
    made = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "follow_on", "on": on, "amount": amount, "units": units,
        "company_id": company_id, "reference": "FO-1"})
    assert made.status_code == 201, made.get_json()
    return made.get_json()["holding_id"]


# --------------------------------------------------------------------------- the three views


def test_converted_only_has_no_figures_before_anything_converted(client, app):
    headers = manager_headers(client)
    make_fund()
    grant_deal = make_deal()
    direct_deal = make_deal("直投科技有限公司")
    grant_id = signed_and_paid(client, headers, grant_deal.id)  # 5m paid, converts 2026-11-01
    direct_investment(client, headers, direct_deal.company_id)  # 1m on 2025-07-01

    before = performance(client, headers, "2026-10-31")
    views = before["views"]
    assert set(views) == {"all_in", "equity", "converted_only"}
    assert all(v["label"] for v in views.values())
    # All-in: the grant's 5m and the direct 1m; the open grant is carried at zero (policy).
    assert views["all_in"]["paid_in_amount"] == "6000000.00"
    assert views["all_in"]["nav_amount"] == "1000000.00"
    # Equity: the direct holding only, at cost.
    assert views["equity"]["paid_in_amount"] == "1000000.00"
    assert views["equity"]["tvpi"] == "1.0000" and views["equity"]["holdings_count"] == 1
    # Converted only: nothing has converted, so there is nothing to show (not TVPI 1.0 or more).
    converted = views["converted_only"]
    assert converted["holdings_count"] == 0 and converted["note"] == "尚无持股"
    assert converted["tvpi"] is None and converted["irr"] is None
    assert converted["paid_in_amount"] is None

    make_user("viewer@example.cn", roles=("fund_manager",), locale="en")
    assert login(client, "viewer@example.cn").status_code == 302
    page = re.sub(r"\s+", " ", client.get("/portfolio/performance?as_of=2026-10-31")
                  .get_data(as_text=True))
    row = page.split('data-testid="view-converted_only"')[1].split("</tr>")[0]
    assert "No holdings yet." in row
    assert 'data-testid="view-equity"' in page
    assert "receivable in NAV at its face value" in page

    rnd = client.post(f"/api/v1/companies/{grant_deal.company_id}/rounds",
                      json=worked_example_round(), headers=headers)
    conv = client.post(f"/api/v1/grants/{grant_id}/conversion",
                       json={"round_id": rnd.get_json()["id"]}, headers=headers)
    assert conv.status_code == 201, conv.get_json()
    after = performance(client, headers, "2026-11-30")["views"]
    assert after["converted_only"]["holdings_count"] == 1
    assert after["converted_only"]["paid_in_amount"] == "5000000.00"
    assert after["converted_only"]["tvpi"] == "1.0000"  # at cost
    assert after["equity"]["paid_in_amount"] == "6000000.00"
    assert after["equity"]["holdings_count"] == 2


# --------------------------------------------------------------------------- R6.d


def test_converted_shares_sum_to_the_converted_amount_half_up():
    paid = [D("2000000.00"), D("1500000.00"), D("1500000.00")]
    converted = D("4714285.68")
    total = sum(paid)
    expected = [(p * converted / total).quantize(FEN, rounding=ROUND_HALF_UP) for p in paid[:-1]]
    expected.append(converted - sum(expected))
    shares = converted_shares(int(converted * 100), [int(p * 100) for p in paid])
    assert [D(s) / 100 for s in shares] == expected == [D("1885714.27"), D("1414285.70"),
                                                          D("1414285.71")]
    assert sum(shares) == int(converted * 100)
    assert converted_shares(100, [1, 1, 1]) == [33, 33, 34]
    assert converted_shares(0, [500, 500]) == [0, 0]


def test_a_stake_capped_holding_at_cost_has_moic_one_and_irr_zero(client):
    headers = manager_headers(client)
    make_fund()
    deal = make_deal()
    # 5m awarded and paid 2.0m / 1.5m / 1.5m (2025-06-10, 2025-12-01, 2026-06-01).
    url = f"/api/v1/grants/{signed_and_paid(client, headers, deal.id)}"
    client.post(f"{url}/policy-override", headers=headers,
                json={"values": {"qf_min_abs": "1000000.00"}, "ic_resolution_ref": "IC-0"})
    rnd = client.post(f"/api/v1/companies/{deal.company_id}/rounds", headers=headers,
                      json=worked_example_round(
                          pre_money_valuation_amount="1000000.00", units_before="1000000.00",
                          holders_before=[{"holder": "Founder", "units": "1000000.00"}],
                          investors=[{"name": "Lead Capital", "cash_amount": "5000000.00",
                                      "is_independent": True}])).get_json()
    conv = client.post(f"{url}/conversion", json={"round_id": rnd["id"],
                                                  "ic_resolution_ref": "IC-1"}, headers=headers)
    assert conv.status_code == 201, conv.get_json()
    body = conv.get_json()
    converted, remainder = D(body["converted_amount"]), D(body["remaining_grant_amount"])
    assert body["is_stake_capped"] and D(body["stake_percent"]) == D("30")
    assert converted + remainder == D("5000000.00") and remainder > 0
    assert db.session.scalar(select(LedgerEntry).where(
        LedgerEntry.action == "grant.remainder_closed")) is not None

    summary = performance(client, headers, "2026-11-30")
    holding = summary["holdings"][0]
    # The holding carries its converted share of the 5m paid, at cost.
    assert D(holding["paid_in_amount"]) == converted == D(holding["cost_amount"])
    assert D(holding["nav_amount"]) == converted
    assert holding["moic"] == "1.0000" and holding["tvpi"] == "1.0000"
    assert abs(D(holding["irr"])) < D("1e-9")
    # Not the figures on the whole 5m (MOIC converted / 5m, a negative IRR).
    assert ratio(converted / D("5000000.00")) != ratio(holding["moic"])

    views = summary["views"]
    # All-in: the remainder is a grant outflow closed at zero on the conversion date.
    assert D(views["all_in"]["paid_in_amount"]) == D("5000000.00")
    assert D(views["all_in"]["nav_amount"]) == converted
    assert views["all_in"]["tvpi"] == str(ratio(converted / D("5000000.00")))
    oracle = pyxirr.xirr([date(2025, 6, 10), date(2025, 12, 1), date(2026, 6, 1),
                          date(2026, 11, 30)],
                         [-2000000.00, -1500000.00, -1500000.00, float(converted)])
    assert abs(float(views["all_in"]["irr"]) - oracle) < 1e-8
    # Equity and converted-only: the holding alone.
    for name in ("equity", "converted_only"):
        assert D(views[name]["paid_in_amount"]) == converted
        assert views[name]["tvpi"] == "1.0000"
    # The holding's flows are the converted share of each disbursement (half-up, the last
    # taking the difference); the list still adds up to what was paid.
    flows = client.get("/api/v1/performance?as_of=2026-11-30&include=cash_flows",
                       headers=headers).get_json()["cash_flows"]
    assert sum(D(f["amount"]) for f in flows) == D("-5000000.00")
    first = (D("2000000.00") * converted / D("5000000.00")).quantize(FEN, ROUND_HALF_UP)
    on_first_day = sorted(D(f["amount"]) for f in flows if f["on"] == "2025-06-10")
    assert on_first_day == sorted([-first, first - D("2000000.00")])


# --------------------------------------------------------------------------- R9.d


def test_a_deferred_exchange_balance_is_a_receivable_until_paid(client):
    headers = manager_headers(client)
    make_fund()
    deal = make_deal()
    holding_id = direct_investment(client, headers, deal.company_id)  # 1m, 100,000 units
    url = f"/api/v1/holdings/{holding_id}"
    appraisal = client.post(f"{url}/appraisals", headers=headers, json={
        "base_on": "2026-06-30", "units": "50000.00", "value_amount": "2850000.00",
        "filing_no": "沪国资评备〔2026〕118号", "filed_on": "2026-08-10"})
    assert appraisal.status_code == 201, appraisal.get_json()
    sale = client.post(f"{url}/exits", headers=headers, json={
        "kind": "exchange", "transfer_on": "2026-10-20", "units": "50000.00",
        "price_amount": "3100000.00", "buyer": "张江科技产业集团",
        "appraisal_id": appraisal.get_json()["id"], "disclosure_start_on": "2026-08-31",
        "disclosure_end_on": "2026-09-30", "reserve_price_amount": "2900000.00",
        "down_payment_amount": "1000000.00", "balance_due_on": "2027-04-20"})
    assert sale.status_code == 201, sale.get_json()

    paid_in, down, balance = D("1000000.00"), D("1000000.00"), D("2100000.00")
    left_at_cost = D("500000.00")  # 50,000 units left, carried at cost (no mark)
    owed = performance(client, headers, "2026-11-24")
    row = owed["holdings"][0]
    assert D(row["receivable_amount"]) == balance and row["receivable_due_on"] == "2027-04-20"
    assert D(row["distributed_amount"]) == down
    assert D(row["nav_amount"]) == left_at_cost + balance
    moic = (down + left_at_cost + balance) / paid_in
    assert row["moic"] == str(ratio(moic)) == "3.6000"
    assert ratio((down + left_at_cost) / paid_in) != ratio(row["moic"])  # not the 1.5 of old
    oracle = pyxirr.xirr([date(2025, 7, 1), date(2026, 10, 20), date(2026, 11, 24)],
                         [-1000000.0, 1000000.0, float(left_at_cost + balance)])
    assert abs(float(row["irr"]) - oracle) < 1e-8
    assert owed["views"]["all_in"]["tvpi"] == "3.6000"
    assert "按面值作为应收款计入 NAV" in owed["conventions"]

    paid = client.post(f"/api/v1/exits/{sale.get_json()['id']}/balance", headers=headers,
                       json={"paid_on": "2026-11-25"})
    assert paid.status_code in (200, 201), paid.get_json()
    # Before the day it was paid the figures are unchanged: still a receivable.
    assert performance(client, headers, "2026-11-24")["holdings"][0] == row
    settled = performance(client, headers, "2026-11-30")["holdings"][0]
    assert D(settled["receivable_amount"]) == 0 and settled["receivable_due_on"] is None
    assert D(settled["distributed_amount"]) == down + balance
    assert D(settled["nav_amount"]) == left_at_cost
    assert settled["moic"] == "3.6000"
    oracle = pyxirr.xirr([date(2025, 7, 1), date(2026, 10, 20), date(2026, 11, 25),
                          date(2026, 11, 30)], [-1000000.0, 1000000.0, 2100000.0, 500000.0])
    assert abs(float(settled["irr"]) - oracle) < 1e-8


# --------------------------------------------------------------------------- staleness


def test_staleness_counts_from_the_acquisition(client):
    headers = manager_headers(client)
    make_fund()
    deal = make_deal()
    acquired = date(2025, 7, 1)
    direct_investment(client, headers, deal.company_id, on=acquired.isoformat())
    two_weeks = performance(client, headers, (acquired + timedelta(days=14)).isoformat())
    assert two_weeks["holdings"][0]["is_mark_stale"] is False
    assert two_weeks["stale_marks"] == []
    # Two quarters after the acquisition with no final mark: stale.
    assert performance(client, headers, "2026-01-02")["holdings"][0]["is_mark_stale"] is True
    assert performance(client, headers, "2026-01-01")["holdings"][0]["is_mark_stale"] is False

