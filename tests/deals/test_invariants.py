"""The pipeline under concurrent requests and against the calendar, on SQLite and PostgreSQL.

A deal is locked before it is checked, so concurrent moves from one stage accept exactly one;
judges score only from the roadshow's day (Shanghai time); nothing that happened is dated after
today. Every refusal names what is wrong and writes nothing.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fundapp.compliance.ledger import verify_chain
from fundapp.compliance.models import LedgerEntry
from fundapp.dates import shanghai_today
from fundapp.deals import operations as ops
from fundapp.deals import roadshows
from fundapp.deals.models import (
    Company,
    Deal,
    DealStage,
    DealStageChange,
    ExpertReview,
    Score,
    ScoreSheet,
)
from fundapp.errors import RuleRefused, ValidationFailed
from fundapp.extensions import db
from tests.conftest import api_token, make_user
from tests.deals.factories import make_company, make_deal, make_fund, make_roadshow
from tests.isolation import isolated_client

EN = {"Accept-Language": "en"}
SCORES = {"technology": "8", "team": "7.5", "market": "6", "park_fit": "9", "policy_value": "10"}


def headers_for(client, email="m@example.cn") -> dict[str, str]:
    make_user(email, roles=("fund_manager",))
    return {"Authorization": f"Bearer {api_token(client, email)}", **EN}


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def ledger(action: str | None = None) -> int:
    return count(LedgerEntry, *([LedgerEntry.action == action] if action else []))


def race(app, n: int, send) -> list:
    """`send(client, i)` from n threads released at once; their responses, in no order."""
    barrier = threading.Barrier(n)
    responses: list = []

    def run(i: int) -> None:
        worker = isolated_client(app)
        barrier.wait()
        responses.append(send(worker, i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(responses) == n, "a request did not finish"
    db.session.expire_all()
    return responses


# ------------------------------------------------------------------------------ races


def test_twenty_concurrent_moves_from_one_stage_accept_exactly_one(app, client):
    headers = headers_for(client)
    make_fund()
    deal_id = make_deal(make_company(), make_roadshow()).id
    db.session.commit()
    targets = ["withdrawn", "roadshow", "declined", "on_hold"]

    def move(worker, i):
        return worker.post(f"/api/v1/deals/{deal_id}/transitions", headers=headers, json={
            "to_stage": targets[i % len(targets)], "expected_stage": "formal_check",
            "reason": f"mover {i}"})

    responses = race(app, 20, move)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, statuses
    accepted = next(r.get_json() for r in responses if r.status_code == 201)
    stage = accepted["to_stage"]
    label = ops.stage_label(DealStage(stage))
    for refused in (r.get_json()["error"] for r in responses if r.status_code == 409):
        assert refused["code"] == "stage_changed"
        assert refused["message"] == f"This deal was moved meanwhile: it is now at {label}."
        assert refused["details"]["stage"] == stage
    assert db.session.get(Deal, deal_id).stage is DealStage(stage)
    moves = db.session.execute(select(DealStageChange.from_stage, DealStageChange.to_stage)
                               .where(DealStageChange.deal_id == deal_id)
                               .order_by(DealStageChange.id)).all()
    assert moves == [(None, DealStage.FORMAL_CHECK), (DealStage.FORMAL_CHECK, DealStage(stage))]
    assert ledger("deal.stage_changed") == 1
    assert verify_chain(db.session).ok


def test_twenty_concurrent_identical_score_sheets_record_one(app, client):
    headers = headers_for(client)
    roadshow = make_roadshow()
    company = make_company()
    roadshows.add_slot(db.session, roadshow, company, actor="test")
    body = {"panel_member_id": roadshow.panel[0].id, "company_id": company.id,
            "scores": SCORES, "comment": "技术扎实"}
    url = f"/api/v1/roadshows/{roadshow.id}/scores"
    company_id = company.id
    db.session.commit()
    before = ledger()

    responses = race(app, 20, lambda worker, _i: worker.post(url, headers=headers, json=body))
    assert sorted(r.status_code for r in responses) == [201] * 20, \
        [r.get_json() for r in responses]
    assert count(ScoreSheet) == 1 and count(Score) == 5
    assert ledger("roadshow.scores_recorded") == 1 and ledger() == before + 1
    ranking = client.get(url, headers=headers).get_json()["ranking"]
    assert [(r["company_id"], r["count"]) for r in ranking] == [(company_id, 1)]
    assert verify_chain(db.session).ok


# ------------------------------------------------------------------------------ judging


def test_scores_before_the_roadshow_day_are_refused_and_nothing_is_written(client):
    headers = headers_for(client)
    tomorrow = shanghai_today() + timedelta(days=1)
    roadshow = make_roadshow(held_on=tomorrow)
    company = make_company()
    roadshows.add_slot(db.session, roadshow, company, actor="test")
    db.session.commit()
    before = ledger()
    response = client.post(f"/api/v1/roadshows/{roadshow.id}/scores", headers=headers, json={
        "panel_member_id": roadshow.panel[0].id, "company_id": company.id, "scores": SCORES})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "rule_refused" and error["details"]["rule"] == "R11"
    assert error["message"] == (
        f"R11: the roadshow 春季路演 is held on {tomorrow.isoformat()}; its judges score and "
        f"review from that day on (today is {shanghai_today().isoformat()}, Shanghai time).")
    assert count(ScoreSheet) == 0 and count(Score) == 0 and ledger() == before


def test_a_conflict_declaration_before_the_roadshow_day_is_refused_too(app):
    roadshow = make_roadshow(held_on=shanghai_today() + timedelta(days=7))
    company = make_company()
    roadshows.add_slot(db.session, roadshow, company, actor="test")
    with pytest.raises(RuleRefused) as refused:
        roadshows.record_score_sheet(db.session, roadshow, panel_member_id=roadshow.panel[0].id,
                                     company_id=company.id, has_conflict=True, actor="t")
    assert refused.value.details["missing"] == "roadshow_held"
    db.session.rollback()
    assert count(ScoreSheet) == 0


@pytest.mark.parametrize(("utc", "accepted"), [
    (datetime(2026, 2, 28, 15, 59, tzinfo=UTC), False),  # 23:59 on 28 February in Shanghai
    (datetime(2026, 2, 28, 16, 0, tzinfo=UTC), True),    # 00:00 on 1 March in Shanghai
])
def test_judges_score_from_the_roadshow_day_in_shanghai_time(app, utc, accepted):
    roadshow = make_roadshow(held_on=date(2026, 3, 1))
    company = make_company()
    roadshows.add_slot(db.session, roadshow, company, actor="test")
    db.session.commit()

    def score():
        return roadshows.record_score_sheet(
            db.session, roadshow, panel_member_id=roadshow.panel[0].id, company_id=company.id,
            scores={k: Decimal(v) for k, v in SCORES.items()}, actor="t", now=utc)

    if accepted:
        assert score().scores
    else:
        with pytest.raises(RuleRefused):
            score()
        db.session.rollback()
        assert count(ScoreSheet) == 0


def test_a_judge_scoring_on_the_roadshow_day_is_accepted_and_a_changed_sheet_replaces_it(client):
    headers = headers_for(client)
    roadshow = make_roadshow(held_on=shanghai_today())
    company = make_company()
    roadshows.add_slot(db.session, roadshow, company, actor="test")
    db.session.commit()
    url = f"/api/v1/roadshows/{roadshow.id}/scores"
    body = {"panel_member_id": roadshow.panel[0].id, "company_id": company.id, "scores": SCORES}
    assert client.post(url, headers=headers, json=body).status_code == 201
    changed = {**body, "scores": {**SCORES, "technology": "4"}}
    response = client.post(url, headers=headers, json=changed)
    assert response.status_code == 201
    assert response.get_json()["ranking"][0]["count"] == 1
    db.session.expire_all()
    assert count(ScoreSheet) == 1 and count(Score) == 5
    assert sorted(db.session.scalars(select(Score.value))) == [
        Decimal(4), Decimal(6), Decimal("7.5"), Decimal(9), Decimal(10)]
    assert ledger("roadshow.scores_recorded") == 2


def test_expert_reviews_before_the_roadshow_day_are_refused_and_nothing_is_written(app):
    make_fund()
    roadshow = make_roadshow(held_on=shanghai_today() + timedelta(days=3))
    deal = make_deal(make_company(), roadshow)
    ops.advance_deal(db.session, deal, DealStage.ROADSHOW, actor="m")
    db.session.commit()
    before = ledger()
    with pytest.raises(RuleRefused) as refused:
        ops.record_expert_review(db.session, deal, panel_member_id=roadshow.panel[0].id,
                                 is_approved=True, actor="m")
    assert refused.value.details["rule"] == "R11"
    assert "its judges score and review from that day on" in str(refused.value.message)
    db.session.rollback()
    assert count(ExpertReview) == 0 and ledger() == before


def test_a_scored_roadshow_cannot_move_into_the_future(app):
    roadshow = make_roadshow()
    company = make_company()
    roadshows.add_slot(db.session, roadshow, company, actor="test")
    roadshows.record_score_sheet(db.session, roadshow, panel_member_id=roadshow.panel[0].id,
                                 company_id=company.id, has_conflict=True, actor="t")
    db.session.commit()
    with pytest.raises(ValidationFailed) as refused:
        roadshows.update_roadshow(db.session, roadshow, actor="t",
                                  held_on=shanghai_today() + timedelta(days=1))
    assert refused.value.details == {"held_on": [
        "Judges have already scored at this roadshow, so it was held: its day cannot be after "
        "today."]}
    db.session.rollback()
    assert db.session.get(type(roadshow), roadshow.id).held_on == date(2026, 3, 1)
    roadshows.update_roadshow(db.session, roadshow, actor="t", held_on=date(2026, 3, 2))
    assert roadshow.held_on == date(2026, 3, 2)


# ------------------------------------------------------------------------------ dates


def test_a_move_dated_after_today_is_refused_and_nothing_is_written(app):
    make_fund()
    deal = make_deal(make_company(), make_roadshow())
    db.session.commit()
    before = ledger()
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(ValidationFailed) as refused:
        ops.advance_deal(db.session, deal, DealStage.ROADSHOW, actor="m", now=tomorrow)
    assert refused.value.status == 422
    assert list(refused.value.details) == ["changed_at"]
    assert shanghai_today(tomorrow).isoformat() in refused.value.details["changed_at"][0]
    db.session.rollback()
    assert db.session.get(Deal, deal.id).stage is DealStage.FORMAL_CHECK
    assert count(DealStageChange) == 1 and ledger() == before


def test_a_deal_opened_after_today_is_refused(app):
    company = make_company()
    db.session.commit()
    with pytest.raises(ValidationFailed) as refused:
        ops.create_deal(db.session, actor="t", company_id=company.id, project_name="项目",
                        requested_grant_amount=Decimal("100.00"),
                        approved_budget_amount=Decimal("1000.00"),
                        now=datetime.now(UTC) + timedelta(days=2))
    assert list(refused.value.details) == ["created_at"]
    db.session.rollback()
    assert count(Deal) == 0


def test_a_founding_date_after_today_is_refused_by_the_api_and_the_operation(client):
    headers = headers_for(client)
    tomorrow = shanghai_today() + timedelta(days=1)
    response = client.post("/api/v1/companies", headers=headers, json={
        "legal_name": "未来科技有限公司", "sector": "ai", "founded_on": tomorrow.isoformat()})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {
        "founded_on": ["The founding date is in the future."]}
    with pytest.raises(ValidationFailed) as refused:
        ops.create_company(db.session, actor="t", legal_name="未来科技有限公司", sector="ai",
                           founded_on=tomorrow)
    assert list(refused.value.details) == ["founded_on"]
    db.session.rollback()
    company = make_company()
    db.session.commit()
    with pytest.raises(ValidationFailed):
        ops.update_company(db.session, company, actor="t", founded_on=tomorrow)
    db.session.rollback()
    assert count(Company) == 1 and db.session.get(Company, company.id).founded_on is None


def test_an_ic_decision_on_a_moved_deal_is_refused_and_nothing_is_written(app):
    make_fund()
    deal = make_deal(make_company(), make_roadshow())
    db.session.commit()
    before = ledger()
    with pytest.raises(RuleRefused) as refused:
        ops.record_ic_decision(db.session, deal, "IC-1", actor="admin")
    assert "it is at Formal check" in str(refused.value.message)
    db.session.rollback()
    assert db.session.get(Deal, deal.id).ic_decision_ref == "" and ledger() == before


def test_the_score_form_before_the_roadshow_day_shows_why_and_writes_nothing(client):
    from tests.conftest import csrf_from, login

    make_user("judge@example.cn", roles=("fund_manager",))
    login(client, "judge@example.cn", **EN)
    roadshow = make_roadshow(held_on=shanghai_today() + timedelta(days=1))
    company = make_company()
    roadshows.add_slot(db.session, roadshow, company, actor="test")
    db.session.commit()
    url = f"/roadshows/{roadshow.id}"
    csrf = csrf_from(client.get(url, headers=EN).get_data(as_text=True))
    before = ledger()
    response = client.post(f"{url}/scores", headers=EN, follow_redirects=True, data={
        "csrf_token": csrf, "panel_member_id": roadshow.panel[0].id, "company_id": company.id,
        **{f"score_{code}": value for code, value in SCORES.items()}})
    assert response.status_code == 200
    assert "its judges score and review from that day on" in response.get_data(as_text=True)
    assert count(ScoreSheet) == 0 and ledger() == before


def test_the_board_moving_a_card_another_user_moved_meanwhile_is_a_409(client):
    from tests.conftest import csrf_from, login

    make_user("mover@example.cn", roles=("fund_manager",))
    login(client, "mover@example.cn", **EN)
    make_fund()
    deal = make_deal(make_company(), make_roadshow())
    ops.advance_deal(db.session, deal, DealStage.WITHDRAWN, actor="other", reason="撤回")
    db.session.commit()
    csrf = csrf_from(client.get("/deals/board", headers=EN).get_data(as_text=True))
    before = ledger()
    response = client.post(f"/deals/{deal.id}/move", headers={**EN, "Accept": "application/json"},
                           data={"csrf_token": csrf, "to_stage": "roadshow",
                                 "expected_stage": "formal_check"})
    assert response.status_code == 409
    assert response.get_json()["error"]["message"] == \
        "This deal was moved meanwhile: it is now at Withdrawn."
    assert ledger() == before and db.session.get(Deal, deal.id).stage is DealStage.WITHDRAWN
