"""Rounds, the R3 check, previews and conversions through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading

from sqlalchemy import func, select

from fundapp.compliance.ledger import verify_chain
from fundapp.compliance.models import LedgerEntry
from fundapp.extensions import db
from fundapp.portfolio.conversion.models import CapTable, Conversion
from fundapp.portfolio.holdings.models import Holding
from fundapp.portfolio.rounds.models import FinancingRound
from tests.isolation import isolated_client
from tests.portfolio.helpers import (
    make_deal,
    manager_headers,
    signed_and_paid,
    worked_example_round,
)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def ledger_count() -> int:
    return db.session.scalar(select(func.count()).select_from(LedgerEntry))


def setup_grant(client, **grant_extra):
    headers = manager_headers(client)
    deal = make_deal()
    grant_id = signed_and_paid(client, headers, deal.id, **grant_extra)
    return headers, deal.company_id, grant_id


def record_round(client, headers, company_id, **extra):
    response = client.post(f"/api/v1/companies/{company_id}/rounds",
                           json=worked_example_round(**extra), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_worked_example_a_converts_with_everything_recorded(client):
    headers, company_id, grant_id = setup_grant(client)
    rnd = record_round(client, headers, company_id)
    check = rnd["checks"][0]
    assert check["grant_id"] == grant_id and check["is_qualifying"] is True
    assert [c["clause"] for c in check["clauses"]] == ["R3.a", "R3.b", "R3.c", "R3.d", "R3.e"]

    response = client.post(f"/api/v1/grants/{grant_id}/conversion",
                           json={"round_id": rnd["id"]}, headers=headers)
    assert response.status_code == 201, response.get_json()
    conv = response.get_json()
    assert conv["round_price"] == "10.000000" and conv["conversion_price"] == "10.000000"
    assert conv["fund_units"] == "500000.00"
    assert conv["capital_reserve_amount"] == "4500000.00"
    assert conv["post_round_units"] == "12500000.00"
    assert conv["stake_percent"] == "4.0000"
    assert conv["registration_due_on"] == "2026-12-31"  # R6.g: 60 days
    assert [s["clause"] for s in conv["sheet"]["steps"]][:2] == ["R4.a", "R5.a"]

    grant = client.get(f"/api/v1/grants/{grant_id}", headers=headers).get_json()
    assert grant["status"] == "converted" and grant["conversion_id"] == conv["id"]
    table = client.get(f"/api/v1/companies/{company_id}/cap-table", headers=headers).get_json()
    holders = {r["holder"]: (r["units"], r["percent"]) for r in table["rows"]}
    assert holders == {"Founder Zhang": ("6000000.00", "48.0000"),
                       "Founder Li": ("4000000.00", "32.0000"),
                       "Lead Capital": ("2000000.00", "16.0000"),
                       "区科创投资平台": ("500000.00", "4.0000")}
    assert [h["kind"] for h in table["history"]] == ["round", "conversion"]
    holding = db.session.scalars(select(Holding)).one()
    assert holding.units == 500000 and str(holding.cost_amount) == "5000000.00"
    entry = db.session.scalars(select(LedgerEntry).where(
        LedgerEntry.action == "grant.converted")).one()
    payload = json.loads(entry.payload)
    assert payload["outputs"]["fund_units"] == "500000.00"
    assert [c["clause"] for c in payload["clauses"]] == ["R3.a", "R3.b", "R3.c", "R3.d", "R3.e"]
    assert payload["inputs"]["round"]["pre_money_valuation_amount"] == "100000000.00"
    assert verify_chain(db.session).ok


def test_the_preview_shows_cases_b_c_d_and_changes_nothing(client):
    headers, company_id, grant_id = setup_grant(client)
    rnd = record_round(client, headers, company_id)
    before = ledger_count()
    url = f"/api/v1/grants/{grant_id}/conversion-preview"
    sheet = client.post(url, json={"round_id": rnd["id"]}, headers=headers).get_json()["sheet"]
    assert sheet["fund_units"] == "500000.00" and sheet["fund_stake_display"] == "4.0000%"

    expected = {"pre_money_includes_conversion": ("526315.78", "4473684.22", "4.1667%"),
                "discount": ("625000.00", "4375000.00", "4.9505%"),
                "valuation_cap": ("833333.33", "4166666.67", "6.4935%")}
    values = {"pre_money_includes_conversion": True, "discount": "0.20",
              "valuation_cap": "60000000.00"}
    for name, (units, reserve, stake) in expected.items():
        override = client.post(f"/api/v1/grants/{grant_id}/policy-override", headers=headers,
                               json={"values": {name: values[name]},
                                     "ic_resolution_ref": f"IC-{name}"})
        assert override.status_code == 200, override.get_json()
        sheet = client.post(url, json={"round_id": rnd["id"]}, headers=headers).get_json()["sheet"]
        assert (sheet["fund_units"], sheet["capital_reserve"], sheet["fund_stake_display"]) == (
            units, reserve, stake), name
        reset = {"pre_money_includes_conversion": False, "discount": "0", "valuation_cap": None}
        client.post(f"/api/v1/grants/{grant_id}/policy-override", headers=headers,
                    json={"values": {name: reset[name]}, "ic_resolution_ref": "IC-reset"})
    # Only the override entries were written; the previews wrote nothing.
    assert ledger_count() == before + 6
    assert count(Conversion) == 0 and count(CapTable) == 1


def test_a_hypothetical_round_previews_without_being_recorded(client):
    headers, company_id, grant_id = setup_grant(client)
    round_body = worked_example_round(pre_money_valuation_amount="50000000.00")
    response = client.post(f"/api/v1/grants/{grant_id}/conversion-preview",
                           json={"round": round_body}, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["sheet"]["round_price_display"] == "5.000000"
    assert count(FinancingRound) == 0


def test_bad_rounds_name_the_field_and_nothing_is_written(client):
    headers, company_id, grant_id = setup_grant(client)
    url = f"/api/v1/companies/{company_id}/rounds"
    cases = [
        (worked_example_round(units_before="0", holders_before=None), "units_before"),
        (worked_example_round(units_before="-5", holders_before=None), "units_before"),
        (worked_example_round(lead="Somebody Else"), "lead"),
        (worked_example_round(definitive_agreement_signed_on="2026-11-15"), "closed_on"),
        (worked_example_round(closed_on="2099-01-01"), "closed_on"),  # after today
        (worked_example_round(holders_before=[{"holder": "A", "units": "1.00"}]),
         "holders_before"),
        (worked_example_round(kind="loan"), "kind"),
        (worked_example_round(investors=[]), "investors"),
    ]
    before = ledger_count()
    for body, field in cases:
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 422, (field, response.get_json())
        assert field in response.get_json()["error"]["details"], response.get_json()
    assert count(FinancingRound) == 0 and ledger_count() == before


def test_a_round_closing_before_signing_is_refused_by_r3b(client):
    headers, company_id, grant_id = setup_grant(client)
    response = client.post(f"/api/v1/grants/{grant_id}/conversion-preview",
                           json={"round": worked_example_round(closed_on="2025-05-01")},
                           headers=headers)
    assert response.status_code == 409
    details = response.get_json()["error"]["details"]
    assert details["rule"] == "R3.b" and details["field"] == "closed_on"


def test_a_failing_round_is_stored_with_its_failed_clauses_and_cannot_convert(client):
    headers, company_id, grant_id = setup_grant(client)
    rnd = record_round(client, headers, company_id, investors=[
        {"name": "Lead Capital", "cash_amount": "3000000.00", "is_independent": True}])
    check = rnd["checks"][0]
    assert check["is_qualifying"] is False
    failed = [c["message_en"] for c in check["clauses"] if not c["passed"]]
    assert failed == ["R3.d: new money 3,000,000.00 < 5,000,000.00"]
    response = client.post(f"/api/v1/grants/{grant_id}/conversion",
                           json={"round_id": rnd["id"]}, headers=headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["details"]["rule"] == "R3.d"
    assert count(Conversion) == 0


def test_r6e_without_a_cap_table_needs_an_ic_resolution(client):
    headers, company_id, grant_id = setup_grant(client)
    # The lead buys no more units than the fund gets: without the holders before the round,
    # nobody can show that the fund is not the largest holder.
    rnd = record_round(client, headers, company_id, holders_before=None, investors=[
        {"name": "Lead Capital", "cash_amount": "5000000.00", "is_independent": True}])
    url = f"/api/v1/grants/{grant_id}/conversion"
    refused = client.post(url, json={"round_id": rnd["id"]}, headers=headers)
    assert refused.status_code == 409
    assert refused.get_json()["error"]["details"]["rule"] == "R6.e"
    done = client.post(url, json={"round_id": rnd["id"], "ic_resolution_ref": "IC-2026-40"},
                       headers=headers)
    assert done.status_code == 201
    assert done.get_json()["ic_resolution_ref"] == "IC-2026-40"


def test_the_stake_cap_converts_part_and_undisbursed_tranches_are_cancelled(client):
    headers = manager_headers(client)
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
    # Tiny company: 1,000,000 units at 1,000,000 pre, 2,000,000 new money: the fund's 2,000,000
    # would buy 40% (R6.d caps it at 30%).
    rnd = record_round(client, headers, deal.company_id, pre_money_valuation_amount="1000000.00",
                       units_before="1000000.00", holders_before=[
                           {"holder": "Founder", "units": "1000000.00"}],
                       investors=[{"name": "Lead Capital", "cash_amount": "2000000.00",
                                   "is_independent": True}])
    conv = client.post(f"{url}/conversion", json={"round_id": rnd["id"],
                                                  "ic_resolution_ref": "IC-1"}, headers=headers)
    assert conv.status_code == 201, conv.get_json()
    body = conv.get_json()
    assert body["is_stake_capped"] is True and body["stake_percent"] == "30.0000"
    assert body["cancelled_tranches"] == [2, 3]  # R4.b
    # 30% of post: units = 0.3 / 0.7 x 3,000,000 = 1,285,714.28 at 1.00 each
    assert body["fund_units"] == "1285714.28"
    assert body["converted_amount"] == "1285714.28"
    assert body["remaining_grant_amount"] == "714285.72"


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(client):
    headers, company_id, grant_id = setup_grant(client)
    rnd = record_round(client, headers, company_id)
    url = f"/api/v1/grants/{grant_id}/conversion"
    keyed = {**headers, "Idempotency-Key": "convert-42"}
    first = client.post(url, json={"round_id": rnd["id"]}, headers=keyed)
    again = client.post(url, json={"round_id": rnd["id"]}, headers=keyed)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = client.post(url, json={"round_id": rnd["id"], "ic_resolution_ref": "X"},
                        headers=keyed)
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    unkeyed = client.post(url, json={"round_id": rnd["id"]}, headers=headers)
    assert unkeyed.status_code == 409
    assert unkeyed.get_json()["error"]["code"] == "already_converted"
    assert count(Conversion) == 1


def test_twenty_concurrent_conversions_convert_the_grant_exactly_once(app, client):
    headers, company_id, grant_id = setup_grant(client)
    rnd = record_round(client, headers, company_id)
    db.session.commit()
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def convert(n: int) -> None:
        worker = isolated_client(app)
        barrier.wait()
        # Half with their own key, half without: all race for the same grant.
        extra = {"Idempotency-Key": f"k{n}"} if n % 2 else {}
        response = worker.post(f"/api/v1/grants/{grant_id}/conversion",
                               json={"round_id": rnd["id"]}, headers={**headers, **extra})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=convert, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201] + [409] * 19, statuses
    db.session.expire_all()
    assert count(Conversion) == 1 and count(Holding) == 1
    converted = db.session.scalar(select(func.count()).select_from(LedgerEntry)
                                  .where(LedgerEntry.action == "grant.converted"))
    assert converted == 1
    assert verify_chain(db.session).ok


def test_previewing_after_the_conversion_shows_the_same_figures_and_changes_nothing(client):
    headers, company_id, grant_id = setup_grant(client)
    rnd = record_round(client, headers, company_id)
    conv = client.post(f"/api/v1/grants/{grant_id}/conversion", json={"round_id": rnd["id"]},
                       headers=headers).get_json()
    before = ledger_count()
    sheet = client.post(f"/api/v1/grants/{grant_id}/conversion-preview",
                        json={"round_id": rnd["id"]}, headers=headers).get_json()["sheet"]
    assert (sheet["fund_units"], sheet["capital_reserve"]) == (
        conv["fund_units"], conv["capital_reserve_amount"])
    assert ledger_count() == before and count(Conversion) == 1 and count(CapTable) == 2
    stored = client.get(f"/api/v1/grants/{grant_id}/conversion", headers=headers).get_json()
    assert stored == conv


GARBAGE = [None, [], "text", 0, -1, 1.5, True, {"x": 1}, "9" * 40, "1e400", "NaN", "-0.01",
           "2025-02-30", "99999-01-01", "0001-01-01"]


def test_garbage_input_is_refused_cleanly_never_with_a_500(client):
    admin = manager_headers(client, "admin@example.cn", roles=("admin",))
    headers, company_id, grant_id = setup_grant(client)
    rnd = record_round(client, headers, company_id)
    g = f"/api/v1/grants/{grant_id}"
    bodies = {
        "/api/v1/grants": {"deal_id": 1, "awarded_amount": "1.00", "signed_on": "2025-06-01",
                           "holder_entity": "x"},
        f"{g}/disbursements": {"tranche": 1, "paid_on": "2025-06-01", "amount": "1.00"},
        f"{g}/reviews": {"tranche": 2, "is_passed": True, "reviewer": "x",
                         "reviewed_on": "2025-06-01"},
        f"{g}/refunds": {"amount": "1.00", "refunded_on": "2025-06-01"},
        f"{g}/breach": {"breach_on": "2025-06-01", "reason": "x", "repaid_on": "2025-06-02"},
        f"{g}/policy-override": {"values": {"discount": "0.1"}, "ic_resolution_ref": "x"},
        f"{g}/conversion-preview": {"round_id": rnd["id"]},
        f"{g}/conversion": {"round_id": rnd["id"]},
        f"/api/v1/companies/{company_id}/rounds": worked_example_round(),
        "/api/v1/policies": {"effective_on": "2026-01-01", "values": {"grace_days": 1},
                             "approved_by": "x", "ic_resolution_ref": "y"},
    }
    statuses = set()
    for url, body in bodies.items():
        for field in body:
            for junk in GARBAGE:
                response = client.post(url, json={**body, field: junk},
                                       headers=admin if "policies" in url else headers)
                assert response.status_code < 500, (url, field, junk, response.get_json())
                statuses.add(response.status_code)
        if "policies" in url:
            for name in ("grace_days", "discount", "valuation_cap", "tranche_split"):
                for junk in GARBAGE:
                    response = client.post(url, json={**body, "values": {name: junk}},
                                           headers=admin)
                    assert response.status_code < 500, (name, junk, response.get_json())
        assert client.post(url, data="{not json", headers={
            **headers, "Content-Type": "application/json"}).status_code < 500
    assert 422 in statuses and 409 in statuses


def test_convert_base_awarded_pays_the_rest_at_closing_and_converts_the_whole_award(client):
    headers = manager_headers(client)
    deal = make_deal()
    grant = client.post("/api/v1/grants", headers=headers, json={
        "deal_id": deal.id, "awarded_amount": "5000000.00", "signed_on": "2025-06-01",
        "holder_entity": "平台", "approved_budget_amount": "10000000.00",
        "policy_override": {"convert_base": "awarded"}, "override_ic_ref": "IC-7"}).get_json()
    url = f"/api/v1/grants/{grant['id']}"
    client.post(f"{url}/disbursements", json={"tranche": 1, "paid_on": "2025-06-10"},
                headers=headers)
    client.post(f"{url}/rd-acceptance", json={"accepted_on": "2026-09-01", "reference": "A"},
                headers=headers)
    rnd = record_round(client, headers, deal.company_id)
    conv = client.post(f"{url}/conversion", json={"round_id": rnd["id"]}, headers=headers)
    assert conv.status_code == 201, conv.get_json()
    assert conv.get_json()["converted_amount"] == "5000000.00"
    assert conv.get_json()["fund_units"] == "500000.00"
    paid = client.get(f"{url}/disbursements", headers=headers).get_json()["items"]
    assert [(d["tranche"], d["paid_on"]) for d in paid] == [
        (1, "2025-06-10"), (2, "2026-11-01"), (3, "2026-11-01")]


def test_concurrent_repeats_with_one_key_all_get_the_first_answer(app, client):
    headers, company_id, grant_id = setup_grant(client)
    rnd = record_round(client, headers, company_id)
    db.session.commit()
    answers: list[tuple[int, int | None]] = []
    barrier = threading.Barrier(10)

    def convert() -> None:
        worker = isolated_client(app)
        barrier.wait()
        response = worker.post(f"/api/v1/grants/{grant_id}/conversion",
                               json={"round_id": rnd["id"]},
                               headers={**headers, "Idempotency-Key": "same-key"})
        answers.append((response.status_code, (response.get_json() or {}).get("id")))

    threads = [threading.Thread(target=convert) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 10 and len(set(answers)) == 1 and answers[0][0] == 201, answers
    db.session.expire_all()
    assert count(Conversion) == 1


def test_an_over_long_ic_resolution_reference_is_a_422_and_nothing_converts(client):
    headers, company_id, grant_id = setup_grant(client)
    rnd = record_round(client, headers, company_id)
    response = client.post(f"/api/v1/grants/{grant_id}/conversion", headers=headers,
                           json={"round_id": rnd["id"], "ic_resolution_ref": "IC-" + "9" * 147})
    assert response.status_code == 422, response.get_json()
    assert "ic_resolution_ref" in response.get_json()["error"]["details"]
    assert count(Conversion) == 0


def test_a_round_recorded_twice_with_one_idempotency_key_is_recorded_once(client):
    headers, company_id, grant_id = setup_grant(client)
    keyed = {**headers, "Idempotency-Key": "round-a"}
    url = f"/api/v1/companies/{company_id}/rounds"
    first = client.post(url, json=worked_example_round(), headers=keyed)
    again = client.post(url, json=worked_example_round(), headers=keyed)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert count(FinancingRound) == 1
    number = client.post(url, json=worked_example_round(pre_money_valuation_amount=1e8),
                         headers=headers)
    assert number.status_code == 422
    assert "pre_money_valuation_amount" in number.get_json()["error"]["details"]
