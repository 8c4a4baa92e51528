"""The pipeline's JSON API: companies, deals and their transitions, roadshows, scores, import."""

from __future__ import annotations

from pathlib import Path

from fundapp.extensions import db
from tests.conftest import api_token, make_user
from tests.deals.factories import make_fund, uscc

DATA = Path(__file__).resolve().parent.parent / "data"


def auth(client, roles=("fund_manager",), email="api@example.cn"):
    make_user(email, roles=roles)
    return {"Authorization": f"Bearer {api_token(client, email)}", "Accept-Language": "en"}


def test_company_deal_and_refused_transition(client):
    headers = auth(client)
    make_fund()
    db.session.commit()
    response = client.post("/api/v1/companies", headers=headers, json={
        "legal_name": "接口科技有限公司", "uscc": uscc(9)[:-1] + "0", "sector": "nope"})
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    assert "sector" in details
    response = client.post("/api/v1/companies", headers=headers, json={
        "legal_name": "接口科技有限公司", "uscc": uscc(9)[:-1] + "0", "sector": "ai"})
    assert response.status_code == 422 and "uscc" in response.get_json()["error"]["details"]
    response = client.post("/api/v1/companies", headers=headers, json={
        "legal_name": "接口科技有限公司", "uscc": uscc(9), "sector": "ai"})
    assert response.status_code == 201
    company = response.get_json()
    response = client.post("/api/v1/deals", headers=headers, json={
        "company_id": company["id"], "project_name": "项目", "requested_grant_amount": 1.5,
        "approved_budget_amount": "10"})
    assert response.status_code == 422  # a JSON number would be a float: amounts are strings
    response = client.post("/api/v1/deals", headers=headers, json={
        "company_id": company["id"], "project_name": "项目",
        "requested_grant_amount": "3000000.00", "approved_budget_amount": "5000000.00"})
    assert response.status_code == 201
    deal = response.get_json()
    assert deal["stage"] == "formal_check" and deal["requested_grant_amount"] == "3000000.00"
    response = client.post(f"/api/v1/deals/{deal['id']}/transitions", headers=headers,
                           json={"to_stage": "roadshow"})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "rule_refused" and error["details"]["rule"] == "R2.a"
    response = client.post(f"/api/v1/deals/{deal['id']}/transitions", headers=headers,
                           json={"to_stage": "on_hold", "reason": "补充预算"})
    assert response.status_code == 201
    items = client.get(f"/api/v1/deals/{deal['id']}/transitions",
                       headers=headers).get_json()["items"]
    assert [(i["from_stage"], i["to_stage"]) for i in items] == [
        (None, "formal_check"), ("formal_check", "on_hold")]
    listed = client.get("/api/v1/deals?stage=on_hold", headers=headers).get_json()
    assert listed["total"] == 1 and listed["items"][0]["company_name"] == "接口科技有限公司"


def test_roadshow_scores_and_import(client):
    headers = auth(client)
    response = client.post("/api/v1/roadshows", headers=headers, json={
        "name": "秋季路演", "held_on": "2026-10-10", "panel": [{"name": "专家甲"},
                                                              {"name": "专家乙"}],
        "criteria": [{"code": "tech", "label": "技术", "weight_pct": "60"},
                     {"code": "team", "label": "团队", "weight_pct": "30"}]})
    assert response.status_code == 422
    assert "must add up to 100%" in str(response.get_json()["error"]["details"])
    response = client.post("/api/v1/roadshows", headers=headers, json={
        "name": "秋季路演", "held_on": "2026-10-10", "panel": [{"name": "专家甲"},
                                                              {"name": "专家乙"}]})
    assert response.status_code == 201
    roadshow = response.get_json()
    with (DATA / "roadshow_signup.xlsx").open("rb") as fh:
        response = client.post(f"/api/v1/roadshows/{roadshow['id']}/import?preview=1",
                               headers=headers, data={"file": (fh, "signup.xlsx")})
    assert response.status_code == 200 and response.get_json()["companies_created"] == 6
    with (DATA / "roadshow_signup.xlsx").open("rb") as fh:
        response = client.post(f"/api/v1/roadshows/{roadshow['id']}/import", headers=headers,
                               data={"file": (fh, "signup.xlsx")})
    assert response.status_code == 201 and response.get_json()["deals_created"] == 6
    response = client.post(f"/api/v1/roadshows/{roadshow['id']}/import", headers=headers,
                           data={"file": (b"garbage", "x.xlsx")})
    assert response.status_code == 422
    detail = client.get(f"/api/v1/roadshows/{roadshow['id']}", headers=headers).get_json()
    member = detail["panel"][0]["id"]
    company = detail["slots"][0]["company_id"]
    response = client.post(f"/api/v1/roadshows/{roadshow['id']}/scores", headers=headers,
                           json={"panel_member_id": member, "company_id": company,
                                 "scores": {"technology": "8", "team": "8", "market": "8",
                                            "park_fit": "8", "policy_value": "12"}})
    assert response.status_code == 422
    assert "scores.policy_value" in response.get_json()["error"]["details"]
    response = client.post(f"/api/v1/roadshows/{roadshow['id']}/scores", headers=headers,
                           json={"panel_member_id": member, "company_id": company,
                                 "scores": {"technology": "8", "team": "7", "market": "6",
                                            "park_fit": "9", "policy_value": "10"}})
    assert response.status_code == 201
    top = response.get_json()["ranking"][0]
    assert top["mean"] == "8.00" and top["count"] == 1 and top["rank"] == 1


