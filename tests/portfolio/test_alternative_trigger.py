"""R3.f alternative trigger: an agreed condition met, the conversion priced by a filed appraisal.

The pure tests need no database; the API tests run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fundapp.compliance.ledger import verify_chain
from fundapp.compliance.models import LedgerEntry
from fundapp.extensions import db
from fundapp.portfolio.conversion import engine as calc
from fundapp.portfolio.conversion.models import CapTable, Conversion
from fundapp.portfolio.holdings.models import Holding
from tests.conftest import csrf_from, login, make_user
from tests.isolation import isolated_client
from tests.portfolio.helpers import make_deal, manager_headers, signed_and_paid

D = Decimal
GRANT = calc.Grant(
    signed_on=date(2025, 6, 1),
    awarded_amount=D("5000000.00"),
    disbursements=(
        (date(2025, 6, 10), D("2000000.00")),
        (date(2025, 12, 1), D("1500000.00")),
        (date(2026, 6, 1), D("1500000.00")),
    ),
)
APPRAISAL = calc.Appraisal(
    appraised_value=D("80000000.00"),
    base_date=date(2026, 6, 30),
    filing_number="沪国资评备-2026-018",
    units_outstanding=D("10000000.00"),
    filed_on=date(2026, 8, 15),
)
CAP_TABLE = [("Founder Zhang", D("6000000.00")), ("Founder Li", D("4000000.00"))]


# --------------------------------------------------------------------------- pure


def test_worked_example_by_hand():
    # P = 80,000,000.00 / 10,000,000.00 = 8.000000; 5,000,000.00 / 8 = 625,000.00 units;
    # reserve = 5,000,000.00 - 625,000.00; post = 10,625,000.00; stake = 625,000 / 10,625,000.
    result = calc.compute_appraisal_conversion(
        GRANT, APPRAISAL, cap_table=CAP_TABLE, met_on=date(2026, 9, 1), condition="revenue")
    assert result.basis == "appraisal"
    assert result.round_price_display == "8.000000"
    assert result.conversion_price_display == "8.000000"
    assert result.converting_amount == D("5000000.00")
    assert result.fund_units == D("625000.00")
    assert result.registered_capital_increase == D("625000.00")
    assert result.capital_reserve == D("4375000.00")
    assert result.post_round_units == D("10625000.00")
    assert result.fund_stake_display == "5.8824%"
    assert result.registration_due_on == date(2026, 10, 31)  # R6.g: met_on + 60 days
    assert result.investors == ()
    assert result.becomes_largest_holder is False and not result.needs_ic_resolution
    clauses = [s.clause for s in result.steps]
    assert clauses[0] == "R3.f"
    assert clauses[1:] == ["R4.a", "R5.a", "R5.a", "R6.a", "R6.b", "R6.c", "R6.e", "R6.g"]
    assert [c.clause for c in result.qualifying.clauses] == ["R3.f"]
    assert sum(r.percent for r in result.cap_table) == D("100.0000")
    sheet = result.to_dict()
    assert sheet["appraisal"]["filing_number"] == "沪国资评备-2026-018"
    assert sheet["steps"][1]["inputs"]["met_on"] == "2026-09-01"


def test_converting_amount_is_taken_at_the_met_date():
    result = calc.compute_appraisal_conversion(GRANT, APPRAISAL, met_on=date(2026, 3, 1))
    assert result.converting_amount == D("3500000.00")  # the 2026-06-01 tranche came later
    assert result.fund_units == D("437500.00")


def test_discount_and_cap_apply_to_the_appraisal_price():
    policy = calc.ConversionPolicy(discount=D("0.20"), valuation_cap=D("60000000.00"))
    result = calc.compute_appraisal_conversion(GRANT, APPRAISAL, policy, met_on=date(2026, 9, 1))
    # Pc = min(8 x 0.8, 6) = 6.000000
    assert result.conversion_price_display == "6.000000"
    assert result.fund_units == D("833333.33")
    assert result.capital_reserve == D("4166666.67")
    assert {"R5.c", "R5.d"} <= {s.clause for s in result.steps}


def test_the_stake_cap_applies():
    small = calc.Appraisal(D("2000000.00"), date(2026, 6, 30), "F-1", D("1000000.00"))
    result = calc.compute_appraisal_conversion(GRANT, small, met_on=date(2026, 9, 1))
    assert result.is_stake_capped
    assert result.fund_units * 100 <= 30 * result.post_round_units
    assert result.converted_amount + result.remaining_grant_amount == D("5000000.00")


def test_a_stale_appraisal_is_refused_by_r9a():
    with pytest.raises(calc.ConversionError) as refused:
        calc.compute_appraisal_conversion(GRANT, APPRAISAL, met_on=date(2027, 7, 1))
    assert refused.value.clause == "R9.a"


def test_an_unfiled_appraisal_is_refused():
    with pytest.raises(ValueError, match="R3.f"):
        calc.Appraisal(D("1.00"), date(2026, 6, 30), " ", D("1.00"))


# --------------------------------------------------------------------------- API


def ledger(action: str) -> list[LedgerEntry]:
    return list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == action)))


def met_body(**extra) -> dict:
    body = {"condition": "Annual revenue >= 20,000,000.00", "met_on": "2026-09-01",
            "reference": "Audit report 2026-H1", "appraised_value_amount": "80000000.00",
            "base_on": "2026-06-30", "units_outstanding": "10000000.00",
            "filing_no": "沪国资评备-2026-018", "filed_on": "2026-08-15"}
    body.update(extra)
    return body


def setup(client, **extra):
    headers = manager_headers(client)
    grant_id = signed_and_paid(client, headers, make_deal().id, **extra)
    return headers, grant_id


def test_condition_met_previews_and_converts_once_with_the_r3f_sheet(client):
    headers, grant_id = setup(client, alternative_conditions="Revenue >= 20m or a product licence")
    url = f"/api/v1/grants/{grant_id}"
    met = client.post(f"{url}/alternative-condition", json=met_body(), headers=headers)
    assert met.status_code == 201, met.get_json()
    assert met.get_json()["alternative_trigger"]["filing_no"] == "沪国资评备-2026-018"
    assert len(ledger("grant.alternative_condition_met")) == 1

    preview = client.post(f"{url}/conversion-preview", json={"basis": "appraisal"},
                          headers=headers)
    assert preview.status_code == 200, preview.get_json()
    sheet = preview.get_json()["sheet"]
    assert sheet["fund_units"] == "625000.00" and sheet["fund_stake_display"] == "5.8824%"

    body = {"basis": "appraisal", "ic_resolution_ref": "IC-2026-51"}
    done = client.post(f"{url}/conversion", json=body, headers=headers)
    assert done.status_code == 201, done.get_json()
    conv = done.get_json()
    assert conv["basis"] == "appraisal" and conv["round_id"] is None
    assert conv["converted_on"] == "2026-09-01"
    assert conv["round_price"] == "8.000000" and conv["conversion_price"] == "8.000000"
    assert conv["fund_units"] == "625000.00"
    assert conv["capital_reserve_amount"] == "4375000.00"
    assert conv["post_round_units"] == "10625000.00"
    assert conv["stake_percent"] == "5.8824"
    assert conv["registration_due_on"] == "2026-10-31"
    assert conv["sheet"]["steps"][0]["clause"] == "R3.f"

    again = client.post(f"{url}/conversion", json=body, headers=headers)
    assert again.status_code == 409
    assert db.session.scalar(select(func.count()).select_from(Conversion)) == 1
    assert db.session.scalar(select(func.count()).select_from(Holding)) == 1
    assert db.session.scalar(select(func.count()).select_from(CapTable)) == 1
    [entry] = ledger("grant.converted")
    payload = json.loads(entry.payload)
    assert payload["basis"] == "appraisal" and payload["round_id"] is None
    assert [c["clause"] for c in payload["clauses"]] == ["R3.f"]
    assert payload["steps"][0]["clause"] == "R3.f"
    assert payload["inputs"]["appraisal"]["appraised_value"] == "80000000.00"
    assert verify_chain(db.session).ok


def test_refused_without_agreed_alternative_conditions(client):
    headers, grant_id = setup(client)
    response = client.post(f"/api/v1/grants/{grant_id}/alternative-condition",
                           json=met_body(), headers=headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["details"]["rule"] == "R3.f"
    assert ledger("grant.alternative_condition_met") == []
    preview = client.post(f"/api/v1/grants/{grant_id}/conversion-preview",
                          json={"basis": "appraisal"}, headers=headers)
    assert preview.status_code == 409
    assert preview.get_json()["error"]["details"]["rule"] == "R3.f"


def test_a_stale_appraisal_is_refused(client):
    headers, grant_id = setup(client, alternative_conditions="Product licence granted")
    response = client.post(f"/api/v1/grants/{grant_id}/alternative-condition",
                           json=met_body(base_on="2025-06-30", filed_on="2025-07-15"),
                           headers=headers)
    assert response.status_code == 409
    details = response.get_json()["error"]["details"]
    assert details["rule"] == "R9.a" and details["field"] == "base_on"
    assert ledger("grant.alternative_condition_met") == []


def test_the_basis_and_round_id_must_agree(client):
    headers, grant_id = setup(client)
    url = f"/api/v1/grants/{grant_id}/conversion"
    for body in ({}, {"basis": "appraisal", "round_id": 1}, {"basis": "other"}):
        assert client.post(url, json=body, headers=headers).status_code == 422, body


def test_the_grant_page_records_the_condition_and_converts_by_appraisal(app):
    api = isolated_client(app)
    headers = manager_headers(api)
    grant_id = signed_and_paid(api, headers, make_deal().id,
                               alternative_conditions="Product licence granted")
    make_user("page@example.cn", roles=("fund_manager",), locale="en")
    page = isolated_client(app)
    assert login(page, "page@example.cn").status_code == 302
    url = f"/grants/{grant_id}"
    assert "Record an agreed alternative condition as met (R3.f)" in page.get(url).get_data(
        as_text=True)

    def post(action_url, data):
        token = csrf_from(page.get(url).get_data(as_text=True))
        return page.post(action_url, data={"csrf_token": token, **data})

    form = {k: v for k, v in met_body().items()}
    stale = post(f"{url}/alternative", {**form, "base_on": "2025-06-30", "filed_on": "2025-07-01"})
    assert stale.status_code == 422 and "R9.a" in stale.get_data(as_text=True)
    assert post(f"{url}/alternative", form).status_code == 302
    shown = page.get(url).get_data(as_text=True)
    assert "沪国资评备-2026-018" in shown and 'value="appraisal"' in shown
    done = post(f"{url}/conversion", {"round_id": "appraisal", "ic_resolution_ref": "IC-1",
                                      "confirmed": "1"})
    assert done.status_code == 302, done.get_data(as_text=True)
    conv = page.get(f"{url}/conversion").get_data(as_text=True)
    assert "625,000.00" in conv and "R3.f" in conv
