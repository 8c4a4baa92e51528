"""The quarterly portfolio report: generated on demand, stored, ledgered, served as a PDF."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select

from fundapp.compliance.models import LedgerEntry
from fundapp.extensions import db
from fundapp.ic.quarterly import generate_quarterly_report, parse_quarter
from tests.conftest import api_token, make_user, run_tasks
from tests.reports.helpers import pdf_text


def test_quarters_parse():
    assert [d.isoformat() for d in parse_quarter("2026Q3")] == ["2026-07-01", "2026-09-30"]
    assert parse_quarter("2025Q4")[1].isoformat() == "2025-12-31"


def test_report_is_stored_ledgered_and_served(app, tmp_path):
    from tests.deals.factories import make_fund

    with app.test_request_context():
        make_fund()
        pdf, report = generate_quarterly_report(db.session, "2026Q1", actor="scheduler")
        db.session.commit()
    text = pdf_text(pdf, tmp_path)
    assert "Quarterly portfolio report" in text and "季度投资组合报告" in text
    assert "2026Q1" in text and "2026-03-31" in text and "\ufffd" not in text
    entry = db.session.scalars(select(LedgerEntry).where(
        LedgerEntry.action == "report.quarterly_generated")).one()
    assert json.loads(entry.payload)["sha256"] == report.sha256 == hashlib.sha256(pdf).hexdigest()
    make_user("auditor@x.cn", roles=("auditor",))
    client = app.test_client()
    token = {"Authorization": f"Bearer {api_token(client, 'auditor@x.cn')}"}
    served = client.get("/api/v1/reports/quarterly?quarter=2026Q1", headers=token)
    assert served.mimetype == "application/pdf" and served.data == pdf
    bad = client.get("/api/v1/reports/quarterly?quarter=2026Q5", headers=token)
    assert bad.status_code == 422 and "quarter" in bad.get_json()["error"]["details"]


def test_auditor_reads_reports_but_never_creates_one(app):
    from sqlalchemy import func

    make_user("audit@example.cn", roles=["auditor"])
    make_user("fm@example.cn", roles=["fund_manager"])
    client = app.test_client()
    auditor = {"Authorization": f"Bearer {api_token(client, 'audit@example.cn')}",
               "Accept-Language": "en"}
    before = db.session.scalar(select(func.count()).select_from(LedgerEntry))
    missing = client.get("/api/v1/reports/quarterly?quarter=2026Q2", headers=auditor)
    assert missing.status_code == 404
    assert "2026Q2" in missing.get_json()["error"]["message"]
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == before
    manager = {"Authorization": f"Bearer {api_token(client, 'fm@example.cn')}"}
    # A manager's GET does not create it either; generating is a POST.
    assert client.get("/api/v1/reports/quarterly?quarter=2026Q2",
                      headers=manager).status_code == 404
    assert client.post("/api/v1/reports/quarterly", json={"quarter": "2026Q2"},
                       headers=auditor).status_code == 403
    generated = client.post("/api/v1/reports/quarterly", json={"quarter": "2026Q2"},
                            headers=manager)
    assert generated.status_code == 202  # queued for the worker (issue 16)
    assert [t.status for t in run_tasks()] == ["done"]
    served = client.get("/api/v1/reports/quarterly?quarter=2026Q2", headers=auditor)
    assert served.status_code == 200 and served.data.startswith(b"%PDF-")


def test_rates_are_percentages_and_a_short_period_says_not_annualised(client, app, tmp_path):
    from datetime import UTC, date, datetime
    from decimal import Decimal

    import pyxirr

    from fundapp.ic.quarterly import percent, quarterly_data
    from tests.portfolio.helpers import make_deal, make_fund, manager_headers

    assert percent(Decimal("-0.6764945918")) == "-67.65%"
    assert percent(Decimal("0.00005")) == "0.01%" and percent(Decimal("12.3456")) == "1,234.56%"
    headers = manager_headers(client)
    make_fund()
    deal = make_deal()
    made = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "follow_on", "on": "2026-08-01", "amount": "1000000.00", "units": "100000.00",
        "company_id": deal.company_id, "reference": "FO-1"})
    assert made.status_code == 201, made.get_json()
    mark = client.post(f"/api/v1/holdings/{made.get_json()['holding_id']}/marks",
                       headers=headers, json={"measured_on": "2026-09-15",
                                              "method": "multiples", "value_per_unit": "4.00"})
    assert mark.status_code == 201, mark.get_json()
    other = manager_headers(client, "second@example.cn")
    assert client.post(f"/api/v1/marks/{mark.get_json()['id']}/finalise",
                       headers=other).status_code == 200

    # 1m on 2026-08-01, NAV 400,000 on 2026-09-30: 60 days, the period return is -60%.
    period = Decimal("400000") / Decimal("1000000") - 1
    annual = pyxirr.xirr([date(2026, 8, 1), date(2026, 9, 30)], [-1000000.0, 400000.0])
    with app.test_request_context():
        data = quarterly_data(db.session, "2026Q3", version=1,
                              generated_at=datetime(2026, 10, 1, tzinfo=UTC))
        pdf, _ = generate_quarterly_report(db.session, "2026Q3", actor="scheduler")
        db.session.commit()
    fund = data["summary"]["fund"]
    assert fund["irr"] == f"{percent(period)} (未年化 not annualised)" == \
        "-60.00% (未年化 not annualised)"
    assert fund["irr_annualised"] == percent(Decimal(str(annual)))
    assert data["summary"]["views"]["equity"]["irr"].startswith("-60.00%")
    assert data["summary"]["holdings"][0]["irr"].startswith("-60.00%")
    assert data["has_short_period"] is True
    text = " ".join(pdf_text(pdf, tmp_path).split())
    assert "-60.00%" in text and "not annualised" in text and "未年化" in text
    assert "-0.6000000000" not in text and "-0.99" not in text  # no raw fractions
    # One quarter of flows (no sign change): the periodic IRR is shown as none, not guessed.
    assert data["summary"]["periodic_irr"]["irr_per_quarter"] is None
    assert "IRR of the quarterly net cash flows" in text


def test_the_demo_report_fits_a_landscape_page_in_each_language(app, tmp_path):
    """The supervisors' report on the demo fund, read back: landscape A4, the curated schedule
    with every column, figures formatted, labels in the document's language, charts in 万元."""
    import re
    import subprocess
    from datetime import UTC, datetime

    from fundapp.demo import load_demo
    from fundapp.ic.quarterly import quarterly_data
    from reports.render import render_pdf

    load_demo(db.session)
    db.session.commit()
    with app.test_request_context():
        data = quarterly_data(db.session, "2026Q3", version=1,
                              generated_at=datetime(2026, 10, 2, 1, 0, tzinfo=UTC))
    # The demo's 2022 vintage has a TVPI of 1.785: its bar and label are inside the axis.
    assert "1.79" in data["charts"]["en"]["tvpi_by_vintage"]
    assert re.search(r">2</text>", data["charts"]["en"]["tvpi_by_vintage"])
    texts = {}
    for language in ("zh", "en"):
        pdf = render_pdf("quarterly", data, language)
        path = tmp_path / f"{language}.pdf"
        path.write_bytes(pdf)
        info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True,
                              text=True).stdout
        assert "841.89 x 595.276 pts" in info  # A4 landscape, every page
        text = pdf_text(pdf, tmp_path)
        flat = " ".join(text.split())
        texts[language] = flat
        assert "MOIC" in flat and "XIRR" in flat and "MIRR" in flat and "TVPI" in flat
        assert "1,900,000.00" in flat and "8,775,000.00" in flat  # the holdings' NAVs
        assert "-67.65%" in flat and "1.79x" in flat  # rates in %, multiples to 2 places
        assert "-0.6764945918" not in flat
        assert "{'" not in flat and "Decimal(" not in flat and "None" not in flat
        assert "10.0m" not in flat
        snake = re.findall(r"\b[a-z]+_[a-z_]+\b", flat)
        assert snake == [], snake
        assert "750,000.00" in flat  # the park's 2026 target, next to the figure
    zh, en = texts["zh"], texts["en"]
    assert "投资明细表" in zh and "瑞康医疗科技有限公司" in zh and "生命健康" in zh
    assert "万元" in zh and "季度投资组合报告" in zh
    assert "Schedule of investments" in en and "Ruikang Medtech" in en
    assert "Life and health" in en and "CNY 10,000" in en
    assert "Life and health" not in zh and "life_health" not in zh + en
    # The Chinese report's labels carry no English sentence (names of figures such as XIRR,
    # MOIC or KS-PME and the demo index's name are proper names).
    for sentence in ("Schedule of", "Fund performance", "Policy figures", "Conventions",
                     "in the quarter", "per quarter", "not annualised", "Compliance"):
        assert sentence not in zh, sentence
    # The quiet quarter says so in one line, not in four empty sections.
    assert "本季度无现金流、估值变动、转股或退出。" in zh
    assert "No cash flows, valuation changes, conversions or exits in the quarter." in en
