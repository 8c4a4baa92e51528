"""A valuation mark by discounted cash flow: the user enters forecast cash flows to equity, a
discount rate, a terminal value, net debt and the company's units; the value per unit is
computed (numpy_financial.npv), stored with every figure of the computation, shown on the
holding page and in the quarterly report, and counts in NAV once someone else finalises it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import numpy_financial as npf
import pytest
from sqlalchemy import func, select

from fundapp.compliance.models import LedgerEntry
from fundapp.extensions import db
from fundapp.portfolio.conversion.models import CapTable, CapTableRow
from fundapp.portfolio.holdings.models import Holding, MarkMethod, ValuationMark
from fundapp.portfolio.holdings.valuation import InputProblem, dcf_value
from tests.conftest import api_token, csrf_from, login, make_user
from tests.portfolio.helpers import make_deal, make_fund

D = Decimal
MANAGER = "manager@example.cn"
SECOND = "second@example.cn"
FLOWS = ["1000000.00", "1200000.00", "1500000.00"]
INPUTS = {"cash_flows": FLOWS, "discount_rate": "0.10", "terminal_value": "10000000.00",
          "net_debt": "500000.00", "units_outstanding": "2000000.00"}


def by_hand() -> tuple[Decimal, Decimal]:
    """Σ cf_t / 1.1^t + terminal / 1.1^3 − net debt, in Decimal: (equity value, value per unit)."""
    present = sum((D(cf) / D("1.1") ** t for t, cf in enumerate(FLOWS, start=1)), D(0))
    present += D("10000000") / D("1.1") ** 3
    equity = (present - D("500000")).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    return equity, (equity / D("2000000")).quantize(D("0.000001"), rounding=ROUND_HALF_UP)


EQUITY, PER_UNIT = by_hand()  # 10,040,946.66 and 5.020473


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def manager(client, email: str = MANAGER) -> dict[str, str]:
    make_user(email, roles=("fund_manager",), locale="en")
    return {"Authorization": f"Bearer {api_token(client, email)}", "Accept-Language": "en"}


def direct_holding(client, headers) -> int:
    """A direct investment of 1m for 100,000 units on 2025-07-01."""
    make_fund()
    deal = make_deal()
    made = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "follow_on", "on": "2025-07-01", "amount": "1000000.00", "units": "100000.00",
        "company_id": deal.company_id, "reference": "FO-1"})
    assert made.status_code == 201, made.get_json()
    return made.get_json()["holding_id"]


# --------------------------------------------------------------------------- the calculation


def test_the_value_is_the_discounted_flows_less_net_debt_per_unit():
    value = dcf_value(cash_flows=[D(v) for v in FLOWS], discount_rate=D("0.10"),
                      terminal_value=D("10000000.00"), net_debt=D("500000.00"),
                      units_outstanding=D("2000000.00"))
    assert EQUITY == D("10040946.66") and PER_UNIT == D("5.020473")
    assert value.equity_value == EQUITY
    assert value.value_per_unit == PER_UNIT
    assert value.present_value == EQUITY + D("500000.00")
    assert [y.present_value for y in value.years] == [D("909090.91"), D("991735.54"),
                                                       D("1126972.20")]
    assert [y.discount_factor for y in value.years] == [D("0.909091"), D("0.826446"),
                                                         D("0.751315")]
    assert value.terminal_present_value == D("7513148.01")
    stored = value.to_inputs()
    assert stored["equity_value"] == "10040946.66" and stored["cash_flows"] == FLOWS
    # Negative equity values the units at 0; the equity value itself is kept as it is.
    under = dcf_value(cash_flows=[D("-100.00")], discount_rate=D("0.5"),
                      units_outstanding=D("10"), net_debt=D("1000.00"))
    assert under.equity_value == D("-1066.67") and under.value_per_unit == D("0.000000")


def test_numpy_financial_npv_does_not_discount_the_first_value():
    """The convention the computation relies on: npv(rate, [v0, v1, ...]) = Σ v_t / (1 + r)^t
    from t = 0, so today's 0 comes first and year 1 is discounted once."""
    assert npf.npv(0.1, [100.0, 110.0]) == pytest.approx(200.0, abs=1e-9)
    assert npf.npv(0.1, [0.0, 110.0]) == pytest.approx(100.0, abs=1e-9)


