"""Demo grants in every state: disbursing, R&D accepted, converted (R5.a-d), closed, in breach.

Runs through the same operations as the pages and the API, so every figure and ledger entry in
the demo is one the app itself produced.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.deals.models import Company, Deal, DealStage, LegalForm
from fundapp.portfolio import operations as ops
from fundapp.portfolio.models import Grant
from fundapp.reference.models import LprRate

ACTOR = "demo"
PLATFORM = "区科创投资平台有限公司"
D = Decimal

# (company, project) of the companies the demo creates when the pipeline has none left.
COMPANIES = [
    ("曜石量子科技有限公司", "Obsidian Quantum", "量子传感芯片"),
    ("澜起生物医药有限公司", "Lanqi Biopharma", "ADC 新药临床前研究"),
    ("星衡机器人有限公司", "Xingheng Robotics", "协作机器人关节模组"),
    ("微光半导体有限公司", "Glimmer Semiconductor", "硅光调制器"),
    ("青禾农业科技有限公司", "Qinghe AgriTech", "耐盐碱水稻育种"),
    ("极昼储能技术有限公司", "Polar Day Energy", "钠离子电池电芯"),
    ("云杉智算有限公司", "Spruce Compute", "存算一体推理芯片"),
    ("知遇医疗器械有限公司", "Zhiyu Medical Devices", "手术导航系统"),
]


def _deals(session: Session, count: int) -> list[Deal]:
    """Deals at "agreement signed" without a grant, the pipeline's first, then our own."""
    free = list(session.scalars(select(Deal).where(
        Deal.stage == DealStage.AGREEMENT_SIGNED, ~Deal.id.in_(select(Grant.deal_id)),
        Deal.approved_budget_amount >= D("10000000.00")).order_by(Deal.id)).unique())
    names = {c.legal_name for c in session.scalars(select(Company))}
    for legal_name, name_en, project in COMPANIES:
        if len(free) >= count:
            break
        if legal_name in names:
            continue
        company = Company(legal_name=legal_name, name_en=name_en, normalised_name=legal_name,
                          district="张江", legal_form=LegalForm.LLC,
                          registered_capital_amount=D("10000000.00"))
        deal = Deal(company=company, project_name=project,
                    requested_grant_amount=D("5000000.00"),
                    approved_budget_amount=D("12000000.00"), stage=DealStage.AGREEMENT_SIGNED,
                    stage_entered_at=datetime.now(UTC), ic_decision_ref="投决〔2025〕演示")
        session.add(deal)
        session.flush()
        free.append(deal)
    return free[:count]


def _pay_all(session: Session, grant: Grant, dates: list[date]) -> None:
    for tranche, paid_on in zip(grant.tranches, dates, strict=False):
        if tranche.position > 1:
            ops.record_milestone_review(session, grant, tranche=tranche.position, is_passed=True,
                                        reviewer="专家组 Expert panel", reviewed_on=paid_on,
                                        evidence="里程碑报告 milestone report", actor=ACTOR)
        ops.disburse(session, grant, tranche=tranche.position, paid_on=paid_on, actor=ACTOR)


def _sign(session: Session, deal: Deal, signed_on: date, award: str = "5000000.00",
          **extra: Any) -> Grant:
    return ops.create_grant(session, deal_id=deal.id, awarded_amount=D(award),
                            signed_on=signed_on, holder_entity=PLATFORM,
                            agreement_no=f"BT-{signed_on.year}-{deal.id:03d}",
                            exit_filing_no=f"沪国资备〔{signed_on.year}〕{deal.id:03d}号",
                            exit_filed_on=signed_on,
                            alternative_conditions="年营业收入达到 3,000 万元 / annual revenue "
                                                   "of 30,000,000.00",
                            actor=ACTOR, **extra)


