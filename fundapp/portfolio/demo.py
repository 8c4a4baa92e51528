"""Demo grants in every state: disbursing, R&D accepted, converted (R5.a-d), closed, in breach;
and the portfolio: marks, a buy-back, an exchange sale, an index series, KPI answers.

Runs through the same operations as the pages and the API, so every figure and ledger entry in
the demo is one the app itself produced.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.deals.models import Company, Deal, DealStage, LegalForm
from fundapp.fund.operations import ensure_default_policy
from fundapp.portfolio.conversion.models import Conversion
from fundapp.portfolio.conversion.operations import convert_grant
from fundapp.portfolio.exits.operations import record_exit
from fundapp.portfolio.grants.models import Grant
from fundapp.portfolio.grants.operations import (
    accept_rd,
    close_expired_grants,
    create_grant,
    declare_breach,
    disburse,
    record_milestone_review,
)
from fundapp.portfolio.holdings.models import FlowKind
from fundapp.portfolio.holdings.operations import (
    finalise_mark,
    record_appraisal,
    record_follow_on,
    record_income,
    record_mark,
)
from fundapp.portfolio.performance.operations import import_index_series
from fundapp.portfolio.rounds.operations import record_round
from fundapp.reference.models import LprRate

ACTOR = "demo"
PLATFORM = "区科创投资平台有限公司"
D = Decimal

# (company, project) of the companies the demo creates when the pipeline has none left.
COMPANIES = [
    ("曜石量子科技有限公司", "Obsidian Quantum", "量子传感芯片", "Quantum sensing chip"),
    ("澜起生物医药有限公司", "Lanqi Biopharma", "ADC 新药临床前研究", "Preclinical ADC drug study"),
    ("星衡机器人有限公司", "Xingheng Robotics", "协作机器人关节模组", "Cobot joint modules"),
    ("微光半导体有限公司", "Glimmer Semiconductor", "硅光调制器", "Silicon photonic modulator"),
    ("青禾农业科技有限公司", "Qinghe AgriTech", "耐盐碱水稻育种", "Salt-tolerant rice breeding"),
    ("极昼储能技术有限公司", "Polar Day Energy", "钠离子电池电芯", "Sodium-ion battery cells"),
    ("云杉智算有限公司", "Spruce Compute", "存算一体推理芯片", "Compute-in-memory inference chip"),
    ("知遇医疗器械有限公司", "Zhiyu Medical Devices", "手术导航系统", "Surgical navigation system"),
]


def _deals(session: Session, count: int) -> list[Deal]:
    """Deals at "agreement signed" without a grant, the pipeline's first, then our own."""
    free = list(session.scalars(select(Deal).where(
        Deal.stage == DealStage.AGREEMENT_SIGNED, ~Deal.id.in_(select(Grant.deal_id)),
        Deal.approved_budget_amount >= D("10000000.00")).order_by(Deal.id)).unique())
    names = {c.legal_name for c in session.scalars(select(Company))}
    for legal_name, name_en, project, project_en in COMPANIES:
        if len(free) >= count:
            break
        if legal_name in names:
            continue
        company = Company(legal_name=legal_name, name_en=name_en, normalised_name=legal_name,
                          district="张江", legal_form=LegalForm.LLC,
                          registered_capital_amount=D("10000000.00"))
        deal = Deal(company=company, project_name=project, project_name_en=project_en,
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
            record_milestone_review(session, grant, tranche=tranche.position, is_passed=True,
                                    reviewer="专家评审组", reviewed_on=paid_on,
                                    evidence="里程碑完成报告", actor=ACTOR)
        disburse(session, grant, tranche=tranche.position, paid_on=paid_on, actor=ACTOR)


def _sign(session: Session, deal: Deal, signed_on: date, award: str = "5000000.00",
          **extra: Any) -> Grant:
    return create_grant(session, deal_id=deal.id, awarded_amount=D(award),
                        signed_on=signed_on, holder_entity=PLATFORM,
                        agreement_no=f"BT-{signed_on.year}-{deal.id:03d}",
                        exit_filing_no=f"沪国资备〔{signed_on.year}〕{deal.id:03d}号",
                        exit_filed_on=signed_on,
                        alternative_conditions="年营业收入达到 3,000 万元",
                        actor=ACTOR, **extra)


def _round(session: Session, grant: Grant, *, closed_on: date, cash: str = "20000000.00",
           name: str = "A 轮") -> int:
    row = record_round(session, grant.company, {
        "name": name, "kind": "priced_equity", "closed_on": closed_on,
        "definitive_agreement_signed_on": closed_on, "pre_money_valuation_amount":
        D("100000000.00"), "units_before": D("10000000.00"), "lead": "Pujiang Ventures",
        "investors": [{"name": "Pujiang Ventures", "cash_amount": D(cash),
                   "is_independent": True}],
        "holders_before": [{"holder": "张伟", "units": D("6000000.00")},
                       {"holder": "李强", "units": D("2500000.00")},
                       {"holder": "员工持股平台（有限合伙）", "units": D("1500000.00")}]},
        actor=ACTOR)
    return row.id


def load_grants_demo(session: Session, today: date | None = None) -> int:
    """Create the demo grants (once); returns how many were made."""
    if session.scalar(select(Grant.id).limit(1)) is not None:
        return 0
    today = today or date.today()
    ensure_default_policy(session)
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
        accept_rd(session, grant, accepted_on=date(2026, 9, 1),
                  reference="验收〔2026〕演示", actor=ACTOR)
        round_id = _round(session, grant, closed_on=date(2026, 11, 1))
        convert_grant(session, grant.id, round_id=round_id, actor=ACTOR)

    # R&D accepted, waiting for a round; its first round was too small (R3.d).
    accepted = _sign(session, deals[4], date(2025, 3, 1), award="4000000.00")
    _pay_all(session, accepted, [date(2025, 3, 10), date(2025, 9, 1), date(2026, 3, 1)])
    accept_rd(session, accepted, accepted_on=date(2026, 8, 1), reference="验收〔2026〕07",
              actor=ACTOR)
    _round(session, accepted, closed_on=date(2026, 10, 15), cash="3000000.00",
           name="Pre-A 轮")

    # Disbursing: first tranche out, the second waiting for its milestone review.
    disbursing = _sign(session, deals[5], date(2026, 3, 1), award="3000000.00")
    disburse(session, disbursing, tranche=1, paid_on=date(2026, 3, 10), actor=ACTOR)

    # Closed as a grant (R8.a): signed long ago, accepted, no qualifying round in time.
    closed = _sign(session, deals[6], date(2021, 6, 1), award="2000000.00")
    _pay_all(session, closed, [date(2021, 6, 10), date(2022, 1, 10), date(2022, 7, 10)])
    accept_rd(session, closed, accepted_on=date(2023, 5, 1), reference="验收〔2023〕02",
              actor=ACTOR)
    close_expired_grants(session, today, actor=ACTOR)

    # In breach (R8.c): registration moved out of the district.
    breach = _sign(session, deals[7], date(2025, 9, 1), award="3000000.00")
    disburse(session, breach, tranche=1, paid_on=date(2025, 9, 10), actor=ACTOR)
    declare_breach(session, breach, breach_on=date(2026, 10, 8),
                   reason="窗口期内将注册地迁出本区",
                   repaid_on=date(2026, 12, 31), actor=ACTOR)
    return 8


# --------------------------------------------------------------------------- portfolio (issue 5)

MANAGER = "manager@demo.fundapp.cn"
MANAGER2 = "manager2@demo.fundapp.cn"
INDEX_NAME = "沪深300（演示）"
INDEX_NAME_EN = "CSI 300 (demo)"
# Direct investments made before the grant-plus-investment fund converted anything, so the
# performance pages have years of history: (legal name, English name, sector, investments
# (date, amount, units), final marks (date, method, value per unit, author, approver)).
DIRECT = [
    ("砺芯微电子有限公司", "Lixin Microelectronics", "semiconductors",
     [(date(2022, 3, 15), "3000000.00", "300000.00"), (date(2023, 9, 20), "2000000.00",
                                                        "150000.00")],
     [(date(2022, 12, 31), "multiples", "11.000000"), (date(2023, 12, 31), "recent_round",
                                                       "14.500000"),
      (date(2024, 12, 31), "dcf", "16.200000"), (date(2025, 12, 31), "multiples", "18.000000"),
      (date(2026, 6, 30), "multiples", "19.500000")]),
    # Its last final mark is from 2025-03-31: older than two quarters, flagged as stale.
    ("瑞康医疗科技有限公司", "Ruikang Medtech", "life_health",
     [(date(2023, 5, 10), "2500000.00", "500000.00")],
     [(date(2023, 12, 31), "net_assets", "5.000000"), (date(2024, 12, 31), "multiples",
                                                       "4.200000"),
      (date(2025, 3, 31), "multiples", "3.800000")]),
]


# A DCF mark's value per unit is computed from its inputs: these give 16.200000 per unit.
DEMO_DCF = {"cash_flows": ["1100000.00", "1210000.00", "1331000.00"], "discount_rate": "0.10",
            "terminal_value": "17569200.00", "net_debt": "0.00",
            "units_outstanding": "1000000.00"}


def _marked(session: Session, holding: Any, measured_on: date, method: str, value: str,
            *, author: str, approver: str | None, inputs: dict | None = None) -> None:
    from fundapp.portfolio.holdings.models import MarkMethod

    mark = record_mark(session, holding, measured_on=measured_on, method=MarkMethod(method),
                       value_per_unit=D(value),
                       inputs=inputs or (DEMO_DCF if method == "dcf" else {"source": "demo"}),
                       actor=author)
    if approver:
        finalise_mark(session, mark, actor=approver)


def _index_csv(today: date) -> bytes:
    """A CSI-300-like month-end series from 2021 on: a drift, a cycle and a drawdown, generated
    by a formula (no randomness), levels to 2 places."""
    import math

    rows, year, month = ["date,level"], 2021, 1
    while True:
        end = date(year + (month == 12), month % 12 + 1, 1).toordinal() - 1
        day = date.fromordinal(end)
        if day > today:
            break
        t = (year - 2021) * 12 + month - 1
        level = 5200 * math.exp(-0.004 * t + 0.12 * math.sin(t / 7.0) + 0.03 * math.cos(t / 2.0))
        rows.append(f"{day.isoformat()},{level:.2f}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return "\n".join(rows).encode()


def _kpi_answers(session: Session, today: date) -> int:
    """Quarterly KPI requests for the last two full years and the companies' answers; the
    latest quarter of one company is left unanswered (it shows as overdue)."""
    from fundapp.portfolio.kpis import operations as kpis
    from fundapp.portfolio.kpis.models import KpiReport

    last = (today.month - 1) // 3  # quarters of this year already ended
    year, quarter = (today.year, last) if last else (today.year - 1, 4)
    labels = []
    for _ in range(8):
        labels.append(f"{year}Q{quarter}")
        year, quarter = (year - 1, 4) if quarter == 1 else (year, quarter - 1)
    labels.reverse()
    answered = 0
    for step, label in enumerate(labels):
        start, end = kpis.quarter_bounds(label)
        kpis.request_quarterly_kpis(session, label, start, end, actor=ACTOR)
        reports = session.scalars(select(KpiReport).where(KpiReport.quarter == label)
                                  .order_by(KpiReport.company_id)).all()
        for n, report in enumerate(reports):
            if step == len(labels) - 1 and n == 0:
                continue  # overdue: the company has not answered yet
            heads = 18 + 3 * n + step * (2 + n % 3)
            revenue = D(1_200_000 + 250_000 * n) * (D("1.09") ** step)
            rd_share = D("0.30") + D("0.015") * step + D("0.01") * (n % 4)
            value_added = D(heads) * D(165_000 + 9_000 * step + 4_000 * (n % 5))
            kpis.record_kpi_answer(session, report, {
                "revenue_amount": revenue.quantize(D("0.01")),
                "rd_spend_amount": (revenue * rd_share).quantize(D("0.01")),
                "headcount": heads,
                "pct_applications": (step + n) % 4 + (1 if step >= 4 else 0),
                "value_added_amount": value_added.quantize(D("0.01")),
            }, answered_on=min(end + timedelta(days=20), today), actor=MANAGER, source="form")
            answered += 1
    return answered


def load_portfolio_demo(session: Session, today: date | None = None) -> dict[str, int]:
    """Marks, a buy-back (R7), an exchange sale (R9), an index series and two years of KPI
    answers, through the app's own operations (once); returns what was made."""
    from fundapp.portfolio.exits.models import ExitKind
    from fundapp.portfolio.holdings.models import Holding, HoldingOrigin, ValuationMark
    from fundapp.portfolio.performance.models import IndexSeries

    if session.scalar(select(ValuationMark.id).limit(1)) is not None:
        return {}
    today = today or date.today()
    made = {"marks": 0, "exits": 0, "direct_holdings": 0}
    converted = list(session.scalars(select(Holding).where(
        Holding.origin == HoldingOrigin.CONVERSION).order_by(Holding.id)))
    if len(converted) < 4:
        return {}

    # Direct investments with years of marks, a dividend and an exchange sale.
    direct: list[Holding] = []
    for legal_name, name_en, sector, investments, marks in DIRECT:
        company = session.scalar(select(Company).where(Company.legal_name == legal_name))
        if company is None:
            company = Company(legal_name=legal_name, name_en=name_en, normalised_name=legal_name,
                              district="张江", legal_form=LegalForm.LLC, sector=sector,
                              registered_capital_amount=D("10000000.00"))
            session.add(company)
            session.flush()
        holding_id = None
        for n, (on, amount, units) in enumerate(investments):
            flow = record_follow_on(session, on=on, amount=D(amount), units=D(units),
                                    holding_id=holding_id,
                                    company_id=None if holding_id else company.id,
                                    holder_entity=PLATFORM, actor=MANAGER,
                                    reference=f"直投第 {n + 1} 笔")
            holding_id = flow.holding_id
        holding = session.get(Holding, holding_id)
        for k, (on, method, value) in enumerate(marks):
            # Authors and approvers alternate: four eyes, two people.
            author, approver = (MANAGER, MANAGER2) if k % 2 == 0 else (MANAGER2, MANAGER)
            _marked(session, holding, on, method, value, author=author, approver=approver)
            made["marks"] += 1
        direct.append(holding)
        made["direct_holdings"] += 1
    lixin, ruikang = direct
    record_income(session, kind=FlowKind.DIVIDEND, on=date(2025, 6, 30),
                  amount=D("150000.00"), holding_id=lixin.id, actor=MANAGER,
                  reference="2024 年度分红")
    # A draft nobody has finalised yet: it does not count until a second person does.
    _marked(session, lixin, date(2026, 9, 30), "multiples", "21.000000", author=MANAGER,
            approver=None, inputs={"ev_revenue": "6.5x", "peers": "科创板模拟芯片企业"})
    made["marks"] += 1

    # R9: part of the direct holding sold through the exchange: filed appraisal, 20 working
    # days' disclosure, reserve at the appraisal, 30%+ down and the balance within a year.
    appraisal = record_appraisal(session, lixin, base_on=date(2026, 6, 30),
                                 units=D("150000.00"), value_amount=D("2850000.00"),
                                 filing_no="沪国资评备〔2026〕118号",
                                 filed_on=date(2026, 8, 10), appraiser="上海立信资产评估有限公司",
                                 actor=MANAGER)
    record_exit(session, lixin, kind=ExitKind.EXCHANGE, transfer_on=date(2026, 10, 20),
                units=D("150000.00"), price_amount=D("3100000.00"),
                buyer="张江科技产业集团（经上海联合产权交易所）", actor=MANAGER,
                appraisal_id=appraisal.id, disclosure_start_on=date(2026, 8, 31),
                disclosure_end_on=date(2026, 9, 30), reserve_price_amount=D("2900000.00"),
                down_payment_amount=D("1000000.00"), balance_due_on=date(2027, 4, 20))
    made["exits"] += 1

    # Converted holdings (rule book cases A-D): the round price as the first mark of A and C,
    # a draft on B, D still at cost.
    case_a, case_b, case_c, _case_d = converted[:4]
    _marked(session, case_a, date(2026, 11, 5), "recent_round", "10.000000", author=MANAGER,
            approver=MANAGER2, inputs={"round": "A 轮", "price": "10.000000"})
    _marked(session, case_b, date(2026, 11, 5), "recent_round", "9.500000", author=MANAGER2,
            approver=None, inputs={"round": "A 轮", "price": "9.500000"})
    _marked(session, case_c, date(2026, 11, 5), "recent_round", "10.000000", author=MANAGER2,
            approver=MANAGER, inputs={"round": "A 轮", "price": "10.000000"})
    made["marks"] += 3

    # R7: the founders buy back half of case A's units before the 3rd anniversary (R7.b: the
    # floor is the principal, pro rata), at the floor.
    conversion = case_a.conversion_id and session.get(Conversion, case_a.conversion_id)
    half = (case_a.units / 2).quantize(D("0.01"))
    principal = (conversion.converted_amount * half / conversion.fund_units).quantize(
        D("0.01"), rounding=ROUND_HALF_UP)
    record_exit(session, case_a, kind=ExitKind.BUYBACK, transfer_on=date(2026, 11, 20),
                units=half, price_amount=principal, buyer="张伟", actor=MANAGER)
    made["exits"] += 1

    if session.scalar(select(IndexSeries.id).limit(1)) is None:
        import_index_series(session, name=INDEX_NAME, name_en=INDEX_NAME_EN,
                            content=_index_csv(today), actor="admin@demo.fundapp.cn")
    made["kpi_answers"] = _kpi_answers(session, today)
    session.flush()
    return made
