"""Demo: a past IC meeting (votes, decisions, final pack, signed minutes), an upcoming one with a
draft pack, and last quarter's portfolio report. Made through the real operations."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.auth.models import User
from fundapp.deals.models import Deal, DealStage
from fundapp.ic import operations as ops
from fundapp.ic.models import IcMeeting
from fundapp.ic.quarterly import generate_quarterly_report, previous_quarter

ACTOR = "manager@demo.fundapp.cn"


def _user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email))


def load_ic_demo(session: Session) -> None:
    if session.scalar(select(IcMeeting.id).limit(1)) is not None:
        return
    chair, member, manager2 = (_user(session, e) for e in (
        "ic@demo.fundapp.cn", "ic2@demo.fundapp.cn", "manager2@demo.fundapp.cn"))
    deals = list(session.scalars(select(Deal).where(Deal.stage == DealStage.IC_DECISION)
                                 .order_by(Deal.id)).unique())
    now = datetime.now(UTC).replace(microsecond=0)
    if chair and member and manager2 and len(deals) >= 2:
        members = [member.id, manager2.id]
        past_day = (now - timedelta(days=10)).date()
        past_at = datetime.combine(past_day, time(2, 0), tzinfo=UTC)
        past = ops.create_meeting(session, actor=ACTOR, title=f"{past_day.year} 年第 1 次投决会",
                                  title_en=f"IC meeting no. 1 of {past_day.year}",
                                  location_en="Zhangjiang Science Hall, 3rd floor",
                                  held_on=past_day, location="张江科学会堂 3 楼",
                                  chair_id=chair.id, member_ids=members,
                                  deal_ids=[d.id for d in deals[:2]])
        for item in past.items:
            ops.set_item_notes(session, item, actor=ACTOR,
                               dd_summary="核心团队稳定，知识产权清晰；财务核查未见异常。",
                               risks="技术产业化周期较长；后续融资存在不确定性。")
        ops.generate_pack(session, past, actor=ACTOR, is_final=True,
                          now=past_at - timedelta(days=3))
        ops.record_attendance(session, past, [m.user_id for m in past.members], actor=ACTOR)
        first, second = past.items
        voters = [m.user for m in past.members]
        for user in voters:
            if user.id in {r.user_id for r in first.recusals}:
                continue
            choice = "approve_with_conditions" if user.id == member.id else "approve"
            ops.cast_vote(session, first, voter=user, choice=choice, now=past_at,
                          conditions="首期拨款前完成核心专利权属变更" if choice != "approve" else "")
        for user in voters:
            if user.id in {r.user_id for r in second.recusals}:
                continue
            ops.cast_vote(session, second, voter=user,
                          choice="reject" if user.id != manager2.id else "abstain", now=past_at)
        for item in past.items:
            ops.decide(session, item, actor=chair.email, now=past_at)
        # what the minutes record besides the votes: times, the recorder, the discussion
        ops.record_minutes_details(
            session, past, user=chair, now=past_at + timedelta(hours=3),
            started_at=past_at - timedelta(minutes=30), ended_at=past_at + timedelta(hours=2),
            recorder_id=manager2.id, discussions={
                first.deal_id: "委员关注核心专利权属及首期拨款节奏；项目经理说明专利转让协议已签署、"
                               "待登记。委员一致认为技术路线清晰，建议以专利权属变更为首期拨款前提。",
                second.deal_id: "委员认为样机验证数据不足、商业化路径不清晰，预算中市场推广占比偏高；"
                                "建议企业完成第三方测试后再行申报。"})
        ops.sign_minutes(session, past, user=chair, now=past_at + timedelta(hours=4))
        if len(deals) >= 3:
            next_day = (now + timedelta(days=7)).date()
            upcoming = ops.create_meeting(session, actor=ACTOR,
                                          title=f"{next_day.year} 年第 2 次投决会",
                                          title_en=f"IC meeting no. 2 of {next_day.year}",
                                          location_en="Zhangjiang Science Hall, 3rd floor",
                                          held_on=next_day, location="张江科学会堂 3 楼",
                                          chair_id=chair.id, member_ids=members,
                                          deal_ids=[d.id for d in deals[2:4]])
            ops.generate_pack(session, upcoming, actor=ACTOR, now=now)
    generate_quarterly_report(session, previous_quarter(now.date()), actor="demo", now=now)
