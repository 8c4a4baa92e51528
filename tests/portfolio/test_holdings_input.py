"""Holdings, exits, cash flows, KPIs and index series through the one input layer: money as
decimal strings, text held to its column, the same schema for the API and the holding page's
forms, idempotent creation of money and equity, and CSV files in UTF-8 or GBK."""

from __future__ import annotations

import re
from datetime import date
from io import BytesIO

from sqlalchemy import func, select

from fundapp.extensions import db
from fundapp.portfolio.exits.models import Exit
from fundapp.portfolio.holdings.models import Appraisal, CashFlow, FlowKind, Holding
from fundapp.portfolio.kpis.models import KpiReport
from fundapp.portfolio.kpis.operations import request_quarterly_kpis
from fundapp.portfolio.performance.models import IndexSeries
from tests.conftest import api_token, csrf_from, login, make_user
from tests.portfolio.helpers import make_deal, make_fund

MANAGER = "manager@example.cn"


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def manager(client, email: str = MANAGER, roles=("fund_manager",)) -> dict[str, str]:
    make_user(email, roles=roles, locale="en")
    return {"Authorization": f"Bearer {api_token(client, email)}", "Accept-Language": "en"}


def direct_holding(client, headers) -> tuple[int, int]:
    """A direct investment of 1m for 100,000 units on 2025-07-01: (company id, holding id)."""
    make_fund()
    deal = make_deal()
    made = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "follow_on", "on": "2025-07-01", "amount": "1000000.00", "units": "100000.00",
        "company_id": deal.company_id, "reference": "FO-1"})
    assert made.status_code == 201, made.get_json()
    return deal.company_id, made.get_json()["holding_id"]


# --------------------------------------------------------------------------- the API


def test_money_sent_as_a_json_number_is_refused_with_a_422(client):
    headers = manager(client)
    company_id, holding_id = direct_holding(client, headers)
    as_number = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "dividend", "on": "2025-12-31", "amount": 5000.0, "holding_id": holding_id})
    assert as_number.status_code == 422
    assert "not as a JSON number" in as_number.get_json()["error"]["details"]["amount"][0]
    exit_number = client.post(f"/api/v1/holdings/{holding_id}/exits", headers=headers, json={
        "kind": "trade_sale", "transfer_on": "2025-12-31", "units": 1000,
        "price_amount": "20000.00"})
    assert exit_number.status_code == 422
    assert "not as a JSON number" in exit_number.get_json()["error"]["details"]["units"][0]
    mark_number = client.post(f"/api/v1/holdings/{holding_id}/marks", headers=headers, json={
        "measured_on": "2025-12-31", "method": "multiples", "value_per_unit": 12.5})
    assert mark_number.status_code == 422
    assert "value_per_unit" in mark_number.get_json()["error"]["details"]
    no_units = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "follow_on", "on": "2025-12-31", "amount": "1.00", "holding_id": holding_id})
    assert no_units.status_code == 422 and "units" in no_units.get_json()["error"]["details"]
    assert count(Exit) == 0 and count(CashFlow) == 1


def test_exits_and_cash_flows_replay_the_first_answer_for_the_same_idempotency_key(client):
    headers = manager(client)
    _, holding_id = direct_holding(client, headers)
    keyed = {**headers, "Idempotency-Key": "exit-2025-12-31"}
    body = {"kind": "trade_sale", "transfer_on": "2025-12-31", "units": "40000.00",
            "price_amount": "800000.00", "buyer": "Strategic Buyer Ltd"}
    first = client.post(f"/api/v1/holdings/{holding_id}/exits", headers=keyed, json=body)
    assert first.status_code == 201, first.get_json()
    again = client.post(f"/api/v1/holdings/{holding_id}/exits", headers=keyed, json=body)
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = client.post(f"/api/v1/holdings/{holding_id}/exits", headers=keyed,
                        json={**body, "units": "1.00"})
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert count(Exit) == 1
    db.session.expire_all()
    assert str(db.session.get(Holding, holding_id).units) == "60000.00"

    dividend = {"kind": "dividend", "on": "2025-12-31", "amount": "5000.00",
                "holding_id": holding_id}
    flow_key = {**headers, "Idempotency-Key": "dividend-2025"}
    paid = client.post("/api/v1/cash-flows", headers=flow_key, json=dividend)
    assert paid.status_code == 201, paid.get_json()
    assert client.post("/api/v1/cash-flows", headers=flow_key,
                       json=dividend).get_json() == paid.get_json()
    assert count(CashFlow) == 3  # the investment, the exit's proceeds, one dividend


