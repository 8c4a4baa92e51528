"""Effective dates (issue 12): a fact takes the day it happened, checked against the rules of
that day, never after today nor before what it depends on; the ledger keeps both days."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from fundapp.compliance import exports as exports_module
from fundapp.compliance.ledger import canonical_json, entry_hash, verify_chain
from fundapp.compliance.models import LedgerEntry
from fundapp.compliance.verify_export import verify_export
from fundapp.dates import shanghai_today
from fundapp.deals import operations as ops
from fundapp.deals.models import Deal, DealStage, DealStageChange
from fundapp.errors import RuleRefused, ValidationFailed
from fundapp.extensions import db
from fundapp.fund.operations import create_policy_version
from fundapp.ic import operations as ic_ops
from fundapp.reference.models import CalendarDay
from tests.conftest import api_token, csrf_from, login, make_user
from tests.deals.factories import make_company, make_deal, make_fund, make_roadshow
from tests.ic.conftest import AT, MEETING_DAY, committee, fake_pdf  # noqa: F401 (fixtures)
from tests.portfolio import helpers as grant_helpers

OPENED = datetime(2024, 2, 1, 2, 0, tzinfo=UTC)  # the application came in on 2024-02-01


@pytest.fixture
def ctx(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield app


def entries(action: str) -> list[LedgerEntry]:
    return list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == action)
                                   .order_by(LedgerEntry.seq)))


def tomorrow() -> date:
    return shanghai_today() + timedelta(days=1)


def advance(deal, stage: DealStage, on: date):
    """The manager moves the deal, dated `on`."""
    return ops.advance_deal(db.session, deal, stage, actor="m@x.cn", on=on)


def history_deal(*, later_policy: bool = True):
    """A deal whose history happened in 2024, entered today in order with its past days."""
    make_fund()
    if later_policy:
        # A later policy shortens the notice to 5 working days: 2024's facts keep the 10 of 2024.
        create_policy_version(db.session, effective_on=date(2026, 1, 1),
                              values={"public_notice_working_days": 5}, approved_by="board",
                              ic_resolution_ref="IC-2026-01", actor="test")
    roadshow = make_roadshow(held_on=date(2024, 3, 1))
    deal = make_deal(make_company(), roadshow, now=OPENED)
    db.session.commit()
    return deal, roadshow


@pytest.fixture
def history(ctx):
    """`history_deal()` inside an English request."""
    return history_deal()


def decide_2024(deal, roadshow, ic_reference: str = "投决〔2024〕7号") -> None:
    """Roadshow, expert review and due diligence, up to the IC decision of 2024-03-25."""
    advance(deal, DealStage.ROADSHOW, date(2024, 2, 20))
    advance(deal, DealStage.EXPERT_REVIEW, date(2024, 3, 4))
    for member in roadshow.panel:
        ops.record_expert_review(db.session, deal, panel_member_id=member.id, is_approved=True,
                                 actor="m@x.cn", reviewed_on=date(2024, 3, 5))
    advance(deal, DealStage.DUE_DILIGENCE, date(2024, 3, 11))
    advance(deal, DealStage.IC_DECISION, date(2024, 3, 20))
    ops.record_ic_decision(db.session, deal, ic_reference, actor="admin@x.cn",
                           decided_on=date(2024, 3, 25))


def walk_2024(deal, roadshow) -> None:
    decide_2024(deal, roadshow)
    advance(deal, DealStage.PUBLIC_NOTICE, date(2024, 3, 26))


def test_a_2024_deal_history_is_entered_in_order_with_its_days(history):
    deal, roadshow = history
    # 2024-04-04 (清明) is a holiday in the calendar of that period: the notice ends a day later.
    db.session.add(CalendarDay(on=date(2024, 4, 4), is_working_day=False, name="清明节"))
    db.session.flush()
    walk_2024(deal, roadshow)
    assert deal.public_notice_started_on == date(2024, 3, 26)
    assert ops.shanghai_today(deal.stage_entered_at) == date(2024, 3, 26)

    # 10 working days of 2024's policy (not the 5 of 2026), counting the holiday: 2024-04-10.
    with pytest.raises(RuleRefused) as early:
        advance(deal, DealStage.AGREEMENT_SIGNED, date(2024, 4, 9))
    assert early.value.details["ends_on"] == "2024-04-10"
    advance(deal, DealStage.AGREEMENT_SIGNED, date(2024, 4, 10))
    db.session.commit()

    moves = entries("deal.stage_changed")
    signed = moves[-1]
    assert signed.happened_on == date(2024, 4, 10)
    assert signed.recorded_at.startswith(str(date.today().year))  # recorded now, not in 2024
    payload = json.loads(signed.payload)
    assert payload["policy"] == "default-1" and payload["to"] == "agreement_signed"
    assert json.loads(moves[-2].payload)["public_notice_started_on"] == "2024-03-26"
    decision = entries("deal.ic_decision_recorded")[-1]
    assert decision.happened_on == date(2024, 3, 25)
    assert {e.happened_on for e in entries("deal.expert_review_recorded")} == {date(2024, 3, 5)}
    assert verify_chain(db.session).ok


def test_today_uses_the_policy_in_force_today(history):
    """The same deal moved today counts the 5 working days of 2026's policy."""
    deal, roadshow = history
    walk_2024(deal, roadshow)
    with pytest.raises(RuleRefused) as refused:
        advance(deal, DealStage.AGREEMENT_SIGNED, date(2024, 4, 1))
    assert refused.value.details["missing"] == "public_notice_days"
    policy = ops.pipeline_policy(db.session, shanghai_today())
    assert policy.public_notice_working_days == 5
    assert ops.pipeline_policy(db.session, date(2024, 4, 1)).public_notice_working_days == 10