@pytest.mark.parametrize(("change", "field"), [
    ({"cash_flows": []}, "cash_flows"),
    ({"cash_flows": [D(1)] * 31}, "cash_flows"),
    ({"cash_flows": ["twelve"]}, "cash_flows"),
    ({"discount_rate": D(0)}, "discount_rate"),
    ({"discount_rate": D("-0.05")}, "discount_rate"),
    ({"discount_rate": D(1)}, "discount_rate"),
    ({"terminal_value": D(-1)}, "terminal_value"),
    ({"units_outstanding": D(0)}, "units_outstanding"),
    ({"units_outstanding": D("0.000001")}, "units_outstanding"),  # a value per unit too large
])
def test_bad_inputs_name_their_field(change, field):
    given = {"cash_flows": [D(v) for v in FLOWS], "discount_rate": D("0.10"),
             "units_outstanding": D("2000000"), "terminal_value": D("1e12"), **change}
    with pytest.raises(InputProblem) as problem:
        dcf_value(**given)
    assert problem.value.field == field and problem.value.message


# --------------------------------------------------------------------------- the API


def test_a_dcf_mark_through_the_api_is_computed_stored_shown_and_counts_once_final(client):
    headers = manager(client)
    holding_id = direct_holding(client, headers)
    url = f"/api/v1/holdings/{holding_id}/marks"
    made = client.post(url, headers=headers, json={
        "measured_on": "2025-12-31", "method": "dcf", "inputs": INPUTS,
        "note": "five-year plan"})
    assert made.status_code == 201, made.get_json()
    mark = made.get_json()
    assert mark["value_per_unit"] == str(PER_UNIT) and mark["method"] == "dcf"
    assert mark["inputs"]["equity_value"] == str(EQUITY)
    assert mark["inputs"]["discount_rate"] == "0.10"
    assert mark["inputs"]["cash_flows"] == FLOWS
    listed = client.get(url, headers=headers).get_json()["items"]
    assert listed[0]["inputs"]["present_values"] == ["909090.91", "991735.54", "1126972.20"]
    assert listed[0]["inputs"]["net_debt"] == "500000.00"
    drafted = db.session.scalar(select(LedgerEntry).where(LedgerEntry.action == "mark.drafted"))
    assert drafted is not None and str(EQUITY) in drafted.payload

    # A typed value per unit other than the computed one is refused; the computed one is taken.
    other = client.post(url, headers=headers, json={
        "measured_on": "2025-12-31", "method": "dcf", "inputs": INPUTS, "value_per_unit": "6"})
    assert other.status_code == 422
    assert "value_per_unit" in other.get_json()["error"]["details"]
    same = client.post(url, headers=headers, json={
        "measured_on": "2025-12-30", "method": "dcf", "inputs": INPUTS,
        "value_per_unit": str(PER_UNIT)})
    assert same.status_code == 201
    # Other methods still need their value per unit.
    bare = client.post(url, headers=headers, json={"measured_on": "2025-12-31",
                                                   "method": "multiples"})
    assert bare.status_code == 422 and "value_per_unit" in bare.get_json()["error"]["details"]
    assert count(ValuationMark) == 2

    # Four eyes, as for every method; then NAV = units × the computed value. (The schedule is
    # read before too: its pages are kept per book version, and finalising moves it.)
    before = client.get("/api/v1/holdings?as_of=2026-01-15", headers=headers).get_json()
    assert next(r for r in before["items"] if r["holding_id"] == holding_id)["value_per_unit"] \
        != str(PER_UNIT)
    own = client.post(f"/api/v1/marks/{mark['id']}/finalise", headers=headers)
    assert own.status_code == 409 and own.get_json()["error"]["details"]["rule"] == "four_eyes"
    final = client.post(f"/api/v1/marks/{mark['id']}/finalise", headers=manager(client, SECOND))
    assert final.status_code == 200 and final.get_json()["status"] == "final"
    rows = client.get("/api/v1/holdings?as_of=2026-01-15", headers=headers).get_json()["items"]
    row = next(r for r in rows if r["holding_id"] == holding_id)
    assert D(row["nav_amount"]) == (D("100000") * PER_UNIT).quantize(D("0.01"))
    assert D(row["value_per_unit"]) == PER_UNIT

    # The holding page shows how the number was reached.
    assert login(client, MANAGER).status_code == 302
    page = text(client.get(f"/portfolio/holdings/{holding_id}"))
    assert f'data-testid="dcf-equity-{mark["id"]}"><strong>10,040,946.66</strong>' in page
    assert "10,000,000.00" in page and "1,126,972.20" in page and "5.020473" in page
    assert "discount rate 10% per year" in page