def test_text_longer_than_its_column_is_a_422_not_a_stored_value(client):
    headers = manager(client)
    _, holding_id = direct_holding(client, headers)
    long = client.post(f"/api/v1/holdings/{holding_id}/appraisals", headers=headers, json={
        "base_on": "2025-10-31", "units": "100000.00", "value_amount": "1200000.00",
        "filing_no": "沪" * 101, "filed_on": "2025-11-10"})
    assert long.status_code == 422
    assert long.get_json()["error"]["details"]["filing_no"] == ["Longer than maximum length 100."]
    buyer = client.post(f"/api/v1/holdings/{holding_id}/exits", headers=headers, json={
        "kind": "trade_sale", "transfer_on": "2025-12-31", "units": "1.00",
        "price_amount": "20.00", "buyer": "B" * 201})
    assert buyer.status_code == 422 and "buyer" in buyer.get_json()["error"]["details"]
    reference = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "fee", "on": "2025-12-31", "amount": "100.00", "reference": "R" * 201})
    assert reference.status_code == 422 and "reference" in reference.get_json()["error"]["details"]
    assert count(Appraisal) == 0 and count(Exit) == 0 and count(CashFlow) == 1


# --------------------------------------------------------------------------- the holding page


def test_the_holding_page_forms_load_through_the_api_schemas(client):
    headers = manager(client)
    _, holding_id = direct_holding(client, headers)
    assert login(client, MANAGER).status_code == 302
    url = f"/portfolio/holdings/{holding_id}"
    token = csrf_from(client.get(url).get_data(as_text=True))

    too_long = client.post(f"{url}/appraisal", data={
        "csrf_token": token, "base_on": "2025-10-31", "units": "100000.00",
        "value_amount": "1200000.00", "filing_no": "沪" * 150, "filed_on": "2025-11-10"})
    assert too_long.status_code == 422
    page = text(too_long)
    assert "Filing number</strong>: Longer than maximum length 100." in page
    assert 'name="value_amount" value="1200000.00"' in page  # what was typed comes back
    assert count(Appraisal) == 0

    filed = client.post(f"{url}/appraisal", data={
        "csrf_token": token, "base_on": "2025-10-31", "units": "100000.00",
        "value_amount": "1200000.00", "filing_no": "沪评备-7", "filed_on": "2025-11-10",
        "appraiser": "Shanghai Appraisal Co."}, follow_redirects=False)
    assert filed.status_code == 302
    assert db.session.scalar(select(Appraisal.appraiser)) == "Shanghai Appraisal Co."

    # A buy-back needs units from a converted grant: the refusal names its clause.
    buyback = client.post(f"{url}/exit", data={
        "csrf_token": token, "kind": "buyback", "transfer_on": "2025-12-31",
        "units": "1000.00", "price_amount": "20000.00"})
    assert buyback.status_code == 422
    assert "R7.a: A team buy-back applies to units from a converted grant." in text(buyback)
    assert count(Exit) == 0

    dividend = client.post(f"{url}/flow", data={
        "csrf_token": token, "kind": "dividend", "on": "2025-12-31", "amount": "5,000.00",
        "holding_id": "999"})  # the page records flows of its own holding only
    assert dividend.status_code == 302
    flow = db.session.scalar(select(CashFlow).where(CashFlow.kind == FlowKind.DIVIDEND))
    assert flow.holding_id == holding_id and str(flow.amount) == "5000.00"
    no_units = client.post(f"{url}/flow", data={
        "csrf_token": token, "kind": "follow_on", "on": "2025-12-31", "amount": "1.00"})
    assert no_units.status_code == 422
    assert "Units</strong>: Missing data for required field." in text(no_units)

    mark = client.post(f"{url}/mark", data={
        "csrf_token": token, "measured_on": "2025-12-31", "method": "multiples",
        "value_per_unit": "12.1234567"})
    assert mark.status_code == 422 and "At most 6 decimal places." in text(mark)
    assert 'value="multiples" selected' in text(mark)


# --------------------------------------------------------------------------- KPIs and index CSV