def test_a_day_after_today_or_before_what_it_depends_on_is_refused(history):
    deal, roadshow = history
    with pytest.raises(ValidationFailed) as future:
        advance(deal, DealStage.ROADSHOW, tomorrow())
    assert "on" in future.value.details
    advance(deal, DealStage.ROADSHOW, date(2024, 2, 20))
    # The next move cannot be dated before the day the deal reached the roadshow stage.
    with pytest.raises(ValidationFailed) as before:
        advance(deal, DealStage.EXPERT_REVIEW, date(2024, 2, 19))
    assert "2024-02-20" in before.value.details["on"][0]
    # Expert review before the roadshow was held is refused (R11).
    advance(deal, DealStage.EXPERT_REVIEW, date(2024, 3, 4))
    with pytest.raises(RuleRefused):
        ops.record_expert_review(db.session, deal, panel_member_id=roadshow.panel[0].id,
                                 is_approved=True, actor="m@x.cn", reviewed_on=date(2024, 2, 28))
    with pytest.raises(ValidationFailed):
        ops.record_expert_review(db.session, deal, panel_member_id=roadshow.panel[0].id,
                                 is_approved=True, actor="m@x.cn", reviewed_on=tomorrow())


def test_the_api_takes_the_day_of_a_move(client, app):
    with app.app_context():
        deal_id = history_deal(later_policy=False)[0].id
    headers = grant_helpers.manager_headers(client)
    moved = client.post(f"/api/v1/deals/{deal_id}/transitions",
                        json={"to_stage": "roadshow", "on": "2024-02-20"}, headers=headers)
    assert moved.status_code == 201, moved.get_json()
    future = client.post(f"/api/v1/deals/{deal_id}/transitions",
                         json={"to_stage": "expert_review", "on": tomorrow().isoformat()},
                         headers=headers)
    assert future.status_code == 422 and "on" in future.get_json()["error"]["details"]
    with app.app_context():
        entry = entries("deal.stage_changed")[-1]
        assert entry.happened_on == date(2024, 2, 20)


