"""The pipeline's pages as a fund manager, an auditor and an admin use them."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import func, select

from fundapp.deals import operations as ops
from fundapp.deals.models import Company, Deal, DealStage
from fundapp.extensions import db
from tests.conftest import csrf_from, login, make_user
from tests.deals.factories import make_company, make_deal, make_fund, make_roadshow, uscc

DATA = Path(__file__).resolve().parent.parent / "data"
EN = {"Accept-Language": "en"}


def signed_in(client, roles=("fund_manager",), email="m@example.cn"):
    make_user(email, roles=roles)
    login(client, email, **EN)
    return client


def token(client, path="/deals/board"):
    return csrf_from(client.get(path, headers=EN).get_data(as_text=True))


def test_company_form_names_bad_credit_code_then_registers(client):
    signed_in(client)
    csrf = token(client, "/companies/new")
    bad = uscc(7)[:-1] + ("X" if uscc(7)[-1] != "X" else "Y")
    response = client.post("/companies/new", headers=EN, data={
        "csrf_token": csrf, "legal_name": "上海测试科技有限公司", "uscc": bad, "sector": "ai",
        "legal_form": "llc", "registered_capital_amount": "-5"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "check character" in page and "greater than zero" in page
    response = client.post("/companies/new", headers=EN, data={
        "csrf_token": csrf, "legal_name": "上海测试科技有限公司", "uscc": uscc(7).lower(),
        "sector": "robotics.humanoid", "legal_form": "llc",
        "registered_capital_amount": "1,000,000", "founder_name": "张三",
        "founder_title": "CEO"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert uscc(7) in page and "Humanoid robots" in page and "张三" in page
    response = client.post("/companies/new", headers=EN, data={
        "csrf_token": csrf, "legal_name": "另一家有限公司", "uscc": uscc(7), "sector": "ai"})
    assert response.status_code == 422
    assert "already registered to 上海测试科技有限公司" in response.get_data(as_text=True)


def test_board_columns_count_and_sum_and_fallback_move(client, app):
    signed_in(client)
    make_fund()
    roadshow = make_roadshow()
    first = make_deal(make_company(1), roadshow, requested="1000000.00")
    make_deal(make_company(2), roadshow, requested="250000.50")
    db.session.commit()
    page = client.get("/deals/board", headers=EN).get_data(as_text=True)
    assert "1,250,000.50" in page and 'data-testid="count-formal_check">2<' in page
    csrf = csrf_from(page)
    response = client.post(f"/deals/{first.id}/move", headers=EN, data={
        "csrf_token": csrf, "to_stage": "roadshow", "expected_stage": "formal_check",
        "back": "/deals/board"})
    assert response.status_code == 302 and response.headers["Location"] == "/deals/board"
    page = client.get("/deals/board", headers=EN).get_data(as_text=True)
    assert "Moved to Roadshow" in page and 'data-testid="count-roadshow">1<' in page
    # Skipping from the roadshow to due diligence: refused, the reason shown on the page.
    response = client.post(f"/deals/{first.id}/move", headers=EN, data={
        "csrf_token": csrf, "to_stage": "due_diligence", "back": "/deals/board"},
        follow_redirects=True)
    assert "stages cannot be skipped" in response.get_data(as_text=True)


def test_board_move_as_json_gives_rule_and_message(client):
    signed_in(client)
    make_fund()
    deal = make_deal(make_company(1), requested="6000000.00", budget="20000000.00")
    db.session.commit()
    csrf = token(client)
    response = client.post(f"/deals/{deal.id}/move", data={"to_stage": "roadshow"},
                           headers={**EN, "Accept": "application/json", "X-CSRFToken": csrf})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["details"]["rule"] == "R2.a" and "5,000,000.00" in error["message"]
    ops.update_deal(db.session, deal, actor="t", requested_grant_amount="1000000.00")
    db.session.commit()
    response = client.post(f"/deals/{deal.id}/move", data={"to_stage": "roadshow"},
                           headers={**EN, "Accept": "application/json", "X-CSRFToken": csrf})
    assert response.status_code == 200
    assert response.get_json() == {"id": deal.id, "stage": "roadshow", "stage_label": "Roadshow",
                                   "next_stage": "expert_review"}
    # Without the CSRF header the move is refused.
    response = client.post(f"/deals/{deal.id}/move", data={"to_stage": "expert_review"},
                           headers={**EN, "Accept": "application/json"})
    assert response.status_code == 400


def test_auditor_reads_board_but_cannot_move(client):
    signed_in(client, roles=("auditor",), email="a@example.cn")
    make_fund()
    deal = make_deal(make_company(1))
    db.session.commit()
    page = client.get("/deals/board", headers=EN).get_data(as_text=True)
    assert "测试科技1有限公司" in page and "Move to" not in page
    response = client.post(f"/deals/{deal.id}/move", data={"to_stage": "roadshow",
                                                           "csrf_token": csrf_from(page)},
                           headers=EN)
    assert response.status_code == 403


def test_list_filters_sorts_and_exports(client):
    signed_in(client)
    make_fund()
    make_deal(make_company(1, name="甲脑机有限公司", sector="bci"), requested="300000.00")
    make_deal(make_company(2, name="乙机器人有限公司", sector="robotics.special"),
              requested="200000.00")
    make_deal(make_company(3, name="丙金融有限公司", sector="fintech.insurtech"),
              requested="100000.00")
    db.session.commit()
    page = client.get("/deals?sort=requested", headers=EN).get_data(as_text=True)
    assert page.index("丙金融") < page.index("乙机器人") < page.index("甲脑机")
    page = client.get("/deals?sector=robotics", headers=EN).get_data(as_text=True)
    assert "乙机器人" in page and "甲脑机" not in page
    page = client.get("/deals?q=" + uscc(3).lower(), headers=EN).get_data(as_text=True)
    assert "丙金融" in page and "甲脑机" not in page and "乙机器人" not in page
    page = client.get("/deals?q=机器人", headers=EN).get_data(as_text=True)
    assert "乙机器人" in page and "丙金融" not in page
    response = client.get("/deals/export.csv?sort=requested", headers=EN)
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0][1] == "Company" and [r[1] for r in rows[1:]] == [
        "丙金融有限公司", "乙机器人有限公司", "甲脑机有限公司"]
    assert rows[1][6] == "100000.00"
    response = client.get("/deals/export.xlsx?sector=bci", headers=EN)
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 2 and values[1][1] == "甲脑机有限公司" and values[1][6] == 300000


def test_signup_upload_preview_import(client):
    signed_in(client)
    roadshow = make_roadshow()
    db.session.commit()
    csrf = token(client, f"/roadshows/{roadshow.id}")
    content = (DATA / "roadshow_signup.csv").read_bytes()
    response = client.post(f"/roadshows/{roadshow.id}/import", headers=EN, data={
        "csrf_token": csrf, "sheet": (io.BytesIO(content), "报名表.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    preview_url = response.headers["Location"]
    page = client.get(preview_url, headers=EN).get_data(as_text=True)
    assert "6 rows: 6 new companies, 6 new deals" in page and "上海神经桥科技有限公司" in page
    assert db.session.scalar(select(func.count()).select_from(Company)) == 0
    db.session.commit()  # end the read: SQLite lets the request write
    response = client.post(preview_url, headers=EN, data={"csrf_token": csrf},
                           follow_redirects=True)
    assert "Imported 6 rows: 6 new companies, 6 new deals" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Deal)) == 6
    db.session.commit()
    response = client.post(preview_url, headers=EN, data={"csrf_token": csrf},
                           follow_redirects=True)
    assert "0 new companies, 0 new deals" in response.get_data(as_text=True)


def test_ten_megabyte_sheet_is_refused_with_reason(client):
    signed_in(client)
    roadshow = make_roadshow()
    db.session.commit()
    csrf = token(client, f"/roadshows/{roadshow.id}")
    response = client.post(f"/roadshows/{roadshow.id}/import", headers=EN, data={
        "csrf_token": csrf, "sheet": (io.BytesIO(b"x" * (10 * 1024 * 1024)), "big.xlsx")},
        content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    assert "at most 5 MB" in response.get_data(as_text=True)


def test_bad_sheet_preview_lists_row_problems(client):
    signed_in(client)
    roadshow = make_roadshow()
    db.session.commit()
    csrf = token(client, f"/roadshows/{roadshow.id}")
    content = ("企业名称,所属行业,项目名称,申请拨款金额（元）,项目总预算（元）\n"
               "好有限公司,ai,项目,100,1000\n坏有限公司,未知,项目,abc,1000\n").encode("gbk")
    response = client.post(f"/roadshows/{roadshow.id}/import", headers=EN, data={
        "csrf_token": csrf, "sheet": (io.BytesIO(content), "s.csv")},
        content_type="multipart/form-data", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Problems (2)" in page and "Unknown sector: 未知" in page
    assert 'data-testid="import-all"' not in page


def test_roadshow_scores_weights_and_ranking(client, app):
    signed_in(client)
    roadshow = make_roadshow(panel=2)
    a, b = make_company(1, name="甲有限公司"), make_company(2, name="乙有限公司")
    for company in (a, b):
        ops.add_slot(db.session, roadshow, company, actor="t")
    db.session.commit()
    first, second = roadshow.panel
    csrf = token(client, f"/roadshows/{roadshow.id}")
    codes = ["technology", "team", "market", "park_fit", "policy_value"]

    def score(member, company, value, conflict=False):
        data = {"csrf_token": csrf, "panel_member_id": member.id, "company_id": company.id,
                **{f"score_{c}": value for c in codes}}
        if conflict:
            data["has_conflict"] = "1"
        return client.post(f"/roadshows/{roadshow.id}/scores", headers=EN, data=data,
                           follow_redirects=True)

    assert "A score is a number from 0 to 10" in score(first, a, "11").get_data(as_text=True)
    score(first, a, "9")
    score(second, a, "4")  # spread 5 > 3: flagged
    score(first, b, "7")
    score(second, b, "1", conflict=True)  # left out
    page = client.get(f"/roadshows/{roadshow.id}", headers=EN).get_data(as_text=True)
    assert page.index("乙有限公司") < page.index("6.50") or "Judges disagree" in page
    rows = page.split('data-testid="rank-row"')[1:]
    assert "乙有限公司" in rows[0] and "7.00" in rows[0]
    assert "甲有限公司" in rows[1] and "6.50" in rows[1] and "Judges disagree" in rows[1]
    response = client.post(f"/roadshows/{roadshow.id}/criteria", headers=EN, data={
        "csrf_token": csrf, "code": codes, "label": ["a", "b", "c", "d", "e"],
        "weight_pct": ["30", "30", "20", "10", "5"]}, follow_redirects=True)
    assert "add up to 95.00%; they must add up to 100%" in response.get_data(as_text=True)


def test_deal_page_shows_history_time_in_stage_and_quorum(client):
    signed_in(client)
    make_fund()
    roadshow = make_roadshow(held_on=date(2020, 1, 1))
    deal = make_deal(make_company(1), roadshow)
    ops.advance_deal(db.session, deal, DealStage.ROADSHOW, actor="m@example.cn", reason="材料齐全")
    db.session.commit()
    page = client.get(f"/deals/{deal.id}", headers=EN).get_data(as_text=True)
    assert "材料齐全" in page and "Formal check → Roadshow" in page
    assert "0 of 2 approving reviews needed" in page
    assert "Move to Expert review" in page

