"""Portfolio performance (issue 5): rates against metrics.md and pyxirr, marks, exits, PME, KPIs."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import pyxirr

from fundapp.charts import bar_chart_svg, line_chart_svg
from fundapp.extensions import db
from fundapp.portfolio.holdings.models import Holding
from fundapp.portfolio.holdings.valuation import InputProblem, parse_index_csv
from fundapp.portfolio.kpis.operations import request_quarterly_kpis
from fundapp.portfolio.performance import returns
from fundapp.portfolio.performance.summary import irr_of
from tests.conftest import api_token, make_user
from tests.portfolio.helpers import (
    add_lpr,
    make_deal,
    make_fund,
    manager_headers,
    signed_and_paid,
    worked_example_round,
)

D = Decimal
CF = returns.CashFlow


def test_metrics_md_vectors_and_pyxirr_agree_to_1e_9():
    excel = [CF(date(2008, 1, 1), D(-10000)), CF(date(2008, 3, 1), D(2750)),
             CF(date(2008, 10, 30), D(4250)), CF(date(2009, 2, 15), D(3250)),
             CF(date(2009, 4, 1), D(2750))]
    result = irr_of(excel)
    assert abs(result.rate - D("0.37336253")) < D("0.00000001")
    second = [CF(date(2020, 1, 1), D(-10000)), CF(date(2020, 3, 1), D(5750)),
              CF(date(2020, 10, 30), D(4250)), CF(date(2021, 2, 15), D(3250))]
    assert abs(irr_of(second).rate - D("0.6342972615")) < D("1e-9")
    for flows in (excel, second):
        oracle = pyxirr.xirr([f.on for f in flows], [float(f.amount) for f in flows])
        assert abs(float(irr_of(flows).rate) - oracle) < 1e-9
        # The fast path and the reference scan of returns.py give the same rate.
        assert abs(irr_of(flows).rate - returns.since_inception_irr(flows).rate) < D("1e-9")
        assert abs(returns.xnpv(irr_of(flows).rate, flows)) < D("0.000001")


def test_flows_that_cannot_have_an_irr_say_so():
    no_sign_change = [CF(date(2020, 1, 1), D(-10)), CF(date(2022, 1, 1), D(-5))]
    assert irr_of(no_sign_change).rate is None
    assert "no IRR" in irr_of(no_sign_change).reason
    # Two sign changes with two roots: the reference solver is asked and refuses to pick one.
    two_roots = [CF(date(2020, 1, 1), D(-100)), CF(date(2021, 1, 1), D(230)),
                 CF(date(2022, 1, 1), D(-132))]
    assert irr_of(two_roots).rate is None


def test_index_csv_errors_name_the_row():
    good = parse_index_csv(b"date,level\n2024-01-31,100\n2024-02-29,101.5\n2024-03-31,103\n")
    assert good[-1] == (date(2024, 3, 31), D("103.000000"))
    with pytest.raises(InputProblem) as negative:
        parse_index_csv(b"date,level\n2024-01-31,100\n2024-02-29,-3\n")
    assert negative.value.field == "row 3: level"
    with pytest.raises(InputProblem) as gap:
        parse_index_csv(b"2024-01-31,100\n2024-02-29,101\n2024-03-31,102\n2024-07-31,99\n")
    assert gap.value.field == "row 4: date"


def test_charts_are_self_contained_svg():
    svg = line_chart_svg([(date(2024, 1, 1), D("-5")), (date(2025, 1, 1), D("7.5"))],
                         title="J <curve>")
    bars = bar_chart_svg([(2024, D("1.2")), (2025, None)], reference=1)
    for chart in (svg, bars):
        assert chart.startswith("<svg") and chart.endswith("</svg>")
        assert "<script" not in chart and "href" not in chart
    assert "J &lt;curve&gt;" in svg and "n/a" in bars


# --------------------------------------------------------------------------- with a database


def _converted(client, headers) -> int:
    make_fund()
    deal = make_deal()
    grant_id = signed_and_paid(client, headers, deal.id, exit_filing_no="沪国资备-1",
                               exit_filed_on="2025-06-01")
    rnd = client.post(f"/api/v1/companies/{deal.company_id}/rounds",
                      json=worked_example_round(), headers=headers)
    assert rnd.status_code == 201, rnd.get_json()
    conv = client.post(f"/api/v1/grants/{grant_id}/conversion",
                       json={"round_id": rnd.get_json()["id"]}, headers=headers)
    assert conv.status_code == 201, conv.get_json()
    return db.session.query(Holding).one().id


def test_performance_as_of_marks_four_eyes_and_exits(client):
    headers = manager_headers(client)
    holding_id = _converted(client, headers)
    holding = db.session.get(Holding, holding_id)
    units = holding.units

    future = client.get(f"/api/v1/performance?as_of={date.today() + timedelta(days=3)}",
                        headers=headers)
    assert future.status_code == 422 and "as_of" in future.get_json()["error"]["details"]

    before = client.get("/api/v1/performance?as_of=2025-12-31", headers=headers).get_json()
    assert before["fund"]["paid_in_amount"] == "3500000.00"
    assert before["holdings"] == []  # converted only on 2026-11-01
    # The conventions and notes speak the reader's language (the default is Chinese).
    assert "实际天数/365" in before["conventions"]
    english = client.get("/api/v1/performance?as_of=2025-12-31",
                         headers={**headers, "Accept-Language": "en"}).get_json()
    assert "actual/365" in english["conventions"] and "实际" not in english["conventions"]

    early = client.post(f"/api/v1/holdings/{holding_id}/marks", headers=headers, json={
        "measured_on": "2026-10-01", "method": "multiples", "value_per_unit": "2"})
    assert early.status_code == 422 and "measured_on" in early.get_json()["error"]["details"]
    mark = client.post(f"/api/v1/holdings/{holding_id}/marks", headers=headers, json={
        "measured_on": "2026-11-15", "method": "recent_round", "value_per_unit": "20.000000",
        "inputs": {"round": "Series A"}})
    assert mark.status_code == 201, mark.get_json()
    own = client.post(f"/api/v1/marks/{mark.get_json()['id']}/finalise", headers=headers)
    assert own.status_code == 409 and own.get_json()["error"]["details"]["rule"] == "four_eyes"
    other = manager_headers(client, "second@example.cn")
    assert client.post(f"/api/v1/marks/{mark.get_json()['id']}/finalise",
                       headers=other).status_code == 200

    today = client.get("/api/v1/performance", headers=headers).get_json()
    row = today["holdings"][0]
    assert D(row["nav_amount"]) == (units * D(20)).quantize(D("0.01"))
    assert today["views"]["converted_only"]["irr"] is not None

    too_many = client.post(f"/api/v1/holdings/{holding_id}/exits", headers=headers, json={
        "kind": "trade_sale", "transfer_on": "2026-11-20", "units": str(units + 1),
        "price_amount": "1.00"})
    assert too_many.status_code == 422 and "units" in too_many.get_json()["error"]["details"]

    add_lpr(date(2025, 5, 20), "0.030")
    half = (units / 2).quantize(D("0.01"))
    below = client.post(f"/api/v1/holdings/{holding_id}/exits", headers=headers, json={
        "kind": "buyback", "transfer_on": "2026-11-20", "units": str(half),
        "price_amount": "100.00", "buyer": "Founder Zhang"})
    assert below.status_code == 409
    assert below.get_json()["error"]["details"]["rule"] == "R7.b"
    floor = D(below.get_json()["error"]["details"]["floor_amount"])
    assert floor == (D("5000000.00") * half / units).quantize(D("0.01"))  # before t1: principal
    sold = client.post(f"/api/v1/holdings/{holding_id}/exits", headers=headers, json={
        "kind": "buyback", "transfer_on": "2026-11-20", "units": str(half),
        "price_amount": str(floor), "buyer": "Founder Zhang"})
    assert sold.status_code == 201, sold.get_json()
    after = client.get("/api/v1/performance", headers=headers).get_json()
    assert D(after["fund"]["distributed_amount"]) == floor
    assert after["exits"][0]["kind"] == "buyback"
    # As of the day before the sale the holding is whole again.
    past = client.get("/api/v1/performance?as_of=2026-11-19", headers=headers).get_json()
    assert D(past["holdings"][0]["units"]) == units
    assert past["fund"]["distributed_amount"] == "0.00"


def test_index_upload_pme_and_kpis(client):
    headers = manager_headers(client)
    _converted(client, headers)
    make_user("admin@example.cn", roles=("admin",))
    admin = {"Authorization": f"Bearer {api_token(client, 'admin@example.cn')}"}
    bad = client.post("/api/v1/index-series?name=CSI300", headers={**admin,
                      "Content-Type": "text/csv"}, data=b"date,level\n2025-01-31,100\n2025-02-28,0\n")
    assert bad.status_code == 422 and "row 3: level" in bad.get_json()["error"]["details"]
    rows = ["date,level"]
    day, level = date(2025, 5, 30), 100
    while day <= date.today():
        rows.append(f"{day},{level}")
        day += timedelta(days=7)
        level += 1
    ok = client.post("/api/v1/index-series?name=CSI300", headers={
        **admin, "Content-Type": "text/csv"}, data="\n".join(rows).encode())
    assert ok.status_code == 201, ok.get_json()
    perf = client.get("/api/v1/performance?index=CSI300", headers=headers).get_json()
    assert perf["pme"]["index"] == "CSI300" and perf["pme"]["ks_pme"] is not None

    made = request_quarterly_kpis(db.session, "2026Q3", date(2026, 7, 1), date(2026, 9, 30))
    db.session.commit()
    assert made == 1
    assert request_quarterly_kpis(db.session, "2026Q3", date(2026, 7, 1),
                                  date(2026, 9, 30)) == 0
    items = client.get("/api/v1/kpis", headers=headers).get_json()["items"]
    assert items[0]["is_overdue"] is (date.today() > date(2026, 10, 30))
    bad_answer = client.post(f"/api/v1/kpis/{items[0]['id']}/answer", headers=headers, json={
        "answered_on": "2026-10-10", "revenue_amount": "-1", "rd_spend_amount": "100.00",
        "headcount": "ten", "pct_applications": 2, "value_added_amount": "1000000.00"})
    details = bad_answer.get_json()["error"]["details"]
    assert bad_answer.status_code == 422 and {"revenue_amount", "headcount"} <= set(details)
    good = client.post(f"/api/v1/kpis/{items[0]['id']}/answer", headers=headers, json={
        "answered_on": "2026-10-10", "revenue_amount": "4000000.00",
        "rd_spend_amount": "1000000.00", "headcount": 20, "pct_applications": 2,
        "value_added_amount": "4000000.00"})
    assert good.status_code == 200, good.get_json()
    summary = client.get("/api/v1/kpis/summary", headers=headers).get_json()["items"]
    # 4m a quarter × 4 / 20 people = 800,000 a person: above the 750,000 target.
    assert summary["value_added_per_employee"] == "800000.00"
    assert summary["meets_value_added_target"] is True


def test_mirr_and_the_quarterly_irr_beside_the_xirr(client):
    import numpy_financial as npf

    headers = manager_headers(client)
    make_fund()
    deal = make_deal()
    made = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "follow_on", "on": "2025-07-01", "amount": "1000000.00", "units": "100000.00",
        "company_id": deal.company_id, "reference": "FO-1"})
    holding_id = made.get_json()["holding_id"]
    dividend = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "dividend", "on": "2026-01-15", "amount": "100000.00",
        "holding_id": holding_id})
    assert dividend.status_code == 201, dividend.get_json()
    no_lpr = client.get("/api/v1/performance?as_of=2026-11-30", headers=headers).get_json()
    assert no_lpr["holdings"][0]["mirr"] is None and "LPR" in no_lpr["holdings"][0]["mirr_note"]
    add_lpr(date(2025, 5, 20), "0.0300")
    add_lpr(date(2026, 10, 20), "0.0295")  # the one in force on 2026-11-30
    summary = client.get("/api/v1/performance?as_of=2026-11-30", headers=headers).get_json()
    assert summary["mirr_rates"]["finance_rate"] == "0.029500"
    assert summary["mirr_rates"]["reinvestment_rate"] == "0.029500"  # the policy sets none
    # The closed form: outflow at the start, the dividend compounded at the LPR to the as-of
    # date, NAV (1m at cost) on it; 517 days.
    rate = D("0.0295")
    future = D(100000) * (1 + rate) ** (D((date(2026, 11, 30) - date(2026, 1, 15)).days) / 365)
    expected = ((future + D(1000000)) / D(1000000)) ** (D(365) / 517) - 1
    holding = summary["holdings"][0]
    assert abs(D(holding["mirr"]) - expected) < D("1e-9")
    assert holding["mirr_is_annualised"] is True
    assert summary["views"]["equity"]["mirr"] == holding["mirr"]
    # The XIRR of the same flows is higher: it assumes the dividend earned the XIRR itself.
    assert D(holding["irr"]) > D(holding["mirr"])

    periodic = summary["periodic_irr"]
    quarters = [(q["quarter"], D(q["net_amount"])) for q in periodic["quarters"]]
    assert quarters == [("2025Q3", D("-1000000.00")), ("2025Q4", D(0)),
                        ("2026Q1", D("100000.00")), ("2026Q2", D(0)), ("2026Q3", D(0)),
                        ("2026Q4", D("1000000.00"))]
    oracle = npf.irr([-1000000, 0, 100000, 0, 0, 1000000])
    assert abs(float(periodic["irr_per_quarter"]) - oracle) < 1e-9
    assert abs(D(periodic["irr_annualised"]) - ((1 + D(repr(oracle))) ** 4 - 1)) < D("1e-9")

    make_user("viewer@example.cn", roles=("fund_manager",), locale="en")
    from tests.conftest import login

    assert login(client, "viewer@example.cn").status_code == 302
    page = client.get("/portfolio/performance?as_of=2026-11-30").get_data(as_text=True)
    shown = f"{(D(holding['mirr']) * 100).quantize(D('0.01'))}%"
    assert "MIRR" in page and shown in page and "2.95%" in page
