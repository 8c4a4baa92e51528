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
