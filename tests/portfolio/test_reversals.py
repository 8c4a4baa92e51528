"""Issue 12: facts money depends on are corrected by a reversing record, never an edit.

A conversion is reversed only with an IC resolution: the holding, the cap table and the cancelled
tranches are restored, the ledger shows both the conversion and its reversal, and the grant can
convert again; anything that used the holding since (an exit) blocks it. A payment recorded
wrongly is reversed (its tranche undisbursed again), but not while a conversion used it. Runs on
SQLite and PostgreSQL; the races send reversals at once and exactly one wins.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal as D

from sqlalchemy import func, select

from fundapp.compliance.ledger import verify_chain
from fundapp.compliance.models import LedgerEntry
from fundapp.extensions import db
from fundapp.portfolio.conversion.models import CapTable, Conversion
from fundapp.portfolio.exits.models import Exit, ExitKind
from fundapp.portfolio.grants.models import Grant, GrantDisbursement
from fundapp.portfolio.holdings.models import Holding
from tests.portfolio.helpers import make_deal, make_fund, manager_headers, worked_example_round
from tests.portfolio.test_invariants import race
from tests.portfolio.test_pages import browser, post_form, text


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def entries(action: str, grant_id: int) -> list[dict]:
    return [json.loads(p) for p in db.session.scalars(
        select(LedgerEntry.payload).where(LedgerEntry.action == action,
                                          LedgerEntry.subject_id == str(grant_id))
        .order_by(LedgerEntry.seq))]


def converted_grant(client, headers) -> tuple[int, int, int]:
    """A 5m grant with only tranche 1 (2m) paid, R&D accepted, converted at the worked example's
    round: tranches 2 and 3 are cancelled (R4.b). Returns (grant, company, conversion) ids."""
    make_fund()
    deal = make_deal()
    made = client.post("/api/v1/grants", headers=headers, json={
        "deal_id": deal.id, "awarded_amount": "5000000.00", "signed_on": "2025-06-01",
        "holder_entity": "区科创投资平台", "approved_budget_amount": "10000000.00"})
    assert made.status_code == 201, made.get_json()
    grant_id = made.get_json()["id"]
    url = f"/api/v1/grants/{grant_id}"
    paid = client.post(f"{url}/disbursements", headers=headers,
                       json={"tranche": 1, "paid_on": "2025-06-10"})
    assert paid.status_code == 201, paid.get_json()
    accepted = client.post(f"{url}/rd-acceptance", headers=headers,
                           json={"accepted_on": "2026-09-01", "reference": "验收-1"})
    assert accepted.status_code == 200, accepted.get_json()
    rnd = client.post(f"/api/v1/companies/{deal.company_id}/rounds", headers=headers,
                      json=worked_example_round())
    assert rnd.status_code == 201, rnd.get_json()
    conv = client.post(f"{url}/conversion", headers=headers,
                       json={"round_id": rnd.get_json()["id"], "ic_resolution_ref": "IC-2026-7"})
    assert conv.status_code == 201, conv.get_json()
    assert conv.get_json()["cancelled_tranches"] == [2, 3]
    return grant_id, deal.company_id, conv.get_json()["id"]


def reverse(client, headers, conversion_id: int, **body):
    payload = {"ic_reference": "IC-2026-9", "reason": "录入的轮次有误", **body}
    return client.post(f"/api/v1/conversions/{conversion_id}/reversal", headers=headers,
                       json=payload)


def test_a_conversion_is_reversed_only_with_an_ic_resolution_and_everything_is_restored(client):
    headers = manager_headers(client)
    grant_id, company_id, conversion_id = converted_grant(client, headers)
    holding_id = db.session.scalar(select(Holding.id).where(Holding.conversion_id
                                                            == conversion_id))
    table_before = client.get(f"/api/v1/companies/{company_id}/cap-table",
                              headers=headers).get_json()
    assert any(r["holder"] == "区科创投资平台" for r in table_before["rows"])

    missing = reverse(client, headers, conversion_id, ic_reference="")
    assert missing.status_code == 422, missing.get_json()
    assert "ic_reference" in missing.get_json()["error"]["details"]
    blank = reverse(client, headers, conversion_id, ic_reference="   ")
    assert blank.status_code == 422 and "ic_reference" in blank.get_json()["error"]["details"]
    future = reverse(client, headers, conversion_id, on="2999-01-01")
    assert future.status_code == 422 and "on" in future.get_json()["error"]["details"]
    db.session.expire_all()
    assert db.session.get(Conversion, conversion_id).reversed_at is None

    done = reverse(client, headers, conversion_id, on="2026-11-20")
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["is_reversed"] is True and body["reversal_ic_reference"] == "IC-2026-9"
    assert body["reversed_on"] == "2026-11-20" and body["reversal_reason"] == "录入的轮次有误"

    db.session.expire_all()
    grant = db.session.get(Grant, grant_id)
    assert grant.status.value == "rd_accepted" and grant.conversion is None
    assert [t.status.value for t in grant.tranches] == ["released", "pending", "pending"]
    assert grant.disbursed_amount == D("2000000.00")
    # The conversion is never deleted: it stays, marked reversed.
    conversion = db.session.get(Conversion, conversion_id)
    assert conversion.reversed_on == date(2026, 11, 20) and conversion.fund_units > 0
    holding = db.session.get(Holding, holding_id)
    assert holding.status.value == "reversed" and holding.units == 0
    assert holding.initial_units == conversion.fund_units  # what it was stays readable
    assert db.session.scalar(select(CapTable.reversed_at).where(
        CapTable.conversion_id == conversion_id)) is not None
    table_after = client.get(f"/api/v1/companies/{company_id}/cap-table",
                             headers=headers).get_json()
    assert not any(r["holder"] == "区科创投资平台" for r in table_after["rows"])
    assert sum(D(r["units"]) for r in table_after["rows"]) == D("10000000.00")
    history = [h for h in table_after["history"] if h["kind"] == "conversion"]
    assert history[0]["reversed_on"] == "2026-11-20"
    assert client.get(f"/api/v1/grants/{grant_id}/conversion",
                      headers=headers).status_code == 404

    # The ledger shows both: the conversion and its reversal with before and after.
    assert len(entries("grant.converted", grant_id)) == 1
    [entry] = entries("conversion.reversed", grant_id)
    assert entry["ic_reference"] == "IC-2026-9" and entry["conversion_id"] == conversion_id
    assert entry["before"]["grant"]["status"] == "converted"
    assert entry["after"]["grant"]["status"] == "rd_accepted"
    assert entry["restored_tranches_r4b"] == [2, 3]
    assert verify_chain(db.session).ok

    again = reverse(client, headers, conversion_id)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_reversed"


def test_a_reversed_grant_converts_again(client):
    headers = manager_headers(client)
    grant_id, _company_id, conversion_id = converted_grant(client, headers)
    assert reverse(client, headers, conversion_id).status_code == 200
    round_id = db.session.get(Conversion, conversion_id).round_id

    again = client.post(f"/api/v1/grants/{grant_id}/conversion", headers=headers,
                        json={"round_id": round_id, "ic_resolution_ref": "IC-2026-10"})

    assert again.status_code == 201, again.get_json()
    assert again.get_json()["id"] != conversion_id
    db.session.expire_all()
    assert count(Conversion, Conversion.grant_id == grant_id) == 2
    assert count(Holding, Holding.grant_id == grant_id) == 2
    assert count(Holding, Holding.grant_id == grant_id, Holding.status == "active") == 1
    grant = db.session.get(Grant, grant_id)
    assert grant.status.value == "converted" and grant.conversion.id == again.get_json()["id"]
    shown = client.get(f"/api/v1/grants/{grant_id}/conversion", headers=headers).get_json()
    assert shown["id"] == again.get_json()["id"] and shown["is_reversed"] is False


def test_an_exit_on_the_holding_blocks_the_reversal_and_says_so(client):
    headers = manager_headers(client)
    grant_id, _company_id, conversion_id = converted_grant(client, headers)
    holding = db.session.scalar(select(Holding).where(Holding.conversion_id == conversion_id))
    db.session.add(Exit(holding_id=holding.id, kind=ExitKind.TRADE_SALE,
                        transfer_on=date(2026, 11, 25), units=D("100.00"),
                        price_amount=D("1000.00"), cost_amount=D("900.00")))
    db.session.commit()

    refused = reverse(client, headers, conversion_id)

    assert refused.status_code == 409, refused.get_json()
    error = refused.get_json()["error"]
    assert error["details"]["rule"] == "R12"
    assert "2026-11-25" in error["message"] and "trade_sale" in error["message"]
    db.session.expire_all()
    assert db.session.get(Conversion, conversion_id).reversed_at is None
    assert db.session.get(Grant, grant_id).status.value == "converted"
    assert entries("conversion.reversed", grant_id) == []


def test_a_payment_recorded_wrongly_is_reversed_and_can_be_paid_again(client):
    headers = manager_headers(client)
    make_fund()
    deal = make_deal()
    made = client.post("/api/v1/grants", headers=headers, json={
        "deal_id": deal.id, "awarded_amount": "5000000.00", "signed_on": "2025-06-01",
        "holder_entity": "区科创投资平台", "approved_budget_amount": "10000000.00"})
    grant_id = made.get_json()["id"]
    url = f"/api/v1/grants/{grant_id}"
    paid = client.post(f"{url}/disbursements", headers=headers,
                       json={"tranche": 1, "paid_on": "2025-06-10", "amount": "1500000.00"})
    assert paid.status_code == 201, paid.get_json()
    payment_id = paid.get_json()["id"]

    no_reason = client.post(f"/api/v1/disbursements/{payment_id}/reversal", headers=headers,
                            json={"reason": " "})
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["error"]["details"]
    done = client.post(f"/api/v1/disbursements/{payment_id}/reversal", headers=headers,
                       json={"reason": "金额录错", "on": "2025-06-12"})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["is_reversed"] is True

    db.session.expire_all()
    grant = db.session.get(Grant, grant_id)
    assert grant.disbursed_amount == 0 and grant.tranches[0].status.value == "pending"
    assert grant.disbursements == [] and len(grant.all_disbursements) == 1
    assert client.get(f"{url}/disbursements", headers=headers).get_json()["items"] == []
    [entry] = entries("grant.disbursement_reversed", grant_id)
    assert entry["amount"] == "1500000.00" and entry["reason"] == "金额录错"
    assert entry["before"]["disbursed_amount"] == "1500000.00"
    assert entry["after"]["disbursed_amount"] == "0.00"

    again = client.post(f"{url}/disbursements", headers=headers,
                        json={"tranche": 1, "paid_on": "2025-06-10"})
    assert again.status_code == 201, again.get_json()
    db.session.expire_all()
    assert db.session.get(Grant, grant_id).disbursed_amount == D("2000000.00")
    twice = client.post(f"/api/v1/disbursements/{payment_id}/reversal", headers=headers,
                        json={"reason": "again"})
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "already_reversed"
    assert verify_chain(db.session).ok


def test_a_payment_a_conversion_used_is_not_reversed_before_the_conversion(client):
    headers = manager_headers(client)
    grant_id, _company_id, conversion_id = converted_grant(client, headers)
    payment_id = db.session.scalar(select(GrantDisbursement.id)
                                   .where(GrantDisbursement.grant_id == grant_id))

    refused = client.post(f"/api/v1/disbursements/{payment_id}/reversal", headers=headers,
                          json={"reason": "录错"})

    assert refused.status_code == 409, refused.get_json()
    assert "请先冲销转股" in refused.get_json()["error"]["message"]  # the caller's language
    assert reverse(client, headers, conversion_id).status_code == 200
    done = client.post(f"/api/v1/disbursements/{payment_id}/reversal", headers=headers,
                       json={"reason": "录错"})
    assert done.status_code == 200, done.get_json()
    db.session.expire_all()
    assert db.session.get(Grant, grant_id).disbursed_amount == 0


def test_two_reversals_of_one_conversion_at_once_one_wins(app, client):
    headers = manager_headers(client)
    grant_id, _company_id, conversion_id = converted_grant(client, headers)

    statuses = race(app, lambda c, n: c.post(
        f"/api/v1/conversions/{conversion_id}/reversal", headers=headers,
        json={"ic_reference": f"IC-{n}", "reason": "并发"}), tries=6)

    assert statuses[200] == 1 and statuses[409] == 5, statuses
    assert len(entries("conversion.reversed", grant_id)) == 1
    grant = db.session.get(Grant, grant_id)
    assert [t.status.value for t in grant.tranches] == ["released", "pending", "pending"]
    assert verify_chain(db.session).ok


def test_two_reversals_of_one_payment_at_once_one_wins(app, client):
    headers = manager_headers(client)
    make_fund()
    deal = make_deal()
    grant_id = client.post("/api/v1/grants", headers=headers, json={
        "deal_id": deal.id, "awarded_amount": "5000000.00", "signed_on": "2025-06-01",
        "holder_entity": "区科创投资平台",
        "approved_budget_amount": "10000000.00"}).get_json()["id"]
    paid = client.post(f"/api/v1/grants/{grant_id}/disbursements", headers=headers,
                       json={"tranche": 1, "paid_on": "2025-06-10"})
    payment_id = paid.get_json()["id"]

    statuses = race(app, lambda c, n: c.post(
        f"/api/v1/disbursements/{payment_id}/reversal", headers=headers,
        json={"reason": f"录错 {n}"}), tries=6)

    assert statuses[200] == 1 and statuses[409] == 5, statuses
    assert db.session.get(Grant, grant_id).disbursed_amount == 0
    assert len(entries("grant.disbursement_reversed", grant_id)) == 1


def test_the_pages_confirm_a_reversal_first_and_show_it_struck_through(app, client):
    headers = manager_headers(client)
    grant_id, _company_id, conversion_id = converted_grant(client, headers)
    page = f"/grants/{grant_id}"
    manager = browser(app, "manager2@example.cn")
    shown = manager.get(page)
    assert 'data-testid="reverse-conversion"' in text(shown)

    sheet = post_form(manager, page, f"/conversions/{conversion_id}/reversal",
                      {"ic_reference": "IC-2026-9", "reason": "轮次录错"})
    assert sheet.status_code == 200, text(sheet)
    html = text(sheet)
    assert "Confirm the reversal of the conversion" in html
    assert "Nothing has been changed yet." in html and 'value="IC-2026-9"' in html
    assert "Tranches restored" in html
    db.session.expire_all()
    assert db.session.get(Conversion, conversion_id).reversed_at is None

    refused = post_form(manager, page, f"/conversions/{conversion_id}/reversal",
                        {"reason": "轮次录错"})
    assert refused.status_code == 422 and 'value="轮次录错"' in text(refused)

    confirmed = post_form(manager, page, f"/conversions/{conversion_id}/reversal",
                          {"ic_reference": "IC-2026-9", "reason": "轮次录错", "confirmed": "1"})
    assert confirmed.status_code == 302, text(confirmed)
    after = text(manager.get(page))
    assert f'data-testid="conversion-reversed-{conversion_id}"' in after
    assert "IC-2026-9" in after and "轮次录错" in after and "<del>" in after

    holding_id = db.session.scalar(select(Holding.id).where(Holding.conversion_id
                                                            == conversion_id))
    holding_page = text(manager.get(f"/portfolio/holdings/{holding_id}"))
    assert 'data-testid="holding-reversed"' in holding_page and "轮次录错" in holding_page

    auditor = browser(app, "auditor@example.cn", roles=("auditor",))
    assert 'data-testid="reverse-conversion"' not in text(auditor.get(page))
    assert post_form(auditor, page, f"/conversions/{conversion_id}/reversal",
                     {"ic_reference": "x", "reason": "y"}).status_code == 403
