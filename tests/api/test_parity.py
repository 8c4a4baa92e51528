"""Issue 12: everything a page can do, the API can.

Every web route that changes something (POST, and the actions of the grant and holding pages'
``<action>`` routes one by one) is listed in PARITY with the API endpoint(s) that do the same
through the same operation; a new page form without its API twin fails here until it is added
(or, with a reason, listed as an exception). Then the new endpoints are used the way a client
would: expert reviews, panel members and slots after creation, criteria, an IC decision by hand,
the meeting's attendance, notes, conflicts and reopened minutes, the reference data.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from fundapp.api.core import OPERATIONS
from fundapp.auth.models import User
from fundapp.compliance.models import LedgerEntry
from fundapp.deals import operations as deal_ops
from fundapp.deals.models import Deal, DealStage
from fundapp.extensions import db
from fundapp.reference.models import CalendarDay, LprRate
from tests.conftest import api_token, make_user
from tests.deals.factories import make_company, make_deal, make_fund, make_roadshow
from tests.ic.conftest import MEETING_DAY, committee  # noqa: F401  (the fixture)

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# web endpoint (":action" for one action of an <any(...)> route) -> the API endpoint(s)
PARITY: dict[str, tuple[str, ...]] = {
    # Sign-in: the API's sign-in is a token for the same credentials and throttling; signing
    # out revokes it. The page's language switch is the signed-in user's locale.
    "auth.login": ("api.create_token",),
    "auth.logout": ("api.revoke_token",),
    "auth.set_language": ("api.update_me",),
    "main.profile": ("api.update_me",),
    "main.set_own_name_en": ("api.update_me",),
    "main.change_password": ("api.change_my_password",),
    "admin.new_user": ("api.create_user",),
    "admin.edit_user": ("api.update_user",),
    "admin.fund_setup": ("api.create_fund",),
    # compliance
    "compliance.create_export_view": ("api.create_ledger_export",),
    "compliance.queue_verification_pdf": ("api.queue_ledger_verification",),
    "compliance.queue_backup": ("api.queue_backup",),
    "compliance.notifications.read": ("api.read_notification",),
    "compliance.notifications.read_all": ("api.read_all_notifications",),
    # the pipeline
    "deals.new_company": ("api.create_company",),
    "deals.edit_company": ("api.update_company",),
    "deals.new_deal": ("api.create_deal",),
    "deals.edit_deal": ("api.correct_deal",),
    "deals.deal_memo": ("api.update_deal_memo",),
    "deals.move_deal": ("api.create_deal_transition",),
    "deals.record_review": ("api.record_expert_review",),
    "deals.record_ic_decision": ("api.record_deal_ic_decision",),
    "deals.queue_export": ("api.queue_deals_export",),
    "deals.new_roadshow": ("api.create_roadshow",),
    "deals.edit_roadshow": ("api.correct_roadshow",),
    "deals.set_criteria": ("api.set_roadshow_criteria",),
    "deals.add_panel_member": ("api.add_roadshow_panel_member",),
    "deals.add_slot": ("api.add_roadshow_slot",),
    "deals.record_scores": ("api.record_roadshow_scores",),
    # The page uploads, previews, then imports; the API imports in one request and answers
    # with every row's outcome (a refused sheet imports nothing either way).
    "deals.upload_signup": ("api.import_roadshow_signup",),
    "deals.signup_preview": ("api.import_roadshow_signup",),
    # the investment committee
    "ic.new_meeting": ("api.create_ic_meeting",),
    "ic.attendance": ("api.record_ic_attendance",),
    "ic.notes": ("api.set_ic_item_notes",),
    "ic.conflict": ("api.declare_ic_conflict",),
    "ic.vote": ("api.cast_ic_vote",),
    "ic.decide": ("api.decide_ic_item",),
    "ic.generate_pack": ("api.generate_ic_pack",),
    "ic.sign_minutes": ("api.sign_ic_minutes",),
    "ic.minutes_details": ("api.update_ic_minutes_details",),
    "ic.discussion": ("api.update_ic_minutes_details",),  # its "discussions" list
    "ic.reopen_minutes": ("api.reopen_ic_minutes",),
    "ic.generate_quarterly": ("api.generate_quarterly_report",),
    # grants, rounds, conversions
    "portfolio.new_policy": ("api.create_policy",),
    "portfolio.new_grant": ("api.create_grant",),
    "portfolio.edit_grant": ("api.correct_grant",),
    "portfolio.edit_tranches": ("api.correct_tranches",),
    "portfolio.grant_action:review": ("api.create_review",),
    "portfolio.grant_action:disburse": ("api.create_disbursement",),
    "portfolio.grant_action:refund": ("api.create_refund",),
    "portfolio.grant_action:accept": ("api.accept_rd",),
    "portfolio.grant_action:breach": ("api.declare_breach",),
    "portfolio.grant_action:tolerance": ("api.close_with_tolerance",),
    "portfolio.grant_action:override": ("api.override_policy",),
    "portfolio.grant_action:registration": ("api.record_registration",),
    "portfolio.grant_action:alternative": ("api.record_alternative_condition",),
    "portfolio.convert": ("api.conversion_preview", "api.create_conversion"),
    "portfolio.reverse_conversion": ("api.reverse_conversion",),
    "portfolio.reverse_disbursement": ("api.reverse_disbursement",),
    "portfolio.new_round": ("api.create_round",),
    "portfolio.edit_round": ("api.correct_round",),
    "portfolio.upload_document": ("api.upload_round_document",),
    # holdings
    "portfolio.holding_action:mark": ("api.create_mark",),
    "portfolio.holding_action:finalise": ("api.finalise_mark",),
    "portfolio.holding_action:appraisal": ("api.create_appraisal",),
    "portfolio.holding_action:exit": ("api.create_exit",),
    "portfolio.holding_action:balance": ("api.create_exit_balance",),
    "portfolio.holding_action:instalment": ("api.create_instalment_payment",),
    "portfolio.holding_action:flow": ("api.create_cash_flow",),
    "portfolio.edit_mark": ("api.correct_mark",),
    "portfolio.index_upload": ("api.upload_index_series",),
    "portfolio.kpi_answer": ("api.answer_kpi",),
    "portfolio.kpi_import": ("api.import_kpis",),
    # reference data
    "reference.set_calendar_day": ("api.set_calendar_day",),
    "reference.remove_calendar_day": ("api.remove_calendar_day",),
    "reference.import_calendar": ("api.import_calendar",),
    "reference.add_lpr_rate": ("api.add_lpr_rate",),
    "reference.import_lpr": ("api.import_lpr",),
    # the history import (issue 12)
    "history_import.upload": ("api.upload_history",),
    "history_import.commit": ("api.commit_history",),
}

# Web routes that change something and have no API twin, each with the reason. Keep it short.
EXCEPTIONS: dict[str, str] = {}


def web_writes(app) -> set[str]:
    """Every page route that changes something; an <any(a, b)> action route, one per action."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") or rule.endpoint == "static":
            continue
        if not (rule.methods or set()) & WRITE_METHODS:
            continue
        choice = re.search(r"<any\(([^)]*)\):action>", rule.rule)
        if choice:
            found |= {f"{rule.endpoint}:{a.strip()}" for a in choice.group(1).split(",")}
        else:
            found.add(rule.endpoint)
    return found