def test_a_2024_grant_uses_the_2024_policy_and_its_days(client, app):
    with app.app_context():
        grant_helpers.make_fund()
        # From 2025 the split changes: a grant signed in 2024 keeps the version of 2024.
        create_policy_version(db.session, effective_on=date(2025, 1, 1),
                              values={"tranche_split": ["0.50", "0.50"]}, approved_by="board",
                              ic_resolution_ref="IC-2025-01", actor="test")
        db.session.commit()
        deal_id = grant_helpers.make_deal().id
    headers = grant_helpers.manager_headers(client)
    made = client.post("/api/v1/grants", json=grant_helpers.grant_body(
        deal_id, signed_on="2024-06-01"), headers=headers)
    assert made.status_code == 201, made.get_json()
    grant_id = made.get_json()["id"]
    url = f"/api/v1/grants/{grant_id}/disbursements"
    before = client.post(url, json={"tranche": 1, "paid_on": "2024-05-31"}, headers=headers)
    assert before.status_code == 422 and "paid_on" in before.get_json()["error"]["details"]
    future = client.post(url, json={"tranche": 1, "paid_on": tomorrow().isoformat()},
                         headers=headers)
    assert future.status_code == 422
    paid = client.post(url, json={"tranche": 1, "paid_on": "2024-06-10"}, headers=headers)
    assert paid.status_code == 201, paid.get_json()
    with app.app_context():
        signed = entries("grant.signed")[-1]
        assert json.loads(signed.payload)["policy_version"] == "default-1"
        assert len(json.loads(signed.payload)["tranches"]) == 3  # 40/30/30 of 2024
        assert signed.happened_on == date(2024, 6, 1)
        released = entries("grant.tranche_released")[-1]
        assert released.happened_on == date(2024, 6, 10)
        assert released.recorded_at > "2026"
        assert verify_chain(db.session).ok


def test_the_hash_covers_happened_on_and_old_entries_still_verify():
    fields = {"seq": 5, "recorded_at": "2026-11-30T02:00:00.000000Z", "actor": "a",
              "action": "grant.tranche_released", "subject_type": "grant", "subject_id": "1",
              "payload": "{}", "prev_hash": "0" * 64}
    old = entry_hash(**fields)
    assert old == hashlib.sha256(canonical_json(fields).encode()).hexdigest()
    assert entry_hash(**fields, happened_on=None) == old  # entries without a day: as before
    dated = entry_hash(**fields, happened_on=date(2024, 6, 10))
    assert dated == hashlib.sha256(canonical_json(
        {**fields, "happened_on": "2024-06-10"}).encode()).hexdigest()
    assert dated != entry_hash(**fields, happened_on=date(2024, 6, 11))


def test_the_ledger_page_and_export_show_both_days(client, app, tmp_path):
    with app.test_request_context():
        deal, _roadshow = history_deal()
        advance(deal, DealStage.ROADSHOW, date(2024, 2, 20))
        db.session.commit()
        today = shanghai_today()
        scope = exports_module.ExportScope(today - timedelta(days=1), today)
        result = exports_module.create_export(db.session, scope, actor="test",
                                              destination=tmp_path / "bundle")
        db.session.commit()
        folder = result.path
        fingerprint = result.export.key_fingerprint
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == "fundapp-ledger-export/2"
    assert "happened_on" in manifest["entry_hash"]
    lines = [json.loads(line) for line in (folder / "entries.jsonl").read_text().splitlines()]
    moved = [e for e in lines if e.get("action") == "deal.stage_changed"]
    assert moved and moved[-1]["happened_on"] == "2024-02-20"
    rows = list(csv.DictReader(io.StringIO(
        (folder / "entries.csv").read_text(encoding="utf-8-sig"))))
    assert [r["happened_on"] for r in rows if r["action"] == "deal.stage_changed"] == \
        ["2024-02-20"]
    report = verify_export(folder, fingerprint=fingerprint)
    assert report.ok, report.lines()

    make_user("auditor@x.cn", roles=("auditor",))
    login(client, "auditor@x.cn")
    page = client.get("/compliance/ledger")
    assert page.status_code == 200
    assert "2024-02-20" in page.get_data(as_text=True)
    api = client.get("/api/v1/ledger", headers={
        "Authorization": f"Bearer {api_token(client, 'auditor@x.cn')}"})
    items = api.get_json()["items"]
    assert "2024-02-20" in {i["happened_on"] for i in items}


# ---------------------------------------------------------------- IC votes and decisions, opening


def ic_meeting(c):
    """The committee's meeting of 2026-03-20 on deal A (its manager recused), final pack, all
    present: ready for votes."""
    deal_a = c["deals"][0]
    meeting = ic_ops.create_meeting(
        db.session, actor="admin@x.cn", title="投决会", held_on=MEETING_DAY,
        chair_id=c["chair"].id, member_ids=[c["member"].id, c["manager"].id],
        deal_ids=[deal_a.id])
    ic_ops.generate_pack(db.session, meeting, actor="admin@x.cn", now=AT, is_final=True)
    ic_ops.record_attendance(db.session, meeting, [m.user_id for m in meeting.members],
                             actor="admin@x.cn")
    db.session.commit()
    return meeting


