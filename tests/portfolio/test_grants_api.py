"""Policies, grant agreements, tranches and refusals through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import func, select

from fundapp.compliance.models import LedgerEntry
from fundapp.deals.models import DealStage
from fundapp.extensions import db
from fundapp.fund.models import PolicyVersion
from fundapp.fund.operations import ensure_default_policy
from fundapp.fund.policies import clean_values, load_default_file
from fundapp.portfolio.grants.models import Grant, GrantDisbursement
from tests.conftest import api_token, make_user
from tests.portfolio.helpers import (
    add_lpr,
    grant_body,
    make_deal,
    make_fund,
    manager_headers,
    signed_and_paid,
)


def ledger(action: str) -> list[dict]:
    rows = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == action)
                              .order_by(LedgerEntry.seq)).all()
    return [json.loads(r.payload) for r in rows]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def default_policy() -> None:
    """What setting up the fund does (fundapp.fund); reading the policies never does it."""
    ensure_default_policy(db.session)
    db.session.commit()


def test_the_shipped_default_policy_file_is_valid_and_has_the_rule_book_defaults():
    data = load_default_file()
    values, errors = clean_values(data["values"])
    assert errors == {}
    assert values["tranche_split"] == ["0.40", "0.30", "0.30"]
    assert values["max_stake"] == "0.30" and values["conversion_window_months"] == 36


def test_policies_load_by_default_and_an_admin_change_is_a_new_ledgered_version(client):
    admin = manager_headers(client, "admin@example.cn", roles=("admin",))
    # A GET never writes: before the fund's setup there is no version, and listing makes none.
    assert client.get("/api/v1/policies", headers=admin).get_json()["items"] == []
    assert count(PolicyVersion) == 0
    default_policy()
    listed = client.get("/api/v1/policies", headers=admin).get_json()["items"]
    assert [p["version"] for p in listed] == ["default-1"]
    assert listed[0]["values"]["discount"] == "0"

    response = client.post("/api/v1/policies", headers=admin, json={
        "effective_on": "2026-01-01", "values": {"discount": "0.20"},
        "approved_by": "IC", "ic_resolution_ref": "IC-2025-17"})
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["values"]["discount"] == "0.20"
    assert created["values"]["max_stake"] == "0.30"  # untouched values carry over
    entry = ledger("policy.version_created")[-1]
    assert entry["changed"] == {"discount": {"before": "0", "after": "0.20"}}
    assert entry["ic_resolution_ref"] == "IC-2025-17"


def test_bad_policies_name_the_field_and_nothing_is_written(client):
    admin = manager_headers(client, "admin@example.cn", roles=("admin",))
    default_policy()
    for values, field in [({"discount": "1"}, "discount"), ({"valuation_cap": "-5"},
                                                            "valuation_cap"),
                          ({"max_stake": "0"}, "max_stake"), ({"discount": 0.2}, "discount"),
                          ({"tranche_split": ["0.5", "0.4"]}, "tranche_split"),
                          ({"bogus": "1"}, "bogus")]:
        response = client.post("/api/v1/policies", headers=admin, json={
            "effective_on": "2026-01-01", "values": values, "approved_by": "IC",
            "ic_resolution_ref": "IC-1"})
        assert response.status_code == 422, (values, response.get_json())
        assert field in response.get_json()["error"]["details"]["values"]
    assert len(client.get("/api/v1/policies", headers=admin).get_json()["items"]) == 1


def test_only_an_admin_changes_policies(client):
    manager = manager_headers(client)
    response = client.post("/api/v1/policies", headers=manager, json={
        "effective_on": "2026-01-01", "values": {}, "approved_by": "x", "ic_resolution_ref": "y"})
    assert response.status_code == 403


def test_an_agreement_is_pinned_to_the_policy_in_force_on_its_signing_date(client):
    admin = manager_headers(client, "admin@example.cn", roles=("admin",))
    manager = manager_headers(client)
    early, late = make_deal("甲公司"), make_deal("乙公司")
    first = client.post("/api/v1/grants", json=grant_body(early.id), headers=manager).get_json()
    client.post("/api/v1/policies", headers=admin, json={
        "effective_on": "2026-01-01", "values": {"discount": "0.20"}, "approved_by": "IC",
        "ic_resolution_ref": "IC-9", "version": "2026"})
    second = client.post("/api/v1/grants", json=grant_body(late.id, signed_on="2026-02-01"),
                         headers=manager).get_json()
    assert first["policy_version"] == "default-1"
    assert second["policy_version"] == "2026"
    # A later version never rewrites the earlier agreement.
    again = client.get(f"/api/v1/grants/{first['id']}", headers=manager).get_json()
    assert again["policy_version"] == "default-1"


def test_a_grant_gets_the_default_40_30_30_tranches_and_its_dates(client):
    manager = manager_headers(client)
    deal = make_deal()
    response = client.post("/api/v1/grants", json=grant_body(deal.id), headers=manager)
    assert response.status_code == 201, response.get_json()
    grant = response.get_json()
    assert [t["amount"] for t in grant["tranches"]] == ["2000000.00", "1500000.00", "1500000.00"]
    assert grant["status"] == "disbursing"
    assert grant["rd_due_on"] == "2027-06-01"  # R2.c: 24 months
    assert grant["window_end_on"] == "2028-06-01" and grant["grace_end_on"] == "2028-08-30"
    assert ledger("grant.signed")[0]["policy_version"] == "default-1"


def test_bad_agreements_are_refused_by_field_or_clause_and_nothing_is_written(client):
    manager = manager_headers(client)
    deal = make_deal()
    early = make_deal("丙公司", stage=DealStage.IC_DECISION)
    cases = [
        (grant_body(deal.id, tranches=[{"amount": "2000000.00"}, {"amount": "2000000.00"}]),
         422, "tranches"),
        (grant_body(deal.id, awarded_amount="0"), 422, "awarded_amount"),
        (grant_body(deal.id, awarded_amount="5000000.001"), 422, "awarded_amount"),
        (grant_body(deal.id, awarded_amount="6000000.00"), 409, "R2.a"),
        (grant_body(deal.id, approved_budget_amount="8000000.00"), 409, "R2.a"),
        (grant_body(early.id), 409, "R11"),
        (grant_body(deal.id, policy_override={"discount": "0.2"}), 422, "override_ic_ref"),
        (grant_body(deal.id, policy_override={"discount": "1"}, override_ic_ref="IC-1"), 422,
         "policy_override"),
    ]
    for body, status, where in cases:
        response = client.post("/api/v1/grants", json=body, headers=manager)
        assert response.status_code == status, (body, response.get_json())
        details = response.get_json()["error"]["details"]
        assert details.get("rule") == where if status == 409 else where in details
    assert count(Grant) == 0
    assert ledger("grant.signed") == []


def test_r10a_single_company_limit_needs_an_ic_resolution(client):
    make_fund("40000000.00")  # 10% = 4,000,000.00
    manager = manager_headers(client)
    deal = make_deal()
    refused = client.post("/api/v1/grants", json=grant_body(deal.id), headers=manager)
    assert refused.status_code == 409
    assert refused.get_json()["error"]["details"]["rule"] == "R10.a"
    allowed = client.post("/api/v1/grants", json=grant_body(deal.id, r10_ic_ref="IC-2025-3"),
                          headers=manager)
    assert allowed.status_code == 201


def test_tranches_are_gated_by_milestone_reviews_and_never_exceed_the_award(client):
    manager = manager_headers(client)
    deal = make_deal()
    grant = client.post("/api/v1/grants", json=grant_body(deal.id), headers=manager).get_json()
    url = f"/api/v1/grants/{grant['id']}"

    first = client.post(f"{url}/disbursements", json={"tranche": 1, "paid_on": "2025-06-10"},
                        headers=manager)
    assert first.status_code == 201 and first.get_json()["amount"] == "2000000.00"
    early = client.post(f"{url}/disbursements", json={"tranche": 2, "paid_on": "2025-07-01"},
                        headers=manager)
    assert early.status_code == 409 and early.get_json()["error"]["details"]["rule"] == "R2.b"
    client.post(f"{url}/reviews", json={"tranche": 2, "is_passed": False, "reviewer": "Panel",
                                        "reviewed_on": "2025-11-01"}, headers=manager)
    failed = client.post(f"{url}/disbursements", json={"tranche": 2, "paid_on": "2025-11-02"},
                         headers=manager)
    assert failed.status_code == 409
    client.post(f"{url}/reviews", json={"tranche": 2, "is_passed": True, "reviewer": "Panel",
                                        "reviewed_on": "2025-12-01"}, headers=manager)
    too_much = client.post(f"{url}/disbursements", json={"tranche": 2, "paid_on": "2025-12-01",
                                                         "amount": "3000000.01"}, headers=manager)
    assert too_much.status_code == 409
    assert too_much.get_json()["error"]["details"] == {"rule": "R2.b", "field": "amount"}
    over_tranche = client.post(f"{url}/disbursements", json={
        "tranche": 2, "paid_on": "2025-12-01", "amount": "1500000.01"}, headers=manager)
    assert over_tranche.status_code == 422
    ok = client.post(f"{url}/disbursements", json={"tranche": 2, "paid_on": "2025-12-01"},
                     headers=manager)
    assert ok.status_code == 201
    twice = client.post(f"{url}/disbursements", json={"tranche": 2, "paid_on": "2025-12-02"},
                        headers=manager)
    assert twice.status_code == 409
    listed = client.get(f"{url}/disbursements", headers=manager).get_json()["items"]
    assert [(d["tranche"], d["amount"]) for d in listed] == [(1, "2000000.00"), (2, "1500000.00")]
    assert [e["tranche"] for e in ledger("grant.tranche_released")] == [1, 2]
    assert count(GrantDisbursement) == 2


def test_refunds_rd_acceptance_and_reads_for_auditors(client):
    manager = manager_headers(client)
    deal = make_deal()
    grant_id = signed_and_paid(client, manager, deal.id, accept=False)
    url = f"/api/v1/grants/{grant_id}"
    too_much = client.post(f"{url}/refunds", json={"amount": "5000000.01",
                                                   "refunded_on": "2026-07-01"}, headers=manager)
    assert too_much.status_code == 422 and "amount" in too_much.get_json()["error"]["details"]
    refund = client.post(f"{url}/refunds", json={"amount": "100000.00",
                                                 "refunded_on": "2026-07-01",
                                                 "reason": "unspent"}, headers=manager)
    assert refund.get_json()["refunded_amount"] == "100000.00"
    accepted = client.post(f"{url}/rd-acceptance", json={"accepted_on": "2026-09-01",
                                                         "reference": "验收-1"}, headers=manager)
    assert accepted.get_json()["status"] == "rd_accepted"

    make_user("auditor@example.cn", roles=("auditor",))
    auditor = {"Authorization": f"Bearer {api_token(client, 'auditor@example.cn')}"}
    assert client.get(url, headers=auditor).status_code == 200
    assert client.post(f"{url}/refunds", json={"amount": "1.00", "refunded_on": "2026-07-01"},
                       headers=auditor).status_code == 403


def test_breach_suspends_and_computes_the_recovery_with_penalty_interest(client):
    manager = manager_headers(client)
    deal = make_deal()
    grant = client.post("/api/v1/grants", json=grant_body(deal.id), headers=manager).get_json()
    url = f"/api/v1/grants/{grant['id']}"
    client.post(f"{url}/disbursements", json={"tranche": 1, "paid_on": "2025-06-01"},
                headers=manager)
    body = {"breach_on": "2026-05-01", "reason": "Moved registration out of the district",
            "repaid_on": "2026-06-01"}
    no_rate = client.post(f"{url}/breach", json=body, headers=manager)
    assert no_rate.status_code == 409 and no_rate.get_json()["error"]["details"]["rule"] == "R8.c"

    add_lpr(date(2025, 5, 20), "0.0300")
    response = client.post(f"{url}/breach", json=body, headers=manager)
    assert response.status_code == 200, response.get_json()
    breached = response.get_json()
    # 2,000,000.00 x 1.5 x 3.00% x 365/365 = 90,000.00
    assert breached["recovery_principal_amount"] == "2000000.00"
    assert breached["recovery_interest_amount"] == "90000.00"
    assert breached["status"] == "in_breach"
    assert [t["status"] for t in breached["tranches"]] == ["released", "suspended", "suspended"]
    blocked = client.post(f"{url}/disbursements", json={"tranche": 2, "paid_on": "2026-06-01"},
                          headers=manager)
    assert blocked.status_code == 409
    assert ledger("grant.breach_declared")[0]["penalty"]["interest_amount"] == "90000.00"


def test_tolerance_closure_needs_an_ic_resolution(client):
    manager = manager_headers(client)
    deal = make_deal()
    grant = client.post("/api/v1/grants", json=grant_body(deal.id), headers=manager).get_json()
    url = f"/api/v1/grants/{grant['id']}/tolerance-closure"
    missing = client.post(url, json={"closed_on": "2026-11-01", "ic_resolution_ref": ""},
                          headers=manager)
    assert missing.status_code == 422
    closed = client.post(url, json={"closed_on": "2026-11-01", "ic_resolution_ref": "IC-8",
                                    "note": "technical failure"}, headers=manager).get_json()
    assert closed["status"] == "closed_tolerance"
    assert ledger("grant.closed_with_tolerance")[0]["clause"] == "R8.b"


def test_a_per_agreement_override_needs_an_ic_resolution_and_is_ledgered(client):
    manager = manager_headers(client)
    deal = make_deal()
    grant = client.post("/api/v1/grants", json=grant_body(deal.id), headers=manager).get_json()
    url = f"/api/v1/grants/{grant['id']}/policy-override"
    assert client.post(url, json={"values": {"discount": "0.1"}, "ic_resolution_ref": ""},
                       headers=manager).status_code == 422
    done = client.post(url, json={"values": {"discount": "0.1"}, "ic_resolution_ref": "IC-5"},
                       headers=manager).get_json()
    assert done["policy_override"] == {"discount": "0.1"}
    assert ledger("grant.policy_overridden")[0]["ic_resolution_ref"] == "IC-5"


def test_money_sent_as_a_json_number_is_refused_and_nothing_is_paid(client):
    manager = manager_headers(client)
    deal = make_deal()
    number = client.post("/api/v1/grants", json=grant_body(deal.id, awarded_amount=5000000.0),
                         headers={**manager, "Accept-Language": "en"})
    assert number.status_code == 422, number.get_json()
    assert "decimal string" in number.get_json()["error"]["details"]["awarded_amount"][0]
    grant = client.post("/api/v1/grants", json=grant_body(deal.id), headers=manager).get_json()
    paid = client.post(f"/api/v1/grants/{grant['id']}/disbursements", headers=manager,
                       json={"tranche": 1, "paid_on": "2025-06-10", "amount": 2000000})
    assert paid.status_code == 422, paid.get_json()
    assert "amount" in paid.get_json()["error"]["details"]
    refund = client.post(f"/api/v1/grants/{grant['id']}/refunds", headers=manager,
                         json={"amount": 1.5, "refunded_on": "2025-07-01"})
    assert refund.status_code == 422
    assert count(GrantDisbursement) == 0


def test_text_longer_than_its_column_is_a_422_not_a_500(client):
    manager = manager_headers(client)
    deal = make_deal()
    response = client.post("/api/v1/grants", headers=manager, json=grant_body(
        deal.id, holder_entity="平" * 201, agreement_no="N" * 61))
    assert response.status_code == 422, response.get_json()
    assert {"holder_entity", "agreement_no"} <= set(response.get_json()["error"]["details"])
    assert count(Grant) == 0


def test_a_repeated_disbursement_with_one_idempotency_key_pays_once(client):
    manager = manager_headers(client)
    deal = make_deal()
    keyed = {**manager, "Idempotency-Key": "sign-1"}
    signed = client.post("/api/v1/grants", json=grant_body(deal.id), headers=keyed)
    again = client.post("/api/v1/grants", json=grant_body(deal.id), headers=keyed)
    assert signed.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert signed.get_json() == again.get_json() and count(Grant) == 1
    unkeyed = client.post("/api/v1/grants", json=grant_body(deal.id), headers=manager)
    assert unkeyed.status_code == 409 and unkeyed.get_json()["error"]["code"] == "duplicate"

    url = f"/api/v1/grants/{signed.get_json()['id']}"
    body = {"tranche": 1, "paid_on": "2025-06-10", "amount": "500000.00"}
    keyed = {**manager, "Idempotency-Key": "pay-1"}
    first = client.post(f"{url}/disbursements", json=body, headers=keyed)
    repeat = client.post(f"{url}/disbursements", json=body, headers=keyed)
    assert first.status_code == repeat.status_code == 201
    assert first.get_json() == repeat.get_json()
    other = client.post(f"{url}/disbursements", json={**body, "amount": "600000.00"},
                        headers=keyed)
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    refund = {"amount": "100000.00", "refunded_on": "2025-07-01"}
    keyed = {**manager, "Idempotency-Key": "refund-1"}
    for _ in range(2):
        assert client.post(f"{url}/refunds", json=refund, headers=keyed).status_code == 201
    grant = client.get(url, headers=manager).get_json()
    assert grant["disbursed_amount"] == "500000.00" and grant["refunded_amount"] == "100000.00"
    assert len(ledger("grant.tranche_released")) == 1 and len(ledger("grant.refund_recorded")) == 1


def test_the_list_of_grants_shows_each_change_at_once(client):
    """The list's pages are kept per book version: every ledgered change shows in the next."""
    manager = manager_headers(client)
    deal = make_deal()
    assert client.get("/api/v1/grants", headers=manager).get_json()["total"] == 0
    grant = client.post("/api/v1/grants", json=grant_body(deal.id), headers=manager).get_json()
    listed = client.get("/api/v1/grants", headers=manager).get_json()
    assert [(g["id"], g["disbursed_amount"]) for g in listed["items"]] == [(grant["id"], "0.00")]
    assert client.get("/api/v1/grants", headers=manager).get_json() == listed  # kept
    paid = client.post(f"/api/v1/grants/{grant['id']}/disbursements",
                       json={"tranche": 1, "paid_on": "2025-06-10"}, headers=manager)
    assert paid.status_code == 201
    listed = client.get("/api/v1/grants", headers=manager).get_json()
    assert listed["items"][0]["disbursed_amount"] == "2000000.00"
    assert [d["tranche"] for d in listed["items"][0]["disbursements"]] == [1]
    # each page and filter is its own
    assert client.get("/api/v1/grants?status=closed", headers=manager).get_json()["total"] == 0
    assert client.get("/api/v1/grants?status=active",
                      headers=manager).get_json()["total"] == 1
