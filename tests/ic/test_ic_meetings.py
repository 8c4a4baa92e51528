"""Meetings, recusal, votes on a pack version, the decision rule moving the deal, locked minutes."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
from sqlalchemy import select

from fundapp.compliance.ledger import verify_chain
from fundapp.compliance.models import LedgerEntry
from fundapp.deals.models import DealStage
from fundapp.errors import AppError, Forbidden, RuleRefused, ValidationFailed
from fundapp.extensions import db
from fundapp.ic import operations as ops
from tests.ic.conftest import AT, MEETING_DAY


def prepare(c, **extra):
    deal_a, deal_b = c["deals"]
    meeting = ops.create_meeting(
        db.session, actor="admin@x.cn", title="2026 年第 1 次投决会", held_on=MEETING_DAY,
        chair_id=c["chair"].id, member_ids=[c["member"].id, c["manager"].id],
        deal_ids=[deal_a.id, deal_b.id], **extra)
    db.session.commit()
    return meeting


def entries(action):
    return [json.loads(e.payload) for e in db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.action == action).order_by(LedgerEntry.seq))]


def test_a_full_meeting_moves_the_deals_and_locks_signed_minutes(app, committee, fake_pdf):
    c = committee
    deal_a, deal_b = c["deals"]
    meeting = prepare(c)
    item_a, item_b = meeting.items
    # the deal's own manager is recused automatically (R11)
    assert [(r.user_id, r.reason.value) for r in item_a.recusals] == [(c["manager"].id, "manager")]
    with pytest.raises(RuleRefused):
        ops.generate_pack(db.session, meeting, actor="admin@x.cn")
        ops.cast_vote(db.session, item_a, voter=c["manager"], choice="approve")
    db.session.rollback()
    ops.generate_pack(db.session, meeting, actor="admin@x.cn", now=AT, is_final=True)
    ops.cast_vote(db.session, item_a, voter=c["chair"], choice="approve")
    ops.generate_pack(db.session, meeting, actor="admin@x.cn", now=AT, is_final=True)  # v2
    ops.cast_vote(db.session, item_a, voter=c["member"], choice="approve_with_conditions",
                  conditions="首期拨款前完成知识产权转让")
    ops.decide(db.session, item_a, actor="chair@x.cn", now=AT)
    # deal B: a conflict is declared; the two others reject and abstain
    ops.declare_conflict(db.session, item_b, user_id=c["member"].id, note="曾任顾问",
                         actor="ic2@x.cn")
    ops.cast_vote(db.session, item_b, voter=c["chair"], choice="reject")
    ops.cast_vote(db.session, item_b, voter=c["manager"], choice="abstain")
    ops.decide(db.session, item_b, actor="chair@x.cn", now=AT)
    db.session.commit()

    assert [v.pack_version for v in item_a.votes] == [1, 2]
    assert item_a.outcome.value == "approved_with_conditions"
    assert "知识产权" in item_a.conditions
    assert deal_a.stage is DealStage.PUBLIC_NOTICE
    assert deal_a.ic_decision_ref == item_a.decision_ref == f"IC-20260320-M{meeting.id}-1"
    assert item_b.outcome.value == "rejected" and deal_b.stage is DealStage.DECLINED
    decisions = entries("ic.decision_recorded")
    assert [d["outcome"] for d in decisions] == ["approved_with_conditions", "rejected"]
    assert decisions[0]["approvals"] == 2 and decisions[0]["eligible"] == 2

    with pytest.raises(Forbidden):
        ops.sign_minutes(db.session, meeting, user=c["member"])
    minutes = ops.sign_minutes(db.session, meeting, user=c["chair"], now=AT)
    db.session.commit()
    assert minutes.sha256 == hashlib.sha256(minutes.pdf).hexdigest()
    assert entries("ic.minutes_signed")[-1]["sha256"] == minutes.sha256
    # locked: nothing in the record changes without a new version of the minutes
    with pytest.raises(AppError) as refused:
        ops.record_attendance(db.session, meeting, [c["chair"].id], actor="admin@x.cn")
    assert refused.value.code == "minutes_locked"
    ops.open_minutes_version(db.session, meeting, user=c["chair"], reason="更正出席记录")
    second = ops.sign_minutes(db.session, meeting, user=c["chair"], now=AT)
    db.session.commit()
    assert [m.version for m in meeting.minutes] == [1, 2] and second.is_signed
    assert verify_chain(db.session).ok


def test_no_quorum_and_missing_votes_are_refused(app, committee, fake_pdf):
    c = committee
    meeting = prepare(c, quorum="1/1")
    item_b = meeting.items[1]
    ops.generate_pack(db.session, meeting, actor="admin@x.cn", is_final=True)
    ops.cast_vote(db.session, item_b, voter=c["chair"], choice="approve")
    with pytest.raises(RuleRefused) as refused:
        ops.decide(db.session, item_b, actor="chair@x.cn")
    assert refused.value.details["missing"] == "quorum"
    ops.record_attendance(db.session, meeting, [m.user_id for m in meeting.members],
                          actor="admin@x.cn")
    with pytest.raises(AppError) as missing:
        ops.decide(db.session, item_b, actor="chair@x.cn")
    assert missing.value.code == "votes_missing"
    assert item_b.deal.stage is DealStage.IC_DECISION


def test_a_tie_is_not_a_majority(app, committee, fake_pdf):
    c = committee
    meeting = prepare(c)
    item_b = meeting.items[1]
    ops.generate_pack(db.session, meeting, actor="admin@x.cn", is_final=True)
    ops.cast_vote(db.session, item_b, voter=c["chair"], choice="approve")
    ops.cast_vote(db.session, item_b, voter=c["member"], choice="reject")
    ops.declare_conflict(db.session, item_b, user_id=c["manager"].id, note="", actor="mgr@x.cn")
    ops.decide(db.session, item_b, actor="chair@x.cn")
    assert item_b.outcome.value == "rejected"


def test_votes_need_a_pack_and_conditions(app, committee, fake_pdf):
    c = committee
    meeting = prepare(c)
    with pytest.raises(AppError) as no_pack:
        ops.cast_vote(db.session, meeting.items[1], voter=c["chair"], choice="approve")
    assert no_pack.value.code == "no_pack"
    ops.generate_pack(db.session, meeting, actor="admin@x.cn")
    with pytest.raises(ValidationFailed) as bad:
        ops.cast_vote(db.session, meeting.items[1], voter=c["chair"],
                      choice="approve_with_conditions", conditions=" ")
    assert "conditions" in bad.value.details


def test_only_deals_at_ic_decision_go_on_the_agenda(app, committee):
    c = committee
    deal_a, _ = c["deals"]
    from fundapp.deals import operations as deal_ops

    deal_ops.advance_deal(db.session, deal_a, DealStage.ON_HOLD, actor="t", reason="补材料")
    with pytest.raises(RuleRefused):
        ops.create_meeting(db.session, actor="a", title="x", held_on=date(2026, 3, 20),
                           chair_id=c["chair"].id, member_ids=[], deal_ids=[deal_a.id])
    with pytest.raises(ValidationFailed):  # an admin is not an IC member
        ops.create_meeting(db.session, actor="a", title="x", held_on=date(2026, 3, 20),
                           chair_id=c["admin"].id, member_ids=[], deal_ids=[c["deals"][1].id])