def test_ic_votes_and_decisions_take_their_day(ctx, committee, fake_pdf):  # noqa: F811
    c = committee
    meeting = ic_meeting(c)
    item = meeting.items[0]
    deal = item.deal
    for day in (MEETING_DAY - timedelta(days=1), tomorrow()):
        with pytest.raises(ValidationFailed) as refused:
            ic_ops.cast_vote(db.session, item, voter=c["chair"], choice="approve", voted_on=day)
        assert "voted_on" in refused.value.details
        db.session.rollback()
    ic_ops.cast_vote(db.session, item, voter=c["chair"], choice="approve", voted_on=MEETING_DAY)
    ic_ops.cast_vote(db.session, item, voter=c["member"], choice="approve",
                     voted_on=date(2026, 3, 23))
    db.session.commit()
    assert {ops.shanghai_today(v.cast_at) for v in item.votes} == {MEETING_DAY,
                                                                   date(2026, 3, 23)}
    votes = entries("ic.vote_cast")
    assert [e.happened_on for e in votes] == [MEETING_DAY, date(2026, 3, 23)]
    assert votes[-1].recorded_at > "2026-11"  # recorded now, beside the day it happened

    # Not after today, not before the meeting, not before the last vote.
    for day, words in ((tomorrow(), "future"), (MEETING_DAY - timedelta(days=1), "meeting"),
                       (MEETING_DAY, "last vote")):
        with pytest.raises(ValidationFailed) as refused:
            ic_ops.decide(db.session, item, actor="chair@x.cn", decided_on=day)
        assert words in refused.value.details["decided_on"][0]
        db.session.rollback()
    ic_ops.decide(db.session, item, actor="chair@x.cn", decided_on=date(2026, 3, 24))
    db.session.commit()
    assert deal.stage is DealStage.PUBLIC_NOTICE
    assert deal.ic_decided_on == date(2026, 3, 24)
    assert deal.public_notice_started_on == date(2026, 3, 24)
    assert ops.shanghai_today(item.decision.decided_at) == date(2026, 3, 24)
    assert entries("ic.decision_recorded")[-1].happened_on == date(2026, 3, 24)
    assert entries("deal.ic_decision_recorded")[-1].happened_on == date(2026, 3, 24)
    assert entries("deal.stage_changed")[-1].happened_on == date(2026, 3, 24)
    # The minutes are signed after the decision (now): the record verifies.
    ic_ops.sign_minutes(db.session, meeting, user=c["chair"])
    db.session.commit()
    assert verify_chain(db.session).ok


def test_the_ic_api_and_page_take_the_day(client, app, committee, fake_pdf):  # noqa: F811
    c = committee
    with app.test_request_context():
        meeting = ic_meeting(c)
        meeting_id, deal_id = meeting.id, meeting.items[0].deal_id
    chair = {"Authorization": f"Bearer {api_token(client, 'chair@x.cn')}",
             "Accept-Language": "en"}
    url = f"/api/v1/ic/meetings/{meeting_id}"
    early = client.post(f"{url}/votes", headers=chair, json={
        "deal_id": deal_id, "choice": "approve", "voted_on": "2026-03-19"})
    assert early.status_code == 422 and "voted_on" in early.get_json()["error"]["details"]
    voted = client.post(f"{url}/votes", headers=chair, json={
        "deal_id": deal_id, "choice": "approve", "voted_on": "2026-03-20"})
    assert voted.status_code == 201, voted.get_json()
    assert voted.get_json()["cast_at"].startswith("2026-03-20")

    # The member votes on the meeting page, dated the meeting's day.
    login(client, "ic2@x.cn")
    page = client.get(f"/ic/meetings/{meeting_id}")
    html = page.get_data(as_text=True)
    assert f'data-testid="voted-on-{deal_id}"' in html
    token = csrf_from(html)
    future = client.post(f"/ic/meetings/{meeting_id}/deals/{deal_id}/vote", data={
        "csrf_token": token, "choice": "approve",
        "voted_on": tomorrow().isoformat()})
    assert future.status_code == 422
    cast = client.post(f"/ic/meetings/{meeting_id}/deals/{deal_id}/vote", data={
        "csrf_token": token, "choice": "approve", "voted_on": "2026-03-20"})
    assert cast.status_code == 302

    future = client.post(f"{url}/decisions", headers=chair, json={
        "deal_id": deal_id, "decided_on": tomorrow().isoformat()})
    assert future.status_code == 422 and "decided_on" in future.get_json()["error"]["details"]
    decided = client.post(f"{url}/decisions", headers=chair,
                          json={"deal_id": deal_id, "decided_on": "2026-03-20"})
    assert decided.status_code == 201, decided.get_json()
    assert decided.get_json()["stage"] == "public_notice"
    with app.app_context():
        assert db.session.get(Deal, deal_id).ic_decided_on == MEETING_DAY
        assert entries("ic.decision_recorded")[-1].happened_on == MEETING_DAY