def test_kpi_answers_and_a_gbk_kpi_csv(client):
    headers = manager(client)
    company_id, _ = direct_holding(client, headers)
    assert request_quarterly_kpis(db.session, "2025Q3", date(2025, 7, 1), date(2025, 9, 30)) == 1
    db.session.commit()
    report_id = db.session.scalar(select(KpiReport.id))
    as_number = client.post(f"/api/v1/kpis/{report_id}/answer", headers=headers, json={
        "answered_on": "2025-10-10", "revenue_amount": 100, "rd_spend_amount": "10.00",
        "headcount": 5, "pct_applications": 0, "value_added_amount": "-20.00"})
    assert as_number.status_code == 422
    assert set(as_number.get_json()["error"]["details"]) == {"revenue_amount"}

    assert login(client, MANAGER).status_code == 302
    token = csrf_from(client.get("/portfolio/kpis").get_data(as_text=True))
    bad = client.post(f"/portfolio/kpis/{report_id}/answer", data={
        "csrf_token": token, "revenue_amount": "100.00", "rd_spend_amount": "10.00",
        "headcount": "ten", "pct_applications": "0", "value_added_amount": "-20.00"})
    assert bad.status_code == 422 and "Headcount</strong>: Not a valid integer." in text(bad)
    good = client.post(f"/portfolio/kpis/{report_id}/answer", data={
        "csrf_token": token, "revenue_amount": "100.00", "rd_spend_amount": "10.00",
        "headcount": "5", "pct_applications": "0", "value_added_amount": "-20.00"})
    assert good.status_code == 302
    db.session.expire_all()
    report = db.session.get(KpiReport, report_id)
    assert str(report.value_added_amount) == "-20.00" and report.source == "form"

    # Excel on a Chinese Windows saves CSV as GBK; an extra column is ignored.
    csv = ("company_id,quarter,revenue_amount,rd_spend_amount,headcount,pct_applications,"
           f"value_added_amount,公司\n{company_id},2025Q4,200.00,30.00,6,1,50.00,星辰科技\n")
    imported = client.post("/api/v1/kpis/import", headers={**headers, "Content-Type": "text/csv"},
                           data=csv.encode("gbk"))
    assert imported.status_code == 201, imported.get_json()
    assert imported.get_json()["items"] == {"imported": 1}
    bad_row = csv.replace("200.00", "2.001").encode("gbk")
    refused = client.post("/api/v1/kpis/import", headers={**headers, "Content-Type": "text/csv"},
                          data=bad_row)
    assert refused.status_code == 422
    assert "row 2: revenue_amount" in refused.get_json()["error"]["details"]
    utf16 = client.post("/api/v1/kpis/import", headers={**headers, "Content-Type": "text/csv"},
                        data=csv.encode("utf-16"))
    assert utf16.status_code == 422 and "UTF-16" in utf16.get_json()["error"]["details"]["file"][0]


def test_index_series_in_gbk_and_a_name_held_to_its_column(client):
    admin = manager(client, "admin@example.cn", roles=("admin",))
    rows = "日期,收盘\n2025-01-31,100\n2025-02-28,101\n2025-03-31,102.5\n"
    gbk = client.post("/api/v1/index-series?name=沪深300", headers={
        **admin, "Content-Type": "text/csv"}, data=rows.encode("gbk"))
    assert gbk.status_code == 201, gbk.get_json()
    assert gbk.get_json()["levels"] == 3
    long = client.post(f"/api/v1/index-series?name={'I' * 101}", headers={
        **admin, "Content-Type": "text/csv"}, data=rows.encode())
    assert long.status_code == 422 and "name" in long.get_json()["error"]["details"]

    assert login(client, "admin@example.cn").status_code == 302
    token = csrf_from(client.get("/portfolio/index-series").get_data(as_text=True))
    page = client.post("/portfolio/index-series", data={
        "csrf_token": token, "name": "I" * 101,
        "file": (BytesIO(rows.encode("gbk")), "index.csv")}, content_type="multipart/form-data")
    assert page.status_code == 422
    assert "Name</strong>: Longer than maximum length 100." in text(page)
    unnamed = client.post("/portfolio/index-series", data={
        "csrf_token": token, "file": (BytesIO(rows.encode("gbk")), "index.csv")},
        content_type="multipart/form-data")
    assert unnamed.status_code == 422 and "Missing data for required field." in text(unnamed)
    uploaded = client.post("/portfolio/index-series", data={
        "csrf_token": token, "name": "中证500",
        "file": (BytesIO(rows.encode("gbk")), "index.csv")}, content_type="multipart/form-data")
    assert uploaded.status_code == 302
    assert sorted(db.session.scalars(select(IndexSeries.name))) == ["中证500", "沪深300"]