def test_auditor_reads_but_cannot_write(client):
    headers = auth(client, roles=("auditor",), email="aud@example.cn")
    assert client.get("/api/v1/deals", headers=headers).status_code == 200
    response = client.post("/api/v1/companies", headers=headers,
                           json={"legal_name": "x", "sector": "ai"})
    assert response.status_code == 403


def test_openapi_lists_pipeline_routes(client):
    spec = client.get("/api/openapi.json").get_json()
    for path in ("/api/v1/roadshows", "/api/v1/roadshows/{roadshow_id}/scores",
                 "/api/v1/roadshows/{roadshow_id}/import", "/api/v1/companies",
                 "/api/v1/deals", "/api/v1/deals/{deal_id}/transitions"):
        assert path in spec["paths"], path
    assert "DealCreate" in spec["components"]["schemas"]


def test_money_as_a_json_number_is_refused_with_the_reason(client):
    headers = auth(client)
    make_fund()
    db.session.commit()
    company = client.post("/api/v1/companies", headers=headers, json={
        "legal_name": "数字科技有限公司", "uscc": uscc(3), "sector": "ai"}).get_json()
    for number in (1500000, 1500000.5):
        response = client.post("/api/v1/deals", headers=headers, json={
            "company_id": company["id"], "project_name": "项目",
            "requested_grant_amount": number, "approved_budget_amount": "5000000.00"})
        assert response.status_code == 422
        details = response.get_json()["error"]["details"]
        assert list(details) == ["requested_grant_amount"]
        assert "decimal string" in details["requested_grant_amount"][0]
    response = client.post("/api/v1/companies", headers=headers, json={
        "legal_name": "资本科技有限公司", "sector": "ai", "registered_capital_amount": 1000000})
    assert response.status_code == 422
    assert "registered_capital_amount" in response.get_json()["error"]["details"]


def test_over_long_text_is_a_422_naming_the_field_not_a_500(client):
    headers = auth(client)
    make_fund()
    db.session.commit()
    response = client.post("/api/v1/companies", headers=headers, json={
        "legal_name": "长" * 201, "sector": "ai",
        "contacts": [{"name": "联系人", "phone": "1" * 41}]})
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    assert set(details) == {"legal_name", "contacts"}
    assert details["legal_name"] == ["Longer than maximum length 200."]
    company = client.post("/api/v1/companies", headers=headers, json={
        "legal_name": "正常科技有限公司", "uscc": uscc(4), "sector": "ai"}).get_json()
    response = client.post("/api/v1/deals", headers=headers, json={
        "company_id": company["id"], "project_name": "项" * 201,
        "requested_grant_amount": "100.00", "approved_budget_amount": "1000.00"})
    assert response.status_code == 422
    assert list(response.get_json()["error"]["details"]) == ["project_name"]
    response = client.post("/api/v1/roadshows", headers=headers, json={
        "name": "路演", "held_on": "2026-10-10", "panel": [{"name": "专" * 201}]})
    assert response.status_code == 422
    assert "panel" in response.get_json()["error"]["details"]
    deal = client.post("/api/v1/deals", headers=headers, json={
        "company_id": company["id"], "project_name": "项目",
        "requested_grant_amount": "100.00", "approved_budget_amount": "1000.00"}).get_json()
    response = client.post(f"/api/v1/deals/{deal['id']}/transitions", headers=headers,
                           json={"to_stage": "on_hold", "reason": "因" * 5001})
    assert response.status_code == 422
    assert list(response.get_json()["error"]["details"]) == ["reason"]
    response = client.post(f"/api/v1/deals/{deal['id']}/transitions", headers=headers,
                           json={"to_stage": "somewhere"})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {"to_stage": ["Unknown stage."]}
