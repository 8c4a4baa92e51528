"""Corrections, never silent overwrites (issue 12): each kind through its page and its API, a
reason required, before and after in the ledger, the guards, and the History sections."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from fundapp.compliance.models import LedgerEntry
from fundapp.deals import roadshows
from fundapp.deals.models import Company, Deal, PanelMember, Roadshow
from fundapp.extensions import db
from fundapp.portfolio.grants.models import Grant
from fundapp.portfolio.holdings.models import Holding, ValuationMark
from fundapp.portfolio.rounds.models import FinancingRound
from tests.conftest import csrf_from, login, make_user
from tests.deals import factories
from tests.portfolio.helpers import (
    grant_body,
    make_deal,
    manager_headers,
    signed_and_paid,
    worked_example_round,
)

EN = {"Accept-Language": "en"}
REASON_REQUIRED = "Give the reason for this correction."


def corrections(action: str, subject_id) -> list[dict]:
    rows = db.session.scalars(select(LedgerEntry.payload).where(
        LedgerEntry.action == action, LedgerEntry.subject_id == str(subject_id))
        .order_by(LedgerEntry.seq)).all()
    return [json.loads(p) for p in rows]


def page_of(client, path: str) -> str:
    response = client.get(path, headers=EN)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def history_of(page: str) -> str:
    start = page.index('data-testid="corrections-history"')
    return page[start:page.index("</section>", start)]


def signed_in(client, email="m@example.cn", roles=("fund_manager",)):
    make_user(email, roles=roles)
    login(client, email, **EN)


# --------------------------------------------------------------------------- companies, deals


def test_company_page_needs_a_reason_keeps_what_was_typed_and_ledgers_before_and_after(client):
    signed_in(client)
    company = factories.make_company(1, name="甲科技有限公司")
    db.session.commit()
    url = f"/companies/{company.id}/edit"
    form = page_of(client, url)
    assert 'value="甲科技有限公司"' in form and 'name="reason"' in form
    data = {"csrf_token": csrf_from(form), "legal_name": "甲智能科技有限公司",
            "uscc": factories.uscc(1), "sector": "ai", "website": "https://jia.example.cn"}
    refused = client.post(url, headers=EN, data=data)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert REASON_REQUIRED in page and 'data-field="reason"' in page
    assert 'value="甲智能科技有限公司"' in page and "https://jia.example.cn" in page
    db.session.expire_all()
    assert db.session.get(Company, company.id).legal_name == "甲科技有限公司"
    assert corrections("company.corrected", company.id) == []

    done = client.post(url, headers=EN, data={**data, "reason": "营业执照名称录入错误"})
    assert done.status_code == 302
    [entry] = corrections("company.corrected", company.id)
    assert entry["reason"] == "营业执照名称录入错误"
    assert entry["before"]["legal_name"] == "甲科技有限公司"
    assert entry["after"]["legal_name"] == "甲智能科技有限公司"
    assert entry["after"]["website"] == "https://jia.example.cn"
    assert "sector" not in entry["after"]  # only the fields that changed

    history = history_of(page_of(client, f"/companies/{company.id}"))
    assert "营业执照名称录入错误" in history and "m@example.cn" in history
    assert "Legal name (Chinese)" in history and "甲科技有限公司 → 甲智能科技有限公司" in history

    same = client.post(url, headers=EN, data={**data, "former_names": "甲科技有限公司",
                                              "reason": "again"})
    assert same.status_code == 422, corrections("company.corrected", company.id)[-1]
    assert "Nothing was changed" in same.get_data(as_text=True)


def test_company_and_deal_api_corrections_need_a_reason_and_keep_money_as_strings(client):
    headers = manager_headers(client) | EN
    company = factories.make_company(2)
    deal = factories.make_deal(company, requested="1000000.00", budget="4000000.00")
    db.session.commit()

    no_reason = client.patch(f"/api/v1/companies/{company.id}", json={"district": "浦东新区"},
                             headers=headers)
    assert no_reason.status_code == 422
    assert "reason" in no_reason.get_json()["error"]["details"]
    done = client.patch(f"/api/v1/companies/{company.id}",
                        json={"district": "浦东新区", "reason": "注册地址更正"}, headers=headers)
    assert done.status_code == 200 and done.get_json()["district"] == "浦东新区"
    assert corrections("company.corrected", company.id)[0]["after"] == {"district": "浦东新区"}

    url = f"/api/v1/deals/{deal.id}"
    assert client.patch(url, json={"requested_grant_amount": "1200000.00"},
                        headers=headers).status_code == 422
    done = client.patch(url, json={"requested_grant_amount": "1200000.00",
                                   "reason": "申请表金额抄错"}, headers=headers)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["requested_grant_amount"] == "1200000.00"
    assert done.get_json()["stage"] == "formal_check"
    [entry] = corrections("deal.corrected", deal.id)
    assert entry == {"reason": "申请表金额抄错",
                     "before": {"requested_grant_amount": "1000000.00"},
                     "after": {"requested_grant_amount": "1200000.00"}}
    unchanged = client.patch(url, json={"requested_grant_amount": "1200000.00",
                                        "reason": "again"}, headers=headers)
    assert unchanged.status_code == 422


def test_deal_page_corrects_with_a_reason_and_shows_its_history(client):
    signed_in(client)
    company = factories.make_company(3)
    deal = factories.make_deal(company, project_name="旧项目名")
    db.session.commit()
    deal_page = page_of(client, f"/deals/{deal.id}")
    assert f"/deals/{deal.id}/edit" in deal_page
    url = f"/deals/{deal.id}/edit"
    form = page_of(client, url)
    assert 'value="旧项目名"' in form
    data = {"csrf_token": csrf_from(form), "project_name": "新项目名",
            "requested_grant_amount": "1000000.00", "approved_budget_amount": "4000000.00"}
    refused = client.post(url, headers=EN, data=data)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert REASON_REQUIRED in page and 'value="新项目名"' in page
    done = client.post(url, headers=EN, data={**data, "reason": "项目名称以合同为准"})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).project_name == "新项目名"
    history = history_of(page_of(client, f"/deals/{deal.id}"))
    assert "项目名称以合同为准" in history and "旧项目名 → 新项目名" in history
    assert "Project name" in history


def test_auditor_cannot_correct_and_sees_no_correct_link(client):
    company = factories.make_company(4)
    deal = factories.make_deal(company)
    db.session.commit()
    make_user("audit@example.cn", roles=("auditor",))
    login(client, "audit@example.cn", **EN)
    assert client.get(f"/deals/{deal.id}/edit", headers=EN).status_code == 403
    assert client.get(f"/companies/{company.id}/edit", headers=EN).status_code == 403
    page = page_of(client, f"/deals/{deal.id}")
    assert f"/deals/{deal.id}/edit" not in page
    assert 'data-testid="corrections-history"' in page  # the auditor reads the history
    headers = manager_headers(client, "audit2@example.cn", roles=("auditor",))
    refused = client.patch(f"/api/v1/deals/{deal.id}", json={"project_name": "x",
                                                            "reason": "y"}, headers=headers)
    assert refused.status_code == 403


# --------------------------------------------------------------------------- roadshows


def test_roadshow_corrections_and_criteria_only_before_scoring(client):
    signed_in(client)
    headers = manager_headers(client) | EN
    roadshow = factories.make_roadshow(held_on=date(2026, 3, 1), panel=2)
    company = factories.make_company(5)
    roadshows.add_slot(db.session, roadshow, company, actor="test")
    db.session.commit()
    members = db.session.scalars(select(PanelMember).where(
        PanelMember.roadshow_id == roadshow.id).order_by(PanelMember.id)).all()
    url = f"/roadshows/{roadshow.id}/edit"
    form = page_of(client, url)
    assert 'value="春季路演"' in form and 'value="专家1"' in form
    data = {"csrf_token": csrf_from(form), "name": "春季路演（张江）", "held_on": "2026-03-01",
            "venue": "张江", "organiser": "联盟", "format": "offline",
            "panel_id": [str(m.id) for m in members], "panel_name": ["王教授", "专家2"],
            "panel_affiliation": ["复旦大学", "大学"],
            "slot_company_id": [str(company.id)], "slot_position": ["1"]}
    refused = client.post(url, headers=EN, data=data)
    assert refused.status_code == 422
    assert 'value="王教授"' in refused.get_data(as_text=True)
    done = client.post(url, headers=EN, data={**data, "reason": "专家姓名登记错误"})
    assert done.status_code == 302, done.get_data(as_text=True)
    [entry] = corrections("roadshow.corrected", roadshow.id)
    assert entry["before"]["name"] == "春季路演" and entry["after"]["name"] == "春季路演（张江）"
    assert {k: entry["after"]["panel"][0][k] for k in ("id", "name", "affiliation")} == {
        "id": members[0].id, "name": "王教授", "affiliation": "复旦大学"}
    history = history_of(page_of(client, f"/roadshows/{roadshow.id}"))
    assert "专家姓名登记错误" in history

    # Criteria are corrected while no score is recorded ...
    criteria = [{"code": "technology", "label": "技术", "weight_pct": "40"},
                {"code": "team", "label": "团队", "weight_pct": "60"}]
    ok = client.patch(f"/api/v1/roadshows/{roadshow.id}",
                      json={"criteria": criteria, "reason": "评分标准按通知调整"},
                      headers=headers)
    assert ok.status_code == 200, ok.get_json()
    db.session.expire_all()
    assert [c.code for c in db.session.get(Roadshow, roadshow.id).criteria] == [
        "technology", "team"]
    # ... and refused once a judge has scored.
    roadshows.record_score_sheet(db.session, db.session.get(Roadshow, roadshow.id),
                                 panel_member_id=members[0].id, company_id=company.id,
                                 scores={"technology": Decimal(8), "team": Decimal(7)},
                                 actor="test")
    db.session.commit()
    refused = client.patch(f"/api/v1/roadshows/{roadshow.id}", json={
        "criteria": [{"code": "technology", "label": "技术", "weight_pct": "50"},
                     {"code": "team", "label": "团队", "weight_pct": "50"}],
        "reason": "改权重"}, headers=headers)
    assert refused.status_code == 409
    assert "criteria can no longer be corrected" in refused.get_json()["error"]["message"]
    assert "can no longer be corrected" in page_of(client, url)  # the page locks them


# --------------------------------------------------------------------------- grants, tranches


def test_grant_corrected_before_its_first_disbursement_only(client):
    signed_in(client, "g@example.cn")
    headers = manager_headers(client) | EN
    deal = make_deal()
    signed = client.post("/api/v1/grants", json=grant_body(deal.id), headers=headers)
    assert signed.status_code == 201, signed.get_json()
    grant_id = signed.get_json()["id"]
    url = f"/api/v1/grants/{grant_id}"
    assert client.patch(url, json={"awarded_amount": "4000000.00"},
                        headers=headers).status_code == 422
    done = client.patch(url, json={"awarded_amount": "4000000.00", "agreement_no": "XY-2025-7",
                                   "reason": "协议金额以签署版为准"}, headers=headers)
    assert done.status_code == 200, done.get_json()
    db.session.expire_all()
    grant = db.session.get(Grant, grant_id)
    amounts = [t.amount for t in grant.tranches]
    assert grant.awarded_amount == Decimal("4000000.00") and sum(amounts) == grant.awarded_amount
    assert amounts == [Decimal("1600000.00"), Decimal("1200000.00"), Decimal("1200000.00")]
    [entry] = corrections("grant.corrected", grant_id)
    assert entry["before"]["awarded_amount"] == "5000000.00"
    assert entry["after"]["awarded_amount"] == "4000000.00"
    assert entry["after"]["tranches"][0]["amount"] == "1600000.00"

    # The page: prefilled, and the history lists the correction.
    form = page_of(client, f"/grants/{grant_id}/edit")
    assert 'value="4000000.00"' in form and 'value="XY-2025-7"' in form
    history = history_of(page_of(client, f"/grants/{grant_id}"))
    assert "协议金额以签署版为准" in history and "5000000.00 → 4000000.00" in history

    paid = client.post(f"{url}/disbursements", json={"tranche": 1, "paid_on": "2025-06-10"},
                       headers=headers)
    assert paid.status_code == 201, paid.get_json()
    refused = client.patch(url, json={"holder_entity": "另一平台", "reason": "x"},
                           headers=headers)
    assert refused.status_code == 409
    assert "correct it by a refund or reversal" in refused.get_json()["error"]["message"]
    page = client.post(f"/grants/{grant_id}/edit", headers=EN, data={
        "csrf_token": csrf_from(form), "awarded_amount": "4000000.00",
        "approved_budget_amount": "10000000.00", "signed_on": "2025-06-01",
        "holder_entity": "另一平台", "reason": "x"})
    assert page.status_code == 409
    text = page.get_data(as_text=True)
    assert "correct it by a refund or reversal" in text and 'value="另一平台"' in text
    db.session.expire_all()
    assert db.session.get(Grant, grant_id).holder_entity == "区科创投资平台"


def test_tranche_schedule_corrected_with_a_reason_summing_to_the_award(client):
    signed_in(client, "t@example.cn")
    headers = manager_headers(client) | EN
    deal = make_deal()
    grant_id = client.post("/api/v1/grants", json=grant_body(deal.id),
                           headers=headers).get_json()["id"]
    url = f"/api/v1/grants/{grant_id}"
    assert client.post(f"{url}/disbursements", json={"tranche": 1, "paid_on": "2025-06-10"},
                       headers=headers).status_code == 201
    rows = [{"position": 2, "amount": "1000000.00", "milestone": "样机"},
            {"position": 3, "amount": "2000000.00", "milestone": "验收"}]
    no_reason = client.patch(f"{url}/tranches", json={"tranches": rows}, headers=headers)
    assert no_reason.status_code == 422
    wrong_sum = client.patch(f"{url}/tranches", json={"tranches": rows[:1], "reason": "r"},
                             headers=headers)
    assert wrong_sum.status_code == 422
    assert "tranches" in wrong_sum.get_json()["error"]["details"]
    paid = client.patch(f"{url}/tranches", json={"tranches": [
        {"position": 1, "amount": "1500000.00"}, {"position": 2, "amount": "2000000.00"}],
        "reason": "r"}, headers=headers)
    assert paid.status_code == 422  # the paid tranche is fixed

    form = page_of(client, f"/grants/{grant_id}/tranches/edit")
    first = db.session.get(Grant, grant_id).tranches[0].milestone
    done = client.post(f"/grants/{grant_id}/tranches/edit", headers=EN, data={
        "csrf_token": csrf_from(form), "tranche_position": ["1", "2", "3"],
        "tranche_amount": ["2000000.00", "1000000.00", "2000000.00"],
        "tranche_milestone": [first, "样机", "验收"], "reason": "里程碑按补充协议调整"})
    assert done.status_code == 302, done.get_data(as_text=True)
    [entry] = corrections("tranche_schedule.corrected", grant_id)
    assert entry["reason"] == "里程碑按补充协议调整"
    assert [t["amount"] for t in entry["after"]["tranches"]] == [
        "2000000.00", "1000000.00", "2000000.00"]
    assert [t["amount"] for t in entry["before"]["tranches"]] == [
        "2000000.00", "1500000.00", "1500000.00"]
    assert "里程碑按补充协议调整" in history_of(page_of(client, f"/grants/{grant_id}"))


# --------------------------------------------------------------------------- rounds, marks


def test_round_corrected_until_a_conversion_uses_it_then_draft_marks_only(client):
    signed_in(client, "r@example.cn")
    headers = manager_headers(client) | EN
    other = manager_headers(client, "second@example.cn")
    deal = make_deal()
    grant_id = signed_and_paid(client, headers, deal.id)
    rnd = client.post(f"/api/v1/companies/{deal.company_id}/rounds",
                      json=worked_example_round(), headers=headers).get_json()
    round_url = f"/api/v1/companies/{deal.company_id}/rounds/{rnd['id']}"

    form = page_of(client, f"/rounds/{rnd['id']}/edit")
    assert 'value="Lead Capital"' in form and 'value="100000000.00"' in form
    data = {"csrf_token": csrf_from(form), "name": "Series A", "kind": "priced_equity",
            "closed_on": "2026-11-01", "pre_money_valuation_amount": "110000000.00",
            "units_before": "10000000.00", "investor_1_name": "Lead Capital",
            "investor_1_cash": "20000000.00", "investor_1_independent": "yes", "lead": "1"}
    refused = client.post(f"/rounds/{rnd['id']}/edit", headers=EN, data=data)
    assert refused.status_code == 422 and 'value="110000000.00"' in refused.get_data(
        as_text=True)
    done = client.post(f"/rounds/{rnd['id']}/edit", headers=EN,
                       data={**data, "reason": "投前估值以股东会决议为准"})
    assert done.status_code == 302, done.get_data(as_text=True)
    [entry] = corrections("round.corrected", rnd["id"])
    assert entry["before"] == {"pre_money_valuation_amount": "100000000.00"}
    assert entry["after"] == {"pre_money_valuation_amount": "110000000.00"}
    assert "投前估值以股东会决议为准" in history_of(page_of(client, f"/rounds/{rnd['id']}"))
    investors = client.patch(round_url, json={"investors": [
        {"name": "Lead Capital", "cash_amount": "22000000.00", "is_independent": True}],
        "reason": "投资款金额更正"}, headers=headers)
    assert investors.status_code == 200, investors.get_json()
    assert investors.get_json()["investors"][0]["cash_amount"] == "22000000.00"
    assert investors.get_json()["investors"][0]["is_lead"] is True

    converted = client.post(f"/api/v1/grants/{grant_id}/conversion",
                            json={"round_id": rnd["id"]}, headers=headers)
    assert converted.status_code == 201, converted.get_json()
    refused = client.patch(round_url, json={"name": "Series A+", "reason": "r"},
                           headers=headers)
    assert refused.status_code == 409
    assert "reverse the conversion" in refused.get_json()["error"]["message"]
    assert db.session.get(FinancingRound, rnd["id"]).name == "Series A"

    holding = db.session.scalars(select(Holding)).one()
    drafted = client.post(f"/api/v1/holdings/{holding.id}/marks", json={
        "measured_on": "2026-11-20", "method": "recent_round", "value_per_unit": "11.00"},
        headers=headers)
    assert drafted.status_code == 201, drafted.get_json()
    mark_id = drafted.get_json()["id"]
    mark_url = f"/api/v1/marks/{mark_id}"
    body = {"measured_on": "2026-11-20", "method": "recent_round", "value_per_unit": "11.50"}
    assert client.patch(mark_url, json=body, headers=headers).status_code == 422
    done = client.patch(mark_url, json={**body, "reason": "价格取自错误轮次"}, headers=headers)
    assert done.status_code == 200, done.get_json()
    [entry] = corrections("mark.corrected", mark_id)
    assert entry["before"] == {"value_per_unit": "11.000000"}
    assert entry["after"] == {"value_per_unit": "11.500000"}
    holding_page = page_of(client, f"/portfolio/holdings/{holding.id}")
    assert f"/portfolio/marks/{mark_id}/edit" in holding_page
    assert "价格取自错误轮次" in history_of(holding_page)
    form = page_of(client, f"/portfolio/marks/{mark_id}/edit")
    page = client.post(f"/portfolio/marks/{mark_id}/edit", headers=EN, data={
        "csrf_token": csrf_from(form), "measured_on": "2026-11-21", "method": "recent_round",
        "value_per_unit": "11.50", "reason": "计量日更正"})
    assert page.status_code == 302, page.get_data(as_text=True)

    final = client.post(f"{mark_url}/finalise", headers=other)
    assert final.status_code == 200, final.get_json()
    refused = client.patch(mark_url, json={**body, "reason": "r"}, headers=headers)
    assert refused.status_code == 409
    assert "A final mark is not corrected" in refused.get_json()["error"]["message"]
    assert db.session.get(ValuationMark, mark_id).measured_on == date(2026, 11, 21)
