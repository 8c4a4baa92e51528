"""No dead ends (issue 12): a refusal that waits on another person's step says who does it and
links to where it is done, in the error envelope and on the page, in the reader's language."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from fundapp.deals import operations as ops
from fundapp.deals.models import DealStage
from fundapp.extensions import db
from fundapp.ic import operations as ic_ops
from tests.conftest import api_token, csrf_from, login, make_user
from tests.deals.factories import make_company, make_deal, make_fund, make_roadshow
from tests.portfolio import helpers as portfolio

MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def deal_at_ic(app) -> int:
    """A deal at "IC decision" with no decision recorded."""
    with app.test_request_context():
        make_fund()
        roadshow = make_roadshow()
        deal = make_deal(make_company(), roadshow)
        for target in (DealStage.ROADSHOW, DealStage.EXPERT_REVIEW, DealStage.DUE_DILIGENCE,
                       DealStage.IC_DECISION):
            if target is DealStage.DUE_DILIGENCE:
                for member in roadshow.panel:
                    ops.record_expert_review(db.session, deal, panel_member_id=member.id,
                                             is_approved=True, actor="test")
            ops.advance_deal(db.session, deal, target, actor="test", now=MONDAY)
        db.session.commit()
        return deal.id


def move_to_notice(client, deal_id: int, headers: dict):
    return client.post(f"/api/v1/deals/{deal_id}/transitions",
                       json={"to_stage": "public_notice"}, headers=headers)


def test_the_missing_ic_decision_names_the_committee_and_links_to_its_meeting(app, client):
    deal_id = deal_at_ic(app)
    make_user("manager@x.cn", roles=("fund_manager",))
    headers = {"Authorization": f"Bearer {api_token(client, 'manager@x.cn')}",
               "Accept-Language": "en"}

    # Not on any meeting's agenda yet: the link goes to the IC meetings, to schedule it.
    refused = move_to_notice(client, deal_id, headers)
    assert refused.status_code == 409
    details = refused.get_json()["error"]["details"]
    assert details["rule"] == "R11" and details["missing"] == "ic_decision_ref"
    assert details["who"] == "the investment committee, at an IC meeting"
    assert details["link"] == "/ic/meetings"
    assert details["next_step"].startswith("This step is done by the investment committee")
    assert "IC meeting" in refused.get_json()["error"]["message"]

    # On a meeting's agenda: the link goes to that meeting.
    with app.test_request_context():
        chair = make_user("chair@x.cn", roles=("ic_member",))
        meeting = ic_ops.create_meeting(db.session, actor="test", title="第一次投决会",
                                        held_on=date(2026, 12, 10), chair_id=chair.id,
                                        member_ids=[chair.id], deal_ids=[deal_id])
        db.session.commit()
        meeting_id = meeting.id
    details = move_to_notice(client, deal_id, headers).get_json()["error"]["details"]
    assert details["link"] == f"/ic/meetings/{meeting_id}"
    assert details["link_label"] == "Open the IC meeting of 2026-12-10"

    # Chinese readers get the sentence in Chinese (once the lead fills the catalogue).
    chinese = move_to_notice(client, deal_id, {**headers, "Accept-Language": "zh"})
    assert chinese.get_json()["error"]["details"]["link"] == f"/ic/meetings/{meeting_id}"


def test_the_deal_page_shows_who_and_the_link(app, client):
    deal_id = deal_at_ic(app)
    make_user("manager@x.cn", roles=("fund_manager",), locale="en")
    login(client, "manager@x.cn")
    page = client.get(f"/deals/{deal_id}")
    token = csrf_from(page.get_data(as_text=True))
    moved = client.post(f"/deals/{deal_id}/move", data={
        "csrf_token": token, "to_stage": "public_notice", "expected_stage": "ic_decision"},
        follow_redirects=True)
    html = moved.get_data(as_text=True)
    assert "This step is done by the investment committee, at an IC meeting." in html
    link = re.search(r'<a href="([^"]+)" data-testid="next-step-link">([^<]+)</a>', html)
    assert link and link.group(1) == "/ic/meetings"

    # The board's drag and drop gets the envelope (JSON), shown on the card by board.js.
    card = client.post(f"/deals/{deal_id}/move", data={"to_stage": "public_notice"},
                       headers={"Accept": "application/json", "X-CSRFToken": token})
    assert card.status_code == 409
    assert card.get_json()["error"]["details"]["link"] == "/ic/meetings"


def test_the_error_page_shows_the_next_step(app):
    from fundapp.errors import RuleRefused, error_response

    with app.test_request_context("/deals/1/move", headers={"Accept": "text/html"}):
        error = RuleRefused("R11", "refused", who="the investment committee",
                            link=("ic.meetings", {}), link_label="IC meetings")
        body, status, _headers = error_response(error.status, error.code, error.message,
                                                error.details)
    assert status == 409
    assert 'data-testid="error-next-step"' in body
    assert '<a href="/ic/meetings" data-testid="next-step-link">IC meetings</a>' in body
    assert "<strong>who</strong>" not in body  # shown as a sentence, not as raw details


def test_a_mark_is_finalised_by_a_second_manager_the_refusal_says_so(app, client):
    make_user("manager@x.cn", roles=("fund_manager",), locale="en")
    headers = {"Authorization": f"Bearer {api_token(client, 'manager@x.cn')}",
               "Accept-Language": "en"}
    with app.app_context():
        portfolio.make_fund()
        deal = portfolio.make_deal()
        company_id = deal.company_id
    made = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "follow_on", "on": "2025-07-01", "amount": "1000000.00", "units": "100000.00",
        "company_id": company_id, "reference": "FO-1"})
    assert made.status_code == 201, made.get_json()
    holding_id = made.get_json()["holding_id"]
    mark = client.post(f"/api/v1/holdings/{holding_id}/marks", headers=headers, json={
        "measured_on": "2025-12-31", "method": "recent_round", "value_per_unit": "12.00"})
    assert mark.status_code == 201, mark.get_json()
    own = client.post(f"/api/v1/marks/{mark.get_json()['id']}/finalise", headers=headers)
    assert own.status_code == 409
    details = own.get_json()["error"]["details"]
    assert details["rule"] == "four_eyes"
    assert details["who"] == "a second fund manager, not the mark's author"
    assert details["link"] == f"/portfolio/holdings/{holding_id}"


def test_a_missing_lpr_names_the_administrator_and_the_lpr_table(app, client):
    make_user("manager@x.cn", roles=("fund_manager",), locale="en")
    headers = {"Authorization": f"Bearer {api_token(client, 'manager@x.cn')}",
               "Accept-Language": "en"}
    with app.app_context():
        portfolio.make_fund()
        deal_id = portfolio.make_deal().id
    made = client.post("/api/v1/grants", json=portfolio.grant_body(deal_id), headers=headers)
    assert made.status_code == 201, made.get_json()
    breach = client.post(f"/api/v1/grants/{made.get_json()['id']}/breach", headers=headers,
                         json={"breach_on": "2025-07-01", "reason": "挪用资金",
                               "repaid_on": "2025-08-01"})
    assert breach.status_code == 409, breach.get_json()
    details = breach.get_json()["error"]["details"]
    assert details["who"] == "an administrator" and details["link"] == "/reference/lpr"


def test_missing_votes_name_the_members_and_link_to_the_meeting(app, client):
    deal_id = deal_at_ic(app)
    with app.test_request_context():
        chair = make_user("chair@x.cn", roles=("ic_member",), name="陈主任", locale="en")
        member = make_user("ic2@x.cn", roles=("ic_member",), name="赵委员", locale="en")
        meeting = ic_ops.create_meeting(db.session, actor="test", title="第一次投决会",
                                        held_on=date(2026, 3, 20), chair_id=chair.id,
                                        member_ids=[chair.id, member.id], deal_ids=[deal_id])
        db.session.commit()
        meeting_id, member_id = meeting.id, member.id
    chair_headers = {"Authorization": f"Bearer {api_token(client, 'chair@x.cn')}",
                     "Accept-Language": "en"}
    url = f"/api/v1/ic/meetings/{meeting_id}"

    # No final pack yet: a vote waits on the secretariat's pack.
    early = client.post(f"{url}/votes", headers=chair_headers,
                        json={"deal_id": deal_id, "choice": "approve"})
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "no_pack"
    details = early.get_json()["error"]["details"]
    assert details["who"] == "a fund manager or admin, who prepares the meeting's pack"
    assert details["link"] == f"/ic/meetings/{meeting_id}"

    with app.test_request_context():
        meeting = ic_ops.get_meeting(db.session, meeting_id)
        ic_ops.generate_pack(db.session, meeting, actor="test", is_final=True)
        ic_ops.record_attendance(db.session, meeting, [m.user_id for m in meeting.members],
                                 actor="test")
        db.session.commit()
    assert client.post(f"{url}/votes", headers=chair_headers,
                       json={"deal_id": deal_id, "choice": "approve"}).status_code == 201
    refused = client.post(f"{url}/decisions", headers=chair_headers, json={"deal_id": deal_id})
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "votes_missing"
    assert error["details"]["not_voted_ids"] == [member_id]
    assert "赵委员" in error["details"]["who"]
    assert error["details"]["link"] == f"/ic/meetings/{meeting_id}"
    assert error["details"]["link_label"] == "The meeting's votes"

    # On the meeting page, the chair sees who and the link at the top.
    login(client, "chair@x.cn")
    page = client.get(f"/ic/meetings/{meeting_id}")
    html = client.post(f"/ic/meetings/{meeting_id}/deals/{deal_id}/decide", data={
        "csrf_token": csrf_from(page.get_data(as_text=True))}).get_data(as_text=True)
    assert "This step is done by the members who have not voted yet (赵委员)" in html
    link = re.search(r'<a href="([^"]+)" data-testid="next-step-link">([^<]+)</a>', html)
    assert link and link.group(1) == f"/ic/meetings/{meeting_id}"


def test_a_grant_on_a_deal_not_yet_signed_names_the_deal_manager(app, client):
    deal_id = deal_at_ic(app)
    make_user("manager@x.cn", roles=("fund_manager",), locale="en")
    headers = {"Authorization": f"Bearer {api_token(client, 'manager@x.cn')}",
               "Accept-Language": "en"}
    refused = client.post("/api/v1/grants", json=portfolio.grant_body(deal_id), headers=headers)
    assert refused.status_code == 409, refused.get_json()
    details = refused.get_json()["error"]["details"]
    assert details["who"] == "the deal's fund manager, who moves it on the board"
    assert details["link"] == f"/deals/{deal_id}"