def api_writes(app) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("api.") and (rule.methods or set()) & WRITE_METHODS}


def test_every_page_that_changes_something_has_its_api_twin(app):
    pages = web_writes(app)
    missing = sorted(pages - set(PARITY) - set(EXCEPTIONS))
    assert missing == [], f"page routes without an API twin (add one, or a justified exception): {missing}"
    stale = sorted((set(PARITY) | set(EXCEPTIONS)) - pages)
    assert stale == [], f"the table names page routes that no longer exist: {stale}"
    apis = api_writes(app)
    absent = sorted({api for twins in PARITY.values() for api in twins} - apis)
    assert absent == [], f"the table names API endpoints that do not exist: {absent}"


def test_every_twin_is_described_in_the_openapi_document(client):
    described = {op.endpoint for op in OPERATIONS}
    twins = {api for names in PARITY.values() for api in names}
    assert twins - described == set()
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in ("/api/v1/deals/{deal_id}/reviews", "/api/v1/roadshows/{roadshow_id}/panel",
                 "/api/v1/roadshows/{roadshow_id}/slots", "/api/v1/conversions/"
                 "{conversion_id}/reversal", "/api/v1/disbursements/{disbursement_id}/reversal",
                 "/api/v1/ic/meetings/{meeting_id}/attendance", "/api/v1/reference/lpr"):
        assert path in paths, path


# --------------------------------------------------------------------------- the new endpoints


def headers_for(client, email: str, roles=("fund_manager",)) -> dict:
    make_user(email, roles=roles)
    return {"Authorization": f"Bearer {api_token(client, email)}", "Accept-Language": "en"}