def test_the_api_documents_the_dcf_inputs(client):
    spec = client.get("/api/openapi.json").get_json()
    body = spec["paths"]["/api/v1/holdings/{holding_id}/marks"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    inputs = schema["properties"]["inputs"]
    assert "discount_rate" in inputs["description"] and "numpy_financial.npv" in \
        inputs["description"]
    assert inputs["example"]["cash_flows"] == FLOWS
    assert "value_per_unit" not in schema.get("required", [])


@pytest.mark.parametrize(("change", "field"), [
    ({"cash_flows": []}, "cash_flows"),
    ({"discount_rate": "0"}, "discount_rate"),
    ({"discount_rate": "-0.1"}, "discount_rate"),
    ({"cash_flows": ["1000000.00", "lots"]}, "cash_flows"),
    ({"units_outstanding": "0"}, "units_outstanding"),
    ({"cash_flows": [1000000.0]}, "cash_flows"),  # a JSON number has been through a float
])
def test_bad_dcf_inputs_are_a_422_naming_the_field_and_write_nothing(client, change, field):
    headers = manager(client)
    holding_id = direct_holding(client, headers)
    entries = count(LedgerEntry)
    refused = client.post(f"/api/v1/holdings/{holding_id}/marks", headers=headers, json={
        "measured_on": "2025-12-31", "method": "dcf", "inputs": {**INPUTS, **change}})
    assert refused.status_code == 422, refused.get_json()
    assert field in refused.get_json()["error"]["details"]["inputs"]
    assert count(ValuationMark) == 0 and count(LedgerEntry) == entries


# --------------------------------------------------------------------------- the holding page


def test_a_dcf_mark_through_the_holding_page_form(client):
    headers = manager(client)
    holding_id = direct_holding(client, headers)
    holding = db.session.get(Holding, holding_id)
    table = CapTable(company_id=holding.company_id, as_of=datetime.now(UTC).date(),
                     source="before_round")
    table.rows = [CapTableRow(position=1, holder="Founder", units=D("1500000.00")),
                  CapTableRow(position=2, holder="Platform", units=D("500000.00"), is_fund=True)]
    db.session.add(table)
    db.session.commit()
    make_user("zh@example.cn", roles=("fund_manager",), locale="zh")
    assert login(client, MANAGER).status_code == 302
    url = f"/portfolio/holdings/{holding_id}"
    page = client.get(url)
    token = csrf_from(page.get_data(as_text=True))
    # The company's units outstanding start from its cap table.
    assert 'name="units_outstanding" inputmode="decimal" value="2000000.00"' in text(page)
    assert "mark_form.js" in text(page) and "Discount rate (% per year)" in text(page)

    form = {"csrf_token": token, "measured_on": "2025-12-31", "method": "dcf",
            "discount_rate_pct": "10", "cash_flows": "1,000,000.00\r\n1200000\r\n\r\n1500000",
            "terminal_value": "10000000", "net_debt": "500000", "units_outstanding": "2000000",
            "value_per_unit": ""}
    bad = client.post(f"{url}/mark", data={**form, "discount_rate_pct": "0",
                                            "cash_flows": "1000000\nabc", "units_outstanding": "0"})
    assert bad.status_code == 422
    shown = text(bad)
    assert "Discount rate: The discount rate must be above zero and below one hundred per " \
           "cent." in shown
    assert "Forecast cash flows: Line 2 (abc): Enter a number, such as 1500000.00." in shown
    assert "Company units outstanding: Must be more than 0." in shown
    assert 'value="dcf" selected' in shown  # what was typed comes back
    assert '<textarea name="cash_flows" rows="5">1000000 abc</textarea>' in shown
    assert count(ValuationMark) == 0

    saved = client.post(f"{url}/mark", data=form, follow_redirects=False)
    assert saved.status_code == 302, text(saved)[:2000]
    mark = db.session.scalar(select(ValuationMark))
    assert mark.method == MarkMethod.DCF and mark.value_per_unit == PER_UNIT
    assert mark.inputs["equity_value"] == str(EQUITY)
    assert mark.inputs["discount_rate"] == "0.1"
    assert mark.inputs["cash_flows"] == FLOWS
    listed = client.get(f"/api/v1/holdings/{holding_id}/marks", headers=headers).get_json()
    assert listed["items"][0]["inputs"]["units_outstanding"] == "2000000"
    page = text(client.get(url))
    assert "10,040,946.66" in page and "1,000,000.00" in page and "0.909091" in page

    # Another person finalises it on the page; the holding's NAV then uses it.
    second = client.application.test_client()
    assert login(second, "zh@example.cn").status_code == 302
    zh = second.get(url)
    assert "10,040,946.66" in text(zh), text(zh)[-6000:]
    token = csrf_from(zh.get_data(as_text=True))
    final = second.post(f"{url}/finalise", data={"csrf_token": token, "mark_id": mark.id})
    assert final.status_code == 302
    rows = client.get("/api/v1/holdings", headers=headers).get_json()["items"]
    row = next(r for r in rows if r["holding_id"] == holding_id)
    assert D(row["nav_amount"]) == D("502047.30")


def test_the_form_without_dcf_keeps_the_typed_value(client):
    headers = manager(client)
    holding_id = direct_holding(client, headers)
    assert login(client, MANAGER).status_code == 302
    url = f"/portfolio/holdings/{holding_id}"
    token = csrf_from(client.get(url).get_data(as_text=True))
    # DCF fields left over from another choice do not stop a multiples mark.
    saved = client.post(f"{url}/mark", data={
        "csrf_token": token, "measured_on": "2025-12-31", "method": "multiples",
        "value_per_unit": "12.5", "discount_rate_pct": "abc", "units_outstanding": "0"})
    assert saved.status_code == 302
    mark = db.session.scalar(select(ValuationMark))
    assert mark.value_per_unit == D("12.5") and mark.inputs == {}


# --------------------------------------------------------------------------- the pack


def test_the_quarterly_report_shows_the_inputs_of_a_latest_dcf_mark(client):
    from fundapp.ic.quarterly import quarterly_data
    from reports.render import render_html

    headers = manager(client)
    holding_id = direct_holding(client, headers)
    made = client.post(f"/api/v1/holdings/{holding_id}/marks", headers=headers, json={
        "measured_on": "2025-12-31", "method": "dcf", "inputs": INPUTS})
    assert made.status_code == 201
    assert client.post(f"/api/v1/marks/{made.get_json()['id']}/finalise",
                       headers=manager(client, SECOND)).status_code == 200
    with client.application.test_request_context():
        data = quarterly_data(db.session, "2025Q4", version=1,
                              generated_at=datetime(2026, 1, 5, tzinfo=UTC))
        html = re.sub(r"\s+", " ", render_html("quarterly", data, "both"))
    assert 'data-testid="dcf-marks"' in html
    assert "10%" in html and "1,000,000.00 / 1,200,000.00 / 1,500,000.00" in html
    assert "10,040,946.66" in html and "5.020473" in html and "500,000.00" in html
    assert "贴现率" in html and "Discount rate" in html
