"""Issue 5 as a user sees it: the demo portfolio, the performance, holding, KPI and index pages
for a fund manager and an auditor, bad input named by field (never a 500), and the policy's
carrying value of an open grant."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from fundapp.compliance.ledger import verify_chain
from fundapp.demo import load_demo
from fundapp.extensions import db
from fundapp.portfolio.demo import INDEX_NAME, load_grants_demo, load_portfolio_demo
from fundapp.portfolio.exits.models import Exit
from fundapp.portfolio.holdings.models import Holding, MarkStatus, ValuationMark
from fundapp.portfolio.kpis.models import KpiReport
from fundapp.portfolio.performance.models import IndexLevel
from fundapp.portfolio.performance.summary import performance_summary, shanghai_today
from tests.conftest import csrf_from, login, make_user
from tests.isolation import isolated_client
from tests.portfolio.helpers import make_deal, make_fund, manager_headers, signed_and_paid

D = Decimal
MANAGER, AUDITOR = "manager@example.cn", "auditor@example.cn"


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def portfolio(app) -> dict[str, object]:
    """The grants and portfolio demos on a fresh fund, and a signed-in manager and auditor."""
    make_fund()
    load_grants_demo(db.session)
    made = load_portfolio_demo(db.session)
    db.session.commit()
    clients = {}
    for email, role in ((MANAGER, "fund_manager"), (AUDITOR, "auditor")):
        make_user(email, roles=(role,), locale="en")
        client = isolated_client(app)
        assert login(client, email).status_code == 302
        clients[role] = client
    return {"made": made, **clients}


def holding_of(name_en: str) -> Holding:
    from fundapp.deals.models import Company

    return db.session.scalar(select(Holding).join(Company).where(Company.name_en == name_en))


# --------------------------------------------------------------------------- the demo


def test_the_demo_fund_has_marks_exits_an_index_and_two_years_of_kpis(app):
    load_demo(db.session)
    db.session.commit()
    marks = db.session.scalars(select(ValuationMark)).all()
    final = [m for m in marks if m.status == MarkStatus.FINAL]
    assert final and any(m.status == MarkStatus.DRAFT for m in marks)
    # Four eyes: two different people author and approve, never the same one.
    assert {m.author for m in final} == {"manager@demo.fundapp.cn", "manager2@demo.fundapp.cn"}
    assert all(m.approver and m.approver != m.author for m in final)
    assert sorted(e.kind.value for e in db.session.scalars(select(Exit))) == ["buyback",
                                                                              "exchange"]
    levels = db.session.scalars(select(IndexLevel).order_by(IndexLevel.on)).all()
    assert levels[0].on == date(2021, 1, 31) and len(levels) >= 60
    assert all(level.level > 0 for level in levels)
    quarters = db.session.scalars(select(KpiReport.quarter).where(
        KpiReport.answered_on.is_not(None)).distinct()).all()
    assert len(quarters) == 8  # two years of quarterly answers
    assert verify_chain(db.session).ok

    summary = performance_summary(db.session, shanghai_today())
    names = {h["company"] for h in summary["holdings"]}
    assert {"Lixin Microelectronics", "Ruikang Medtech"} <= names
    assert "Ruikang Medtech" in summary["stale_marks"]  # its last final mark is from 2025-03-31
    navs = [nav for _, nav in summary["series"]["nav"]]
    assert len(navs) > 12 and len({nav for nav in navs if nav > 0}) > 3  # a curve, not a line
    assert min(flow for _, flow in summary["series"]["cumulative_net_cash_flow"]) < 0  # J-curve
    assert summary["pme"]["index"] == INDEX_NAME and summary["pme"]["ks_pme"] is not None
    assert summary["kpis"]["overdue"] >= 1 and summary["kpis"]["answered"] > 40
    assert summary["views"]["all_in"]["irr"] is not None
    assert load_portfolio_demo(db.session) == {}  # once only


# --------------------------------------------------------------------------- pages


def test_performance_holding_kpi_and_index_pages_for_a_manager_and_an_auditor(app):
    setup = portfolio(app)
    summary = performance_summary(db.session, shanghai_today())
    lixin = holding_of("Lixin Microelectronics")
    for role in ("fund_manager", "auditor"):
        client = setup[role]
        page = client.get("/portfolio/performance")
        body = text(page)
        assert page.status_code == 200
        for chart in ("chart-nav", "chart-j-curve", "chart-tvpi"):
            assert re.search(rf'data-testid="{chart}"><svg', body), chart
        assert f"{summary['fund']['paid_in_amount']:,}" in body  # paid-in, as 1,234.00
        assert "Lixin Microelectronics" in body and "stale" in body
        assert "actual/365 fixed" in body and INDEX_NAME in body

        past = text(client.get("/portfolio/performance?as_of=2024-12-31"))
        assert "Performance as of 2024-12-31" in past
        assert "Obsidian Quantum" not in past.split('data-testid="holdings"')[-1]  # not yet

        holding = client.get(f"/portfolio/holdings/{lixin.id}")
        body = text(holding)
        assert holding.status_code == 200
        assert "Property-rights exchange (R9)" in body and "沪国资评备〔2026〕118号" in body
        assert "Draft" in body and "Final" in body
        row = next(h for h in summary["holdings"] if h["holding_id"] == lixin.id)
        assert f"{row['nav_amount']:,}" in body
        assert ("Save draft mark" in body) is (role == "fund_manager")

        kpis = text(client.get("/portfolio/kpis"))
        assert "Value added per employee" in kpis and "<svg" in kpis

        index = client.get("/portfolio/index-series")
        assert index.status_code == 200 and INDEX_NAME in text(index)
        assert "<svg" in text(index)
        assert ('type="file"' in text(index)) is False  # only an admin uploads


def test_bad_input_on_the_pages_names_the_field_and_never_fails(app):
    setup = portfolio(app)
    client = setup["fund_manager"]
    future = (shanghai_today() + timedelta(days=5)).isoformat()
    page = client.get(f"/portfolio/performance?as_of={future}")
    assert page.status_code == 422 and "as_of" in text(page) and "in the future" in text(page)
    garbage = client.get("/portfolio/performance?as_of=2026-13-45")
    assert garbage.status_code == 422 and "as_of" in text(garbage)
    assert client.get("/portfolio/performance?period_start=2030-01-01").status_code == 422

    ruikang = holding_of("Ruikang Medtech")
    url = f"/portfolio/holdings/{ruikang.id}"
    token = csrf_from(client.get(url).get_data(as_text=True))
    early = client.post(f"{url}/mark", data={"csrf_token": token, "measured_on": "2023-05-01",
                                             "method": "multiples", "value_per_unit": "4.00"})
    assert early.status_code == 422
    assert "did not exist before 2023-05-10" in text(early)
    too_many = client.post(f"{url}/exit", data={
        "csrf_token": token, "kind": "trade_sale", "transfer_on": "2026-10-01",
        "units": "500000.01", "price_amount": "1000.00"})
    assert too_many.status_code == 422
    assert "only 500000.00 are held" in text(too_many)
    assert db.session.scalar(select(func.count()).select_from(Exit)) == 2  # nothing recorded

    make_user("admin@example.cn", roles=("admin",), locale="en")
    admin = isolated_client(app)
    assert login(admin, "admin@example.cn").status_code == 302
    token = csrf_from(admin.get("/portfolio/index-series").get_data(as_text=True))
    for content, field in ((b"date,level\n2024-01-31,100\n2024-02-29,0\n", "Row 3, column level"),
                           (b"date,level\n2024-01-31,100\n2024-02-29,-5\n", "Row 3, column level"),
                           (b"2024-01-31,100\n2024-02-29,101\n2024-03-31,102\n2024-09-30,99\n",
                            "Row 4, column date")):
        from io import BytesIO

        bad = admin.post("/portfolio/index-series", data={
            "csrf_token": token, "name": "Broken", "file": (BytesIO(content), "index.csv")},
            content_type="multipart/form-data")
        assert bad.status_code == 422, content
        assert field in text(bad)
    assert "Broken" not in text(admin.get("/portfolio/index-series"))


# --------------------------------------------------------------------------- the policy


def test_an_open_grant_is_carried_at_the_policys_unconverted_grant_carrying(client):
    headers = manager_headers(client)
    make_fund()
    grant_id = signed_and_paid(client, headers, make_deal().id, accept=False)
    zero = client.get("/api/v1/performance?as_of=2025-12-31", headers=headers).get_json()
    assert zero["fund"]["paid_in_amount"] == "3500000.00"
    assert zero["fund"]["nav_amount"] == "0.00" and zero["fund"]["tvpi"] == "0.0000"

    bad = client.post(f"/api/v1/grants/{grant_id}/policy-override", headers=headers, json={
        "values": {"unconverted_grant_carrying": "market"}, "ic_resolution_ref": "投决〔2025〕9号"})
    assert bad.status_code == 422
    assert "unconverted_grant_carrying" in str(bad.get_json()["error"]["details"])
    ok = client.post(f"/api/v1/grants/{grant_id}/policy-override", headers=headers, json={
        "values": {"unconverted_grant_carrying": "cost"}, "ic_resolution_ref": "投决〔2025〕9号"})
    assert ok.status_code == 200, ok.get_json()
    cost = client.get("/api/v1/performance?as_of=2025-12-31", headers=headers).get_json()
    # At cost: the disbursed 2.0m + 1.5m, so TVPI 1 and an IRR of 0 %.
    assert cost["fund"]["nav_amount"] == "3500000.00" and cost["fund"]["tvpi"] == "1.0000"
    assert D(cost["fund"]["irr"]) == 0