def test_panel_members_slots_and_criteria_after_creation(client):
    headers = headers_for(client, "m@example.cn")
    make_fund()
    roadshow = make_roadshow(panel=1)
    company = make_company(7)
    db.session.commit()
    url = f"/api/v1/roadshows/{roadshow.id}"

    nobody = client.post(f"{url}/panel", headers=headers, json={})
    assert nobody.status_code == 422 and "name" in nobody.get_json()["error"]["details"]
    added = client.post(f"{url}/panel", headers=headers,
                        json={"name": "王教授", "affiliation": "复旦大学", "name_en": "Prof. Wang"})
    assert added.status_code == 201, added.get_json()
    assert [m["name"] for m in added.get_json()["panel"]] == ["专家1", "王教授"]

    no_company = client.post(f"{url}/slots", headers=headers, json={"company_id": 99999})
    assert no_company.status_code == 422
    assert "company_id" in no_company.get_json()["error"]["details"]
    slotted = client.post(f"{url}/slots", headers=headers, json={"company_id": company.id})
    assert slotted.status_code == 201, slotted.get_json()
    assert [s["company_id"] for s in slotted.get_json()["slots"]] == [company.id]

    bad = client.put(f"{url}/criteria", headers=headers,
                     json={"criteria": [{"label": "技术", "weight_pct": "60"}]})
    assert bad.status_code == 422  # the weights must add up to 100%
    criteria = client.put(f"{url}/criteria", headers=headers, json={"criteria": [
        {"label": "技术", "weight_pct": "60"}, {"label": "市场", "weight_pct": "40"}]})
    assert criteria.status_code == 200, criteria.get_json()
    assert [Decimal(c["weight_pct"]) for c in criteria.get_json()["criteria"]] == [60, 40]

    auditor = headers_for(client, "a@example.cn", roles=("auditor",))
    assert client.post(f"{url}/panel", headers=auditor,
                       json={"name": "x"}).status_code == 403


def test_expert_reviews_and_an_ic_decision_by_hand(client):
    headers = headers_for(client, "m@example.cn")
    admin = headers_for(client, "admin@example.cn", roles=("admin",))
    make_fund()
    roadshow = make_roadshow(panel=3)
    deal = make_deal(make_company(3), roadshow)
    deal_ops.advance_deal(db.session, deal, DealStage.ROADSHOW, actor="test")
    db.session.commit()
    member_ids = [m.id for m in roadshow.panel]
    url = f"/api/v1/deals/{deal.id}"

    stranger = client.post(f"{url}/reviews", headers=headers,
                           json={"panel_member_id": 99999, "is_approved": True})
    assert stranger.status_code == 422
    assert "panel_member_id" in stranger.get_json()["error"]["details"]
    for member_id in member_ids:
        review = client.post(f"{url}/reviews", headers=headers,
                             json={"panel_member_id": member_id, "is_approved": True,
                                   "comment": "技术可行"})
        assert review.status_code == 201, review.get_json()
    assert review.get_json()["expert_quorum"]["approvals"] == 3
    assert db.session.scalar(select(LedgerEntry.seq).where(
        LedgerEntry.action.like("%review%"), LedgerEntry.subject_id == str(deal.id))) is not None

    early = client.post(f"{url}/ic-decision", headers=admin,
                        json={"ic_decision_ref": "IC-2026-07"})
    assert early.status_code == 409 and early.get_json()["error"]["details"]["rule"] == "R11"
    for stage in (DealStage.EXPERT_REVIEW, DealStage.DUE_DILIGENCE, DealStage.IC_DECISION):
        deal_ops.advance_deal(db.session, db.session.get(Deal, deal.id), stage, actor="test")
    db.session.commit()
    assert client.post(f"{url}/ic-decision", headers=headers,
                       json={"ic_decision_ref": "IC-2026-07"}).status_code == 403
    decided = client.post(f"{url}/ic-decision", headers=admin,
                          json={"ic_decision_ref": "IC-2026-07"})
    assert decided.status_code == 200, decided.get_json()
    assert decided.get_json()["ic_decision_ref"] == "IC-2026-07"