def _round(session: Session, grant: Grant, *, closed_on: date, cash: str = "20000000.00",
           name: str = "A 轮 Series A") -> int:
    row = ops.record_round(session, grant.company, {
        "name": name, "kind": "priced_equity", "closed_on": closed_on,
        "definitive_agreement_signed_on": closed_on, "pre_money_valuation_amount":
            D("100000000.00"), "units_before": D("10000000.00"), "lead": "浦江创投 Pujiang VC",
        "investors": [{"name": "浦江创投 Pujiang VC", "cash_amount": D(cash),
                       "is_independent": True}],
        "holders_before": [{"holder": "创始人 Founder A", "units": D("6000000.00")},
                           {"holder": "创始人 Founder B", "units": D("2500000.00")},
                           {"holder": "员工持股平台 ESOP", "units": D("1500000.00")}]},
        actor=ACTOR)
    return row.id


def load_grants_demo(session: Session, today: date | None = None) -> int:
    """Create the demo grants (once); returns how many were made."""
    if session.scalar(select(Grant.id).limit(1)) is not None:
        return 0
    today = today or date.today()
    ops.ensure_default_policy(session)
    if session.scalar(select(LprRate.id).limit(1)) is None:
        # The 1-year LPR as published (3.10% from 2024-10-21, 3.00% from 2025-05-20).
        session.add_all([LprRate(published_on=date(2024, 10, 21), rate=D("0.031")),
                         LprRate(published_on=date(2025, 5, 20), rate=D("0.030"))])
        session.flush()
    deals = _deals(session, 8)
    if len(deals) < 8:
        return 0
    worked_paid = [date(2025, 6, 10), date(2025, 12, 1), date(2026, 6, 1)]

    # Converted, one via each R5 policy (rule book cases A-D); B-D by IC-approved overrides.
    overrides = [({}, ""),
                 ({"pre_money_includes_conversion": True}, "投决〔2025〕11号"),
                 ({"discount": "0.20"}, "投决〔2025〕12号"),
                 ({"valuation_cap": "60000000.00"}, "投决〔2025〕13号")]
    for deal, (override, ref) in zip(deals[:4], overrides, strict=True):
        grant = _sign(session, deal, date(2025, 6, 1), policy_override=override,
                      override_ic_ref=ref)
        _pay_all(session, grant, worked_paid)
        ops.accept_rd(session, grant, accepted_on=date(2026, 9, 1),
                      reference="验收〔2026〕演示", actor=ACTOR)
        round_id = _round(session, grant, closed_on=date(2026, 11, 1))
        ops.convert_grant(session, grant.id, round_id=round_id, actor=ACTOR)

    # R&D accepted, waiting for a round; its first round was too small (R3.d).
    accepted = _sign(session, deals[4], date(2025, 3, 1), award="4000000.00")
    _pay_all(session, accepted, [date(2025, 3, 10), date(2025, 9, 1), date(2026, 3, 1)])
    ops.accept_rd(session, accepted, accepted_on=date(2026, 8, 1), reference="验收〔2026〕07",
                  actor=ACTOR)
    _round(session, accepted, closed_on=date(2026, 10, 15), cash="3000000.00",
           name="Pre-A 轮 Pre-A")

    # Disbursing: first tranche out, the second waiting for its milestone review.
    disbursing = _sign(session, deals[5], date(2026, 3, 1), award="3000000.00")
    ops.disburse(session, disbursing, tranche=1, paid_on=date(2026, 3, 10), actor=ACTOR)

    # Closed as a grant (R8.a): signed long ago, accepted, no qualifying round in time.
    closed = _sign(session, deals[6], date(2021, 6, 1), award="2000000.00")
    _pay_all(session, closed, [date(2021, 6, 10), date(2022, 1, 10), date(2022, 7, 10)])
    ops.accept_rd(session, closed, accepted_on=date(2023, 5, 1), reference="验收〔2023〕02",
                  actor=ACTOR)
    ops.close_expired_grants(session, today, actor=ACTOR)

    # In breach (R8.c): registration moved out of the district.
    breach = _sign(session, deals[7], date(2025, 9, 1), award="3000000.00")
    ops.disburse(session, breach, tranche=1, paid_on=date(2025, 9, 10), actor=ACTOR)
    ops.declare_breach(session, breach, breach_on=date(2026, 10, 8),
                       reason="窗口期内将注册地迁出本区 / moved its registration out of the "
                              "district inside the window",
                       repaid_on=date(2026, 12, 31), actor=ACTOR)
    return 8
