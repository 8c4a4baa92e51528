"""Money and equity invariants under concurrent requests, and the database as their backstop.

Each race sends 20 requests at once through the API (one thread and one connection each) at one
aggregate; afterwards the figures a user sees are what one-at-a-time requests would have left, and
the compliance ledger verifies. They run on SQLite (one writer at a time) and PostgreSQL (row
locks), where the races are real.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from fundapp.compliance.ledger import verify_chain
from fundapp.compliance.models import LedgerEntry
from fundapp.dates import shanghai_today
from fundapp.extensions import db
from fundapp.portfolio.exits.models import Exit
from fundapp.portfolio.grants.models import Grant, GrantDisbursement, GrantRefund
from fundapp.portfolio.holdings.models import CashFlow, Holding
from tests.isolation import isolated_client
from tests.portfolio.helpers import make_deal, make_fund, manager_headers, worked_example_round

TRIES = 20


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def ledger_actions(action: str) -> int:
    return count(LedgerEntry, LedgerEntry.action == action)


def race(app, send: Callable[[object, int], object], tries: int = TRIES) -> Counter:
    """Run `send(client, n)` in `tries` threads released together; count the status codes."""
    db.session.commit()
    statuses: list[int] = []
    barrier = threading.Barrier(tries)

    def worker(n: int) -> None:
        client = isolated_client(app)
        barrier.wait()
        statuses.append(send(client, n).status_code)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(tries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == tries, statuses
    db.session.expire_all()
    return Counter(statuses)


def signed_grant(client, headers, award: str = "3000000.00") -> int:
    """A grant signed on 2025-06-01 with the default 40/30/30 tranches; tranche 1 paid."""
    make_fund()
    deal = make_deal()
    made = client.post("/api/v1/grants", headers=headers, json={
        "deal_id": deal.id, "awarded_amount": award, "signed_on": "2025-06-01",
        "holder_entity": "区科创投资平台", "approved_budget_amount": "10000000.00"})
    assert made.status_code == 201, made.get_json()
    grant_id = made.get_json()["id"]
    paid = client.post(f"/api/v1/grants/{grant_id}/disbursements", headers=headers,
                       json={"tranche": 1, "paid_on": "2025-06-10"})
    assert paid.status_code == 201, paid.get_json()
    return grant_id


def pass_review(client, headers, grant_id: int, tranche: int) -> None:
    review = client.post(f"/api/v1/grants/{grant_id}/reviews", headers=headers, json={
        "tranche": tranche, "is_passed": True, "reviewer": "专家组", "reviewed_on": "2025-12-01"})
    assert review.status_code == 201, review.get_json()


def test_twenty_concurrent_payments_of_one_tranche_pay_it_once(app, client):
    headers = manager_headers(client)
    grant_id = signed_grant(client, headers)
    pass_review(client, headers, grant_id, 2)
    before = ledger_actions("grant.tranche_released")

    statuses = race(app, lambda c, n: c.post(
        f"/api/v1/grants/{grant_id}/disbursements", headers=headers,
        json={"tranche": 2, "paid_on": "2025-12-10"}))

    assert statuses[201] == 1 and statuses[201] + statuses[409] + statuses[422] == TRIES, statuses
    grant = db.session.get(Grant, grant_id)
    assert grant.disbursed_amount == D("2100000.00")  # 1.2m + the 0.9m tranche, once
    assert count(GrantDisbursement, GrantDisbursement.grant_id == grant_id) == 2
    assert ledger_actions("grant.tranche_released") == before + 1
    assert verify_chain(db.session).ok


def test_twenty_concurrent_part_payments_stop_at_the_tranche_and_the_award(app, client):
    headers = manager_headers(client)
    grant_id = signed_grant(client, headers)
    pass_review(client, headers, grant_id, 2)

    # Tranche 2 is 900,000.00: nine payments of 100,000.00 fit, the other eleven must not.
    statuses = race(app, lambda c, n: c.post(
        f"/api/v1/grants/{grant_id}/disbursements", headers=headers,
        json={"tranche": 2, "paid_on": "2025-12-10", "amount": "100000.00"}))

    assert statuses[201] == 9, statuses
    grant = db.session.get(Grant, grant_id)
    assert grant.disbursed_amount == D("2100000.00") <= grant.awarded_amount
    paid = db.session.scalar(select(func.sum(GrantDisbursement.amount))
                             .where(GrantDisbursement.grant_id == grant_id))
    assert paid == D("2100000.00")
    assert verify_chain(db.session).ok


def test_twenty_concurrent_refunds_never_return_more_than_was_paid(app, client):
    headers = manager_headers(client)
    grant_id = signed_grant(client, headers)  # 1,200,000.00 paid

    statuses = race(app, lambda c, n: c.post(
        f"/api/v1/grants/{grant_id}/refunds", headers=headers,
        json={"amount": "500000.00", "refunded_on": "2026-01-15", "reason": "未用余额"}))

    assert statuses[201] == 2 and statuses[422] == TRIES - 2, statuses  # 2 x 0.5m <= 1.2m
    grant = db.session.get(Grant, grant_id)
    assert grant.refunded_amount == D("1000000.00")
    assert count(GrantRefund, GrantRefund.grant_id == grant_id) == 2
    assert ledger_actions("grant.refund_recorded") == 2
    assert verify_chain(db.session).ok


def converted_holding(client, headers) -> tuple[int, D]:
    """The worked example A's conversion: 500,000.00 units held; (holding id, units)."""
    from tests.portfolio.helpers import signed_and_paid

    make_fund()
    deal = make_deal()
    grant_id = signed_and_paid(client, headers, deal.id)
    rnd = client.post(f"/api/v1/companies/{deal.company_id}/rounds",
                      json=worked_example_round(), headers=headers)
    assert rnd.status_code == 201, rnd.get_json()
    conv = client.post(f"/api/v1/grants/{grant_id}/conversion",
                       json={"round_id": rnd.get_json()["id"]}, headers=headers)
    assert conv.status_code == 201, conv.get_json()
    holding = db.session.scalar(select(Holding).where(Holding.grant_id == grant_id))
    return holding.id, holding.units


