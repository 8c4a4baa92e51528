"""The pipeline's pages as a fund manager, an auditor and an admin use them."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from fundapp.deals import operations as ops
from fundapp.deals import roadshows
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
    assert "check character" in page and "Must be more than 0." in page  # fields.Money
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
    ops.update_deal(db.session, deal, actor="t", requested_grant_amount=Decimal("1000000.00"))
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
    # The XLSX is built by the worker (tests/test_tasks.py); no request builds it.
    assert client.get("/deals/export.xlsx?sector=bci", headers=EN).status_code == 405


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
        roadshows.add_slot(db.session, roadshow, company, actor="t")
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



def test_over_long_ic_decision_reference_is_an_inline_error(client):
    from tests.deals.test_pipeline import walk_to

    signed_in(client, roles=("admin",), email="admin@example.cn")
    make_fund()
    roadshow = make_roadshow()
    deal = make_deal(make_company(1), roadshow)
    walk_to(deal, roadshow, DealStage.IC_DECISION)
    db.session.commit()
    csrf = token(client, f"/deals/{deal.id}")
    response = client.post(f"/deals/{deal.id}/ic-decision", headers=EN, data={
        "csrf_token": csrf, "ic_decision_ref": "投决" * 60})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-field="ic_decision_ref">Longer than maximum length 100.' in page
    assert "投决" * 60 in page  # what was typed is kept
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).ic_decision_ref == ""
    response = client.post(f"/deals/{deal.id}/ic-decision", headers=EN, data={
        "csrf_token": csrf, "ic_decision_ref": "  "})
    assert response.status_code == 422
    assert 'data-field="ic_decision_ref">Missing data for required field.' in \
        response.get_data(as_text=True)
    response = client.post(f"/deals/{deal.id}/ic-decision", headers=EN, data={
        "csrf_token": csrf, "ic_decision_ref": " 投决〔2026〕1号 "}, follow_redirects=True)
    assert "IC decision recorded." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).ic_decision_ref == "投决〔2026〕1号"


def test_deal_form_over_long_text_and_money_rules_are_inline_errors(client):
    signed_in(client)
    company = make_company(1)
    db.session.commit()
    csrf = token(client, "/deals/new")
    response = client.post("/deals/new", headers=EN, data={
        "csrf_token": csrf, "company_id": str(company.id), "project_name": "项" * 201,
        "requested_grant_amount": "1000000.001", "approved_budget_amount": "abc"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-field="project_name">Longer than maximum length 200.' in page
    assert 'data-field="requested_grant_amount">At most 2 decimal places (fen).' in page
    assert 'data-field="approved_budget_amount">Enter a number' in page
    assert db.session.scalar(select(func.count()).select_from(Deal)) == 0
    response = client.post("/deals/new", headers=EN, data={
        "csrf_token": csrf, "company_id": "999999", "project_name": "项目",
        "requested_grant_amount": "1,000,000.00", "approved_budget_amount": "4000000"})
    assert response.status_code == 422 and "No such company." in response.get_data(as_text=True)
    response = client.post("/deals/new", headers=EN, data={
        "csrf_token": csrf, "company_id": str(company.id), "project_name": "项目",
        "requested_grant_amount": "1,000,000.00", "approved_budget_amount": "4000000"})
    assert response.status_code == 302
    deal = db.session.scalar(select(Deal))
    assert deal.requested_grant_amount == Decimal("1000000.00")


def test_company_form_names_founder_and_contact_problems(client):
    signed_in(client)
    csrf = token(client, "/companies/new")
    response = client.post("/companies/new", headers=EN, data={
        "csrf_token": csrf, "legal_name": "上海测试科技有限公司", "sector": "ai",
        "founder_name": "", "founder_title": "CEO", "contact_name": "王五",
        "contact_phone": "1" * 41, "contact_email": "not-an-address"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-field="founders">Missing data for required field.' in page
    assert "Longer than maximum length 40." in page and "Enter a valid e-mail address." in page
    assert db.session.scalar(select(func.count()).select_from(Company)) == 0


def test_board_filtered_by_a_closed_stage_is_a_page_not_an_error(client):
    signed_in(client)
    make_fund()
    declined = make_deal(make_company(1, name="已拒绝有限公司"))
    ops.advance_deal(db.session, declined, DealStage.DECLINED, actor="t", reason="不符合方向")
    make_deal(make_company(2, name="仍在审有限公司"))
    db.session.commit()
    for stage in ("declined", "withdrawn"):
        response = client.get(f"/deals/board?stage={stage}&sector=ai", headers=EN)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, stage
        assert 'data-testid="off-board"' in page and "have no column on the board" in page
        assert f"/deals?sector=ai&amp;stage={stage}" in page or \
            f"/deals?stage={stage}&amp;sector=ai" in page
        assert "仍在审有限公司" not in page
    page = client.get("/deals/board?stage=declined", headers=EN).get_data(as_text=True)
    assert "Declined: <a" in page and ">1</a>" in page
    response = client.get("/deals/board?stage=formal_check", headers=EN)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-testid="off-board"' not in page
    assert "仍在审有限公司" in page and "已拒绝有限公司" not in page


def test_board_move_refusals_and_over_long_reason_are_flashed(client):
    signed_in(client)
    make_fund()
    deal = make_deal(make_company(1))
    db.session.commit()
    csrf = token(client)
    response = client.post(f"/deals/{deal.id}/move", headers=EN, data={
        "csrf_token": csrf, "to_stage": "on_hold", "reason": "因" * 5001,
        "back": "/deals/board"}, follow_redirects=True)
    assert "Longer than maximum length 5000." in response.get_data(as_text=True)
    response = client.post(f"/deals/{deal.id}/move", headers=EN, data={
        "csrf_token": csrf, "to_stage": "declined", "back": "//evil.example/deals"})
    assert response.headers["Location"] == f"/deals/{deal.id}"
    page = client.get(f"/deals/{deal.id}", headers=EN).get_data(as_text=True)
    assert "Give the reason for this move." in page
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).stage is DealStage.FORMAL_CHECK


def test_company_edit_form_keeps_rules_and_saves(client):
    signed_in(client)
    first = make_company(1, name="甲科技有限公司")
    ops.create_company(db.session, actor="t", legal_name="乙科技有限公司", sector="ai")  # no code
    db.session.commit()
    csrf = token(client, f"/companies/{first.id}/edit")
    response = client.post(f"/companies/{first.id}/edit", headers=EN, data={
        "csrf_token": csrf, "legal_name": "乙科技（有限公司）", "uscc": uscc(1), "sector": "ai",
        "reason": "名称更正"})
    assert response.status_code == 422
    assert "A company with this name already exists: 乙科技有限公司" in \
        response.get_data(as_text=True)
    response = client.post(f"/companies/{first.id}/edit", headers=EN, data={
        "csrf_token": csrf, "legal_name": "甲科技有限公司", "uscc": uscc(1), "sector": "bci",
        "legal_form": "jsc", "registered_capital_amount": "1000000", "share_count": "1000000",
        "par_value_amount": "1.00", "founded_on": "2020-05-01",
        "reason": "营业执照信息更正"})  # a correction needs its reason (issue 12)
    assert response.status_code == 302
    db.session.expire_all()
    company = db.session.get(Company, first.id)
    assert (company.sector, company.share_count, company.founded_on) == (
        "bci", 1000000, date(2020, 5, 1))


def test_roadshow_page_forms_panel_slots_and_criteria(client):
    signed_in(client)
    roadshow = make_roadshow(panel=0)
    company = make_company(1)
    db.session.commit()
    csrf = token(client, f"/roadshows/{roadshow.id}")
    response = client.post(f"/roadshows/{roadshow.id}/panel", headers=EN, data={
        "csrf_token": csrf, "user_id": "", "name": " ", "affiliation": "大学"},
        follow_redirects=True)
    assert "Choose a user or enter the expert&#39;s name." in response.get_data(as_text=True)
    response = client.post(f"/roadshows/{roadshow.id}/panel", headers=EN, data={
        "csrf_token": csrf, "name": "专家甲", "affiliation": "大" * 201}, follow_redirects=True)
    assert "Longer than maximum length 200." in response.get_data(as_text=True)
    response = client.post(f"/roadshows/{roadshow.id}/panel", headers=EN, data={
        "csrf_token": csrf, "name": "专家甲", "affiliation": "大学"}, follow_redirects=True)
    assert "Panel member added." in response.get_data(as_text=True)
    response = client.post(f"/roadshows/{roadshow.id}/slots", headers=EN, data={
        "csrf_token": csrf, "company_id": "999999"}, follow_redirects=True)
    assert "No such company." in response.get_data(as_text=True)
    response = client.post(f"/roadshows/{roadshow.id}/slots", headers=EN, data={
        "csrf_token": csrf, "company_id": str(company.id)}, follow_redirects=True)
    assert "Company added to the roadshow." in response.get_data(as_text=True)
    response = client.post(f"/roadshows/{roadshow.id}/criteria", headers=EN, data={
        "csrf_token": csrf, "code": ["technology", "team", "", ""],
        "label": ["Technology", "", "", "Market"], "weight_pct": ["50", "", "", "50"]},
        follow_redirects=True)
    assert "Criteria saved." in response.get_data(as_text=True)
    db.session.expire_all()
    saved = roadshows.get_roadshow(db.session, roadshow.id).criteria
    assert [(c.code, c.weight_pct) for c in saved] == [
        ("technology", Decimal("50.00")), ("market", Decimal("50.00"))]


def test_expert_review_form_records_and_refuses_inline(client):
    signed_in(client)
    make_fund()
    roadshow = make_roadshow()
    deal = make_deal(make_company(1), roadshow)
    ops.advance_deal(db.session, deal, DealStage.ROADSHOW, actor="t")
    member = roadshow.panel[0]
    db.session.commit()
    csrf = token(client, f"/deals/{deal.id}")
    response = client.post(f"/deals/{deal.id}/reviews", headers=EN, data={
        "csrf_token": csrf, "panel_member_id": str(member.id), "is_approved": "yes",
        "comment": "好" * 5001})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-field="comment">Longer than maximum length 5000.' in page
    response = client.post(f"/deals/{deal.id}/reviews", headers=EN, data={
        "csrf_token": csrf, "panel_member_id": "999999", "is_approved": "yes"})
    assert response.status_code == 422
    assert "Choose a member of the panel of this deal&#39;s roadshow." in \
        response.get_data(as_text=True)
    response = client.post(f"/deals/{deal.id}/reviews", headers=EN, data={
        "csrf_token": csrf, "panel_member_id": str(member.id), "is_approved": "no",
        "comment": "技术不成熟"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Expert review recorded." in page and '<td>Reject</td><td><span lang="">技术不成熟</span></td>' in page
