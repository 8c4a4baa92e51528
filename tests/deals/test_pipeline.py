"""advance_deal: the R11 order, its gates, R2.a and R10.a; every move in history and ledger."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from fundapp.compliance.ledger import verify_chain
from fundapp.compliance.models import LedgerEntry
from fundapp.deals import operations as ops
from fundapp.deals import roadshows
from fundapp.deals.models import DealStage, DealStageChange
from fundapp.deals.schemas import IcDecisionSchema
from fundapp.errors import AppError, RuleRefused, ValidationFailed
from fundapp.extensions import db
from fundapp.inputs import load
from fundapp.reference.models import CalendarDay
from tests.deals.factories import make_company, make_deal, make_fund, make_roadshow

# 2026-03-02 is a Monday (Shanghai); the roadshow was held the day before.
MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)


def approve_all(deal, roadshow, count=None):
    for member in roadshow.panel[:count]:
        ops.record_expert_review(db.session, deal, panel_member_id=member.id, is_approved=True,
                                 actor="test")


def walk_to(deal, roadshow, stage: DealStage, now=MONDAY):
    """Move a deal forward, satisfying each gate on the way."""
    order = [DealStage.ROADSHOW, DealStage.EXPERT_REVIEW, DealStage.DUE_DILIGENCE,
             DealStage.IC_DECISION, DealStage.PUBLIC_NOTICE]
    for target in order:
        if target is DealStage.DUE_DILIGENCE:
            approve_all(deal, roadshow)
        if target is DealStage.PUBLIC_NOTICE:
            ops.record_ic_decision(db.session, deal, "IC-2026-07", actor="admin@x.cn")
        ops.advance_deal(db.session, deal, target, actor="m@x.cn", now=now)
        if target is stage:
            return


@pytest.fixture
def setup(app):
    make_fund()
    roadshow = make_roadshow()
    company = make_company()
    deal = make_deal(company, roadshow)
    db.session.commit()
    return deal, roadshow


def test_full_walk_to_signed_records_every_move(app, setup):
    deal, roadshow = setup
    walk_to(deal, roadshow, DealStage.PUBLIC_NOTICE)
    assert deal.public_notice_started_on == date(2026, 3, 2)
    # 10 working days after Monday 2 March: Monday 16 March.
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, deal, DealStage.AGREEMENT_SIGNED, actor="m@x.cn",
                         now=at(date(2026, 3, 13)))
    assert refused.value.details["rule"] == "R11"
    assert "2026-03-16" in str(refused.value.message)
    assert "9 of 10 working days" in str(refused.value.message)
    ops.advance_deal(db.session, deal, DealStage.AGREEMENT_SIGNED, actor="m@x.cn",
                     reason="signed", now=at(date(2026, 3, 16)))
    db.session.commit()
    history = db.session.scalars(select(DealStageChange).where(
        DealStageChange.deal_id == deal.id).order_by(DealStageChange.id)).all()
    assert [h.to_stage for h in history] == [
        DealStage.FORMAL_CHECK, DealStage.ROADSHOW, DealStage.EXPERT_REVIEW,
        DealStage.DUE_DILIGENCE, DealStage.IC_DECISION, DealStage.PUBLIC_NOTICE,
        DealStage.AGREEMENT_SIGNED]
    moves = db.session.scalars(select(LedgerEntry).where(
        LedgerEntry.action == "deal.stage_changed")).all()
    assert len(moves) == 6
    last = json.loads(moves[-1].payload)
    assert last["to"] == "agreement_signed" and "R11 public notice" in last["checks"]
    assert verify_chain(db.session).ok


def test_holiday_in_calendar_lengthens_public_notice(app, setup):
    deal, roadshow = setup
    db.session.add(CalendarDay(on=date(2026, 3, 4), is_working_day=False, name="假日"))
    walk_to(deal, roadshow, DealStage.PUBLIC_NOTICE)
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, deal, DealStage.AGREEMENT_SIGNED, actor="m",
                         now=at(date(2026, 3, 16)))
    assert "2026-03-17" in str(refused.value.message)
    ops.advance_deal(db.session, deal, DealStage.AGREEMENT_SIGNED, actor="m",
                     now=at(date(2026, 3, 17)))


def test_skipping_a_stage_is_refused_and_names_the_next(app, setup):
    deal, _ = setup
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, deal, DealStage.EXPERT_REVIEW, actor="m", now=MONDAY)
    assert refused.value.details == {"rule": "R11", "next_stage": "roadshow"}
    assert "Roadshow" in str(refused.value.message)
    with pytest.raises(RuleRefused):
        ops.advance_deal(db.session, deal, DealStage.AGREEMENT_SIGNED, actor="m", now=MONDAY)


def test_going_back_is_refused(app, setup):
    deal, roadshow = setup
    walk_to(deal, roadshow, DealStage.EXPERT_REVIEW)
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, deal, DealStage.ROADSHOW, actor="m", now=MONDAY)
    assert refused.value.details["next_stage"] == "due_diligence"


def test_expert_review_needs_quorum_of_unconflicted_panel(app, setup):
    deal, roadshow = setup
    walk_to(deal, roadshow, DealStage.EXPERT_REVIEW)
    first, second, third = roadshow.panel
    ops.record_expert_review(db.session, deal, panel_member_id=first.id, is_approved=True,
                             actor="m")
    ops.record_expert_review(db.session, deal, panel_member_id=second.id, is_approved=False,
                             actor="m")
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, deal, DealStage.DUE_DILIGENCE, actor="m", now=MONDAY)
    assert refused.value.details["missing"] == "expert_quorum"
    assert "needs 2 approving reviews of 3 panel members; it has 1" in str(refused.value.message)
    # The third judge declares a conflict: 2 eligible, quorum ceil(4/3) = 2, still 1 approval.
    roadshows.record_score_sheet(db.session, roadshow, panel_member_id=third.id,
                           company_id=deal.company_id, has_conflict=True, actor="m")
    with pytest.raises(RuleRefused) as refused:
        ops.record_expert_review(db.session, deal, panel_member_id=third.id, is_approved=True,
                                 actor="m")
    assert "recused" in str(refused.value.message)
    ops.record_expert_review(db.session, deal, panel_member_id=second.id, is_approved=True,
                             actor="m")
    ops.advance_deal(db.session, deal, DealStage.DUE_DILIGENCE, actor="m", now=MONDAY)
    assert deal.stage is DealStage.DUE_DILIGENCE


def test_roadshow_stage_needs_a_held_roadshow_with_a_slot(app):
    make_fund()
    company = make_company()
    deal = make_deal(company)  # no roadshow
    ops.advance_deal(db.session, deal, DealStage.ROADSHOW, actor="m", now=MONDAY)
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, deal, DealStage.EXPERT_REVIEW, actor="m", now=MONDAY)
    assert refused.value.details["missing"] == "roadshow"
    later = make_roadshow(held_on=date(2026, 5, 1), name="夏季路演")
    ops.update_deal(db.session, deal, actor="m", roadshow_id=later.id)
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, deal, DealStage.EXPERT_REVIEW, actor="m", now=MONDAY)
    assert refused.value.details["missing"] == "roadshow_slot"
    roadshows.add_slot(db.session, later, company, actor="m")
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, deal, DealStage.EXPERT_REVIEW, actor="m", now=MONDAY)
    assert "2026-05-01" in str(refused.value.message)


def test_public_notice_needs_ic_decision_reference(app, setup):
    deal, roadshow = setup
    walk_to(deal, roadshow, DealStage.IC_DECISION)
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, deal, DealStage.PUBLIC_NOTICE, actor="m", now=MONDAY)
    assert refused.value.details["missing"] == "ic_decision_ref"
    for blank_or_long in ("  ", "号" * 101):  # IcDecisionSchema: 1 to 100 characters
        with pytest.raises(ValidationFailed) as failed:
            load(IcDecisionSchema(), {"ic_decision_ref": blank_or_long})
        assert list(failed.value.details) == ["ic_decision_ref"]
    ops.record_ic_decision(db.session, deal, **load(IcDecisionSchema(),
                                                    {"ic_decision_ref": " IC-2026-01 "}),
                           actor="admin")
    assert deal.ic_decision_ref == "IC-2026-01"
    ops.advance_deal(db.session, deal, DealStage.PUBLIC_NOTICE, actor="m", now=MONDAY)


def test_r2a_caps_absolute_and_half_of_budget(app):
    make_fund()
    roadshow = make_roadshow()
    too_big = make_deal(make_company(1), roadshow, requested="5000000.01", budget="20000000.00")
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, too_big, DealStage.ROADSHOW, actor="m", now=MONDAY)
    assert refused.value.details["rule"] == "R2.a"
    assert "5,000,000.01" in str(refused.value.message)
    over_half = make_deal(make_company(2), roadshow, requested="2000000.01", budget="4000000.00")
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, over_half, DealStage.ROADSHOW, actor="m", now=MONDAY)
    assert refused.value.details == {"rule": "R2.a", "requested": "2000000.01",
                                     "limit": "2000000.00"}
    exactly = make_deal(make_company(3), roadshow, requested="2000000.00", budget="4000000.00")
    ops.advance_deal(db.session, exactly, DealStage.ROADSHOW, actor="m", now=MONDAY)


def test_r10a_counts_all_of_a_companys_deals(app):
    make_fund("30000000.00")  # 10% = 3,000,000.00
    company = make_company()
    first = make_deal(company, requested="2000000.00", budget="5000000.00")
    ops.advance_deal(db.session, first, DealStage.ROADSHOW, actor="m", now=MONDAY)
    second = make_deal(company, requested="1000000.01", budget="5000000.00",
                       project_name="第二个项目")
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, second, DealStage.ROADSHOW, actor="m", now=MONDAY)
    assert refused.value.details["rule"] == "R10.a"
    assert "3,000,000.01" in str(refused.value.message)
    ops.advance_deal(db.session, first, DealStage.WITHDRAWN, actor="m", reason="merged",
                     now=MONDAY)
    ops.advance_deal(db.session, second, DealStage.ROADSHOW, actor="m", now=MONDAY)


def test_no_fund_refuses_under_r10a(app):
    deal = make_deal(make_company())
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, deal, DealStage.ROADSHOW, actor="m", now=MONDAY)
    assert refused.value.details["rule"] == "R10.a"


def test_hold_and_return_only_to_held_stage(app, setup):
    deal, roadshow = setup
    walk_to(deal, roadshow, DealStage.EXPERT_REVIEW)
    with pytest.raises(ValidationFailed) as failed:
        ops.advance_deal(db.session, deal, DealStage.ON_HOLD, actor="m", now=MONDAY)
    assert "reason" in failed.value.details
    ops.advance_deal(db.session, deal, DealStage.ON_HOLD, actor="m", reason="等待补充材料",
                     now=MONDAY)
    assert deal.held_from_stage is DealStage.EXPERT_REVIEW
    with pytest.raises(RuleRefused) as refused:
        ops.advance_deal(db.session, deal, DealStage.DUE_DILIGENCE, actor="m", now=MONDAY)
    assert refused.value.details["returns_to"] == "expert_review"
    ops.advance_deal(db.session, deal, DealStage.EXPERT_REVIEW, actor="m", now=MONDAY)
    assert deal.stage is DealStage.EXPERT_REVIEW and deal.held_from_stage is None


def test_declined_is_final(app, setup):
    deal, _ = setup
    ops.advance_deal(db.session, deal, DealStage.DECLINED, actor="m", reason="不符合方向",
                     now=MONDAY)
    with pytest.raises(RuleRefused):
        ops.advance_deal(db.session, deal, DealStage.ROADSHOW, actor="m", now=MONDAY)


def test_stale_expected_stage_is_a_conflict(app, setup):
    deal, _ = setup
    with pytest.raises(AppError) as err:
        ops.advance_deal(db.session, deal, DealStage.EXPERT_REVIEW, actor="m",
                         expected_stage=DealStage.ROADSHOW, now=MONDAY)
    assert err.value.status == 409 and err.value.code == "stage_changed"


def test_refused_move_writes_nothing(app, setup):
    deal, _ = setup
    before = db.session.scalar(select(LedgerEntry.seq).order_by(LedgerEntry.seq.desc()).limit(1))
    with pytest.raises(RuleRefused):
        ops.advance_deal(db.session, deal, DealStage.IC_DECISION, actor="m", now=MONDAY)
    db.session.rollback()
    after = db.session.scalar(select(LedgerEntry.seq).order_by(LedgerEntry.seq.desc()).limit(1))
    assert before == after
    assert deal.stage is DealStage.FORMAL_CHECK
    assert deal.requested_grant_amount == Decimal("1000000.00")