def test_twenty_concurrent_sales_of_the_whole_holding_sell_it_once(app, client):
    headers = manager_headers(client)
    holding_id, units = converted_holding(client, headers)

    statuses = race(app, lambda c, n: c.post(
        f"/api/v1/holdings/{holding_id}/exits", headers=headers,
        json={"kind": "trade_sale", "transfer_on": "2026-11-20", "units": str(units),
              "price_amount": "4000000.00", "buyer": f"Buyer {n}"}))

    assert statuses[201] == 1, statuses
    assert statuses[201] + statuses[409] + statuses[422] == TRIES, statuses
    holding = db.session.get(Holding, holding_id)
    assert holding.units == 0 and holding.status.value == "exited"
    assert count(Exit, Exit.holding_id == holding_id) == 1
    proceeds = db.session.scalars(select(CashFlow).where(CashFlow.holding_id == holding_id,
                                                         CashFlow.exit_id.is_not(None))).all()
    assert [p.amount for p in proceeds] == [D("4000000.00")]
    assert ledger_actions("exit.trade_sale") == 1
    assert verify_chain(db.session).ok


def test_the_database_refuses_totals_above_the_award_and_units_below_zero(client):
    headers = manager_headers(client)
    grant_id = signed_grant(client, headers)
    with pytest.raises(IntegrityError):
        db.session.execute(update(Grant).where(Grant.id == grant_id)
                           .values(disbursed_amount=D("3000000.01")))
        db.session.flush()
    db.session.rollback()
    with pytest.raises(IntegrityError):
        db.session.execute(update(Grant).where(Grant.id == grant_id)
                           .values(refunded_amount=D("1200000.01")))
        db.session.flush()
    db.session.rollback()
    holding_id, _ = converted_holding_in_same_test(client, headers)
    with pytest.raises(IntegrityError):
        db.session.execute(update(Holding).where(Holding.id == holding_id)
                           .values(units=D("-0.01")))
        db.session.flush()
    db.session.rollback()
    assert db.session.get(Grant, grant_id).disbursed_amount == D("1200000.00")


def converted_holding_in_same_test(client, headers) -> tuple[int, D]:
    made = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "follow_on", "on": "2025-07-01", "amount": "1000000.00", "units": "100000.00",
        "company_id": make_deal("另一家公司").company_id, "reference": "FO-1"})
    assert made.status_code == 201, made.get_json()
    return made.get_json()["holding_id"], D("100000.00")


def test_nothing_is_recorded_with_a_date_after_today_in_shanghai(client):
    headers = manager_headers(client)
    grant_id = signed_grant(client, headers)
    pass_review(client, headers, grant_id, 2)
    tomorrow = (shanghai_today() + timedelta(days=1)).isoformat()
    before = count(LedgerEntry)
    url = f"/api/v1/grants/{grant_id}"
    for path, body, field in [
        ("/disbursements", {"tranche": 2, "paid_on": tomorrow}, "paid_on"),
        ("/refunds", {"amount": "1.00", "refunded_on": tomorrow}, "refunded_on"),
        ("/rd-acceptance", {"accepted_on": tomorrow, "reference": "A"}, "accepted_on"),
    ]:
        response = client.post(url + path, headers=headers, json=body)
        assert response.status_code == 422, (path, response.get_json())
        assert tomorrow in response.get_json()["error"]["details"][field][0]
    company_id = db.session.get(Grant, grant_id).company_id
    future_round = client.post(f"/api/v1/companies/{company_id}/rounds", headers=headers,
                               json=worked_example_round(closed_on=tomorrow))
    assert future_round.status_code == 422
    assert "closed_on" in future_round.get_json()["error"]["details"]
    assert count(LedgerEntry) == before
    assert db.session.get(Grant, grant_id).disbursed_amount == D("1200000.00")