def test_reference_data_through_the_api(client):
    admin = headers_for(client, "admin@example.cn", roles=("admin",))
    day = client.post("/api/v1/reference/calendar", headers=admin,
                      json={"on": "2026-10-01", "is_working_day": False, "name": "国庆节"})
    assert day.status_code == 201, day.get_json()
    assert db.session.scalar(select(CalendarDay.name).where(
        CalendarDay.on == date(2026, 10, 1))) == "国庆节"
    removed = client.delete(f"/api/v1/reference/calendar/{day.get_json()['id']}", headers=admin)
    assert removed.status_code == 204
    assert db.session.scalar(select(CalendarDay.id)) is None

    bad = client.post("/api/v1/reference/lpr", headers=admin,
                      json={"published_on": "2026-10-20", "rate_pct": "99"})
    assert bad.status_code == 422 and "rate_pct" in bad.get_json()["error"]["details"]
    rate = client.post("/api/v1/reference/lpr", headers=admin,
                       json={"published_on": "2026-10-20", "rate_pct": "3.00%"})
    assert rate.status_code == 201, rate.get_json()
    assert db.session.scalar(select(LprRate.rate)) == Decimal("0.03")
    manager = headers_for(client, "m@example.cn")
    assert client.post("/api/v1/reference/lpr", headers=manager, json={
        "published_on": "2026-10-21", "rate_pct": "3"}).status_code == 403


def test_users_and_ones_own_profile_through_the_api(client):
    admin = headers_for(client, "admin@example.cn", roles=("admin",))
    manager = headers_for(client, "m@example.cn")
    user_id = db.session.scalar(select(User.id).where(User.email == "m@example.cn"))
    me_id = db.session.scalar(select(User.id).where(User.email == "admin@example.cn"))

    own = client.put(f"/api/v1/users/{me_id}", headers=admin,
                     json={"roles": ["admin"], "is_active": False})
    assert own.status_code == 422 and "is_active" in own.get_json()["error"]["details"]
    changed = client.put(f"/api/v1/users/{user_id}", headers=admin,
                         json={"roles": ["fund_manager", "ic_member"], "is_active": True,
                               "name_en": "Li Ming"})
    assert changed.status_code == 200, changed.get_json()
    assert client.put(f"/api/v1/users/{user_id}", headers=manager,
                      json={"roles": ["admin"], "is_active": True}).status_code == 403

    language = client.patch("/api/v1/me", headers=manager, json={"locale": "en"})
    assert language.status_code == 200, language.get_json()
    wrong = client.post("/api/v1/me/password", headers=manager,
                        json={"current_password": "not-it-at-all", "new_password": "x" * 16})
    assert wrong.status_code in (401, 403, 409, 422), wrong.get_json()


def test_the_meeting_page_forms_through_the_api(client, committee):  # noqa: F811
    c = committee
    deal_b = c["deals"][1]
    admin = {"Authorization": f"Bearer {api_token(client, 'admin@x.cn')}",
             "Accept-Language": "en"}
    chair = {"Authorization": f"Bearer {api_token(client, 'chair@x.cn')}",
             "Accept-Language": "en"}
    member = {"Authorization": f"Bearer {api_token(client, 'ic2@x.cn')}",
              "Accept-Language": "en"}
    created = client.post("/api/v1/ic/meetings", headers=admin, json={
        "title": "投决会", "held_on": MEETING_DAY.isoformat(), "chair_id": c["chair"].id,
        "member_ids": [c["member"].id], "deal_ids": [deal_b.id]})
    assert created.status_code == 201, created.get_json()
    url = f"/api/v1/ic/meetings/{created.get_json()['id']}"

    notes = client.post(f"{url}/deals/{deal_b.id}/notes", headers=admin,
                        json={"dd_summary": "尽调完成", "risks": "市场风险"})
    assert notes.status_code == 200, notes.get_json()
    assert client.post(f"{url}/deals/{deal_b.id}/notes", headers=member,
                       json={"dd_summary": "x"}).status_code == 403
    present = client.post(f"{url}/attendance", headers=chair,
                          json={"present_ids": [c["chair"].id, c["member"].id]})
    assert present.status_code == 200, present.get_json()
    conflict = client.post(f"{url}/deals/{deal_b.id}/conflict", headers=member,
                           json={"note": "曾任该公司顾问"})
    assert conflict.status_code == 201, conflict.get_json()
    assert [r["user_id"] for r in conflict.get_json()["recusals"]] == [c["member"].id]
    unsigned = client.post(f"{url}/minutes/reopen", headers=chair, json={"reason": "更正"})
    assert unsigned.status_code == 409 and unsigned.get_json()["error"]["code"] == "not_signed"
    assert client.post(f"{url}/minutes/reopen", headers=member,
                       json={"reason": "更正"}).status_code == 403