def test_a_public_notice_does_not_start_before_the_ic_decision(history):
    deal, roadshow = history
    decide_2024(deal, roadshow, "投决〔2024〕8号")
    assert deal.ic_decided_on == date(2024, 3, 25)
    with pytest.raises(ValidationFailed) as early:
        advance(deal, DealStage.PUBLIC_NOTICE, date(2024, 3, 24))
    assert "2024-03-25" in early.value.details["on"][0]
    advance(deal, DealStage.PUBLIC_NOTICE, date(2024, 3, 25))
    assert deal.public_notice_started_on == date(2024, 3, 25)


def test_a_deal_is_opened_on_its_day(ctx):
    make_fund()
    company = make_company()

    def open_on(day: date):
        return ops.create_deal(db.session, actor="m@x.cn", company_id=company.id,
                               project_name="量子传感", requested_grant_amount=Decimal("100000.00"),
                               approved_budget_amount=Decimal("400000.00"), opened_on=day)

    with pytest.raises(ValidationFailed) as future:
        open_on(tomorrow())
    assert "opened_on" in future.value.details
    deal = open_on(date(2024, 2, 1))
    db.session.commit()
    assert ops.shanghai_today(deal.stage_entered_at) == date(2024, 2, 1)
    changes = db.session.scalars(select(DealStageChange.changed_at)
                                 .where(DealStageChange.deal_id == deal.id)).all()
    assert [ops.shanghai_today(at) for at in changes] == [date(2024, 2, 1)]
    created = entries("deal.created")[-1]
    assert created.happened_on == date(2024, 2, 1) and created.recorded_at > "2026-11"
    # History follows from that day on.
    advance(deal, DealStage.ROADSHOW, date(2024, 2, 20))


def test_the_new_deal_page_and_api_take_the_opening_day(client, app):
    with app.app_context():
        make_fund()
        company_id = make_company().id
        db.session.commit()
    headers = grant_helpers.manager_headers(client)
    body = {"company_id": company_id, "project_name": "固态电池",
            "requested_grant_amount": "100000.00", "approved_budget_amount": "400000.00"}
    future = client.post("/api/v1/deals", headers=headers,
                         json={**body, "opened_on": tomorrow().isoformat()})
    assert future.status_code == 422 and "opened_on" in future.get_json()["error"]["details"]
    made = client.post("/api/v1/deals", headers=headers, json={**body, "opened_on": "2024-02-01"})
    assert made.status_code == 201, made.get_json()
    today_made = client.post("/api/v1/deals", headers=headers, json=body)
    assert today_made.status_code == 201
    with app.app_context():
        opened = entries("deal.created")
        assert [e.happened_on for e in opened] == [date(2024, 2, 1), None]

    make_user("pm@x.cn", roles=("fund_manager",), locale="en")
    login(client, "pm@x.cn")
    page = client.get("/deals/new")
    html = page.get_data(as_text=True)
    assert 'name="opened_on"' in html
    refused = client.post("/deals/new", data={**body, "csrf_token": csrf_from(html),
                                              "opened_on": tomorrow().isoformat()})
    assert refused.status_code == 422
    assert 'data-field="opened_on"' in refused.get_data(as_text=True)
    done = client.post("/deals/new", data={**body, "csrf_token": csrf_from(html),
                                           "opened_on": "2024-03-01"})
    assert done.status_code == 302
    with app.app_context():
        assert entries("deal.created")[-1].happened_on == date(2024, 3, 1)