def test_a_grant_with_nothing_paid_cannot_convert(client):
    headers = manager_headers(client)
    make_fund()
    deal = make_deal()
    grant_id = client.post("/api/v1/grants", headers=headers, json={
        "deal_id": deal.id, "awarded_amount": "5000000.00", "signed_on": "2025-06-01",
        "holder_entity": "平台", "approved_budget_amount": "10000000.00"}).get_json()["id"]
    accepted = client.post(f"/api/v1/grants/{grant_id}/rd-acceptance", headers=headers,
                           json={"accepted_on": "2026-09-01", "reference": "验收"})
    assert accepted.status_code == 200, accepted.get_json()
    rnd = client.post(f"/api/v1/companies/{deal.company_id}/rounds", headers=headers,
                      json=worked_example_round()).get_json()
    converted = client.post(f"/api/v1/grants/{grant_id}/conversion", headers=headers,
                            json={"round_id": rnd["id"]})
    assert converted.status_code == 409, converted.get_json()
    assert converted.get_json()["error"]["details"]["rule"] == "R4"
    assert count(Holding) == 0
    assert db.session.get(Grant, grant_id).status.value == "rd_accepted"


def test_an_exit_price_far_above_the_last_mark_needs_a_confirmation(client):
    headers = manager_headers(client)
    holding_id, units = converted_holding(client, headers)
    mark = client.post(f"/api/v1/holdings/{holding_id}/marks", headers=headers, json={
        "measured_on": "2026-11-15", "method": "recent_round", "value_per_unit": "10.000000"})
    assert mark.status_code == 201, mark.get_json()
    other = manager_headers(client, "second@example.cn")
    assert client.post(f"/api/v1/marks/{mark.get_json()['id']}/finalise",
                       headers=other).status_code == 200
    body = {"kind": "trade_sale", "transfer_on": "2026-11-20", "units": "1000.00",
            "price_amount": "100000.01", "buyer": "Buyer"}  # 1000 x 10.00 x 10 = 100,000.00
    slip = client.post(f"/api/v1/holdings/{holding_id}/exits", headers=headers, json=body)
    assert slip.status_code == 409 and slip.get_json()["error"]["code"] == "needs_confirmation"
    assert "100,000.01" in slip.get_json()["error"]["message"]
    assert count(Exit) == 0
    sure = client.post(f"/api/v1/holdings/{holding_id}/exits", headers=headers,
                       json={**body, "confirm_unusual_price": True})
    assert sure.status_code == 201, sure.get_json()
    assert sure.get_json()["details"]["unusual_price_confirmed"] is True


def test_the_stake_capped_remainder_closes_as_a_grant_with_its_own_ledger_entry(client):
    headers = manager_headers(client)
    make_fund()
    deal = make_deal()
    grant = client.post("/api/v1/grants", headers=headers, json={
        "deal_id": deal.id, "awarded_amount": "5000000.00", "signed_on": "2025-06-01",
        "holder_entity": "平台", "approved_budget_amount": "10000000.00"}).get_json()
    url = f"/api/v1/grants/{grant['id']}"
    client.post(f"{url}/disbursements", json={"tranche": 1, "paid_on": "2025-06-10"},
                headers=headers)
    client.post(f"{url}/rd-acceptance", json={"accepted_on": "2026-01-01", "reference": "A"},
                headers=headers)
    client.post(f"{url}/policy-override", headers=headers,
                json={"values": {"qf_min_abs": "1000000.00"}, "ic_resolution_ref": "IC-0"})
    rnd = client.post(f"/api/v1/companies/{deal.company_id}/rounds", headers=headers,
                      json=worked_example_round(
                          pre_money_valuation_amount="1000000.00", units_before="1000000.00",
                          holders_before=[{"holder": "Founder", "units": "1000000.00"}],
                          investors=[{"name": "Lead Capital", "cash_amount": "2000000.00",
                                      "is_independent": True}])).get_json()
    conv = client.post(f"{url}/conversion", json={"round_id": rnd["id"],
                                                  "ic_resolution_ref": "IC-1"}, headers=headers)
    assert conv.status_code == 201, conv.get_json()
    assert conv.get_json()["remaining_grant_amount"] == "714285.72"
    entry = db.session.scalar(select(LedgerEntry).where(
        LedgerEntry.action == "grant.remainder_closed"))
    assert entry is not None
    payload = json.loads(entry.payload)
    assert payload["clause"] == "R6.d" and payload["amount"] == "714285.72"
    assert payload["closed_on"] == "2026-11-01"
    row = db.session.get(Grant, grant["id"])
    assert row.closed_on.isoformat() == "2026-11-01" and row.closure_note == "R6.d"
