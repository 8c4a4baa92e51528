"""Demo pipeline: two past roadshows with scores, about 40 deals across every stage, and an
upcoming roadshow whose sign-up sheet was imported. Everything goes through the operations, so
the demo's history and ledger are what real use would produce."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.auth.models import User
from fundapp.deals import operations as ops
from fundapp.deals import roadshows
from fundapp.deals.intake import import_signup
from fundapp.deals.models import DealStage, Roadshow
from fundapp.deals.uscc import check_character

ACTOR = "demo"

COMPANIES = [
    ("上海神经桥科技有限公司", "NeuroBridge Tech", "bci"),
    ("上海灵巧智能机器人有限公司", "Dexter Robotics", "robotics.humanoid"),
    ("上海临研数据科技有限公司", "ClinData", "clinical.cro"),
    ("上海智投未来金融信息服务有限公司", "RoboWealth", "fintech.robo_advice"),
    ("上海深视医疗人工智能有限公司", "DeepSight Medical AI", "ai"),
    ("上海元境数字科技有限公司", "MetaScape", "metaverse"),
    ("上海安保科技保险经纪有限公司", "SafeInsure Tech", "fintech.insurtech"),
    ("上海掌上金融科技有限公司", "PocketFin", "fintech.mobile_finance"),
    ("上海试验现场管理服务有限公司", "TrialSite SMO", "clinical.smo"),
    ("上海巡检特种机器人有限公司", "Patrol Robotics", "robotics.special"),
    ("上海脑语医疗器械有限公司", "BrainSpeak Medical", "bci"),
    ("上海算力云智能科技有限公司", "ComputeCloud AI", "ai"),
    ("上海数孪工业软件有限公司", "TwinWorks", "digital"),
    ("上海康源生物医药有限公司", "Kangyuan Bio", "life_health"),
    ("上海智能语音交互科技有限公司", "VoiceLink AI", "ai"),
    ("上海仿生手科技有限公司", "Bionic Hand", "robotics.humanoid"),
    ("上海细胞工厂生物科技有限公司", "CellFactory", "life_health"),
    ("上海链上数据科技有限公司", "ChainData", "digital"),
    ("上海虚拟展厅科技有限公司", "VirtualHall", "metaverse"),
    ("上海医研通临床研究有限公司", "MedResearch CRO", "clinical.cro"),
    ("上海睿智投顾科技有限公司", "SmartAdvisor", "fintech.robo_advice"),
    ("上海水下机器人科技有限公司", "AquaBot", "robotics.special"),
    ("上海视觉芯片科技有限公司", "VisionChip", "ai"),
    ("上海基因检测科技有限公司", "GeneScan", "life_health"),
    ("上海脑电波科技有限公司", "WaveMind", "bci"),
    ("上海智慧理赔科技有限公司", "ClaimSmart", "fintech.insurtech"),
    ("上海数字人科技有限公司", "DigiHuman", "metaverse"),
    ("上海工业视觉检测有限公司", "InspectAI", "ai"),
    ("上海手术机器人科技有限公司", "SurgiBot", "robotics.special"),
    ("上海移动支付安全科技有限公司", "PaySecure", "fintech.mobile_finance"),
    ("上海临床数据管理有限公司", "TrialData", "clinical.cro"),
    ("上海康复外骨骼科技有限公司", "ExoRehab", "robotics.humanoid"),
    ("上海智能药物设计有限公司", "DrugAI", "life_health"),
    ("上海边缘计算科技有限公司", "EdgeCompute", "digital"),
]

# The IC memo each demo deal's manager wrote (issue 15): per sector, in Chinese and English,
# varied per company by its name. {n} is the company's English name.
SECTOR_MEMOS = {
    "bci": ("植入式神经接口芯片国产替代，临床需求明确，园区脑科学平台可提供动物及临床资源。",
            "A domestic implantable neural-interface chip with clear clinical demand; the "
            "park's brain-science platform offers animal and clinical resources.",
            "低功耗 256 通道采集芯片，已授权发明专利 6 项、PCT 申请 2 项。",
            "A low-power 256-channel acquisition chip; 6 granted invention patents, 2 PCT "
            "filings.",
            "国内脑机接口医疗市场预计 2030 年达 120 亿元；主要竞争对手为两家北京初创企业及海外厂商。",
            "China's medical BCI market is expected to reach CNY 12bn by 2030; competitors are "
            "two Beijing start-ups and overseas makers."),
    "ai": ("医疗与工业视觉模型在园区应用场景落地快，客户复购率高。",
           "Medical and industrial vision models deploy quickly in the park's use cases, with "
           "high repeat purchases.",
           "自研小样本训练框架，软件著作权 14 项、发明专利 3 项。",
           "An in-house few-shot training framework; 14 software copyrights, 3 invention "
           "patents.",
           "细分市场约 40 亿元，竞争激烈；差异化在于私有化部署与数据合规。",
           "A CNY 4bn niche with strong competition; it stands out with on-premise deployment "
           "and data compliance."),
    "life_health": ("平台型技术可支持多条管线，符合园区生物医药产业方向。",
                    "A platform technology that supports several pipelines, in line with the "
                    "park's biomedicine focus.",
                    "核心工艺已完成中试，发明专利 4 项，另有 2 项在审。",
                    "The core process has passed pilot scale; 4 invention patents, 2 more "
                    "pending.",
                    "目标适应症国内患者约 300 万人，已有 3 家同类企业进入临床。",
                    "About 3 million patients in China for the target indication; 3 similar "
                    "companies are in the clinic."),
}
DEFAULT_MEMO = ("团队在细分领域有多年积累，项目与园区产业政策契合。",
                "The team has years in its niche and the project fits the park's industrial "
                "policy.",
                "核心技术自主研发，已申请发明专利 2 项。",
                "Core technology developed in house; 2 invention patent applications filed.",
                "目标市场处于成长期，主要竞争对手为 2-3 家区域性企业。",
                "A growing market; the main competitors are 2-3 regional firms.")
FOUNDER_BACKGROUNDS = ("清华大学博士，曾任跨国企业研发总监", "复旦大学硕士，连续创业者",
                       "上海交通大学教授，国家级人才计划入选者", "海外归国博士，曾在医疗器械企业任职十年")
FOUNDER_BACKGROUNDS_EN = (
    "PhD, Tsinghua University; formerly R&D director at a multinational",
    "MSc, Fudan University; serial entrepreneur",
    "Professor, Shanghai Jiao Tong University; national talent programme awardee",
    "PhD from abroad; ten years at a medical-device company")
# Founders' names (surname, given name) in Chinese and in pinyin, for English documents.
SURNAMES = (("张", "Zhang"), ("刘", "Liu"), ("杨", "Yang"), ("黄", "Huang"), ("周", "Zhou"),
            ("吴", "Wu"), ("徐", "Xu"), ("孙", "Sun"), ("马", "Ma"), ("胡", "Hu"), ("郭", "Guo"),
            ("林", "Lin"), ("何", "He"), ("高", "Gao"), ("罗", "Luo"), ("郑", "Zheng"),
            ("梁", "Liang"))
GIVEN_NAMES = (("伟", "Wei"), ("静", "Jing"), ("洋", "Yang"), ("婷", "Ting"), ("昊", "Hao"),
               ("丽", "Li"), ("强", "Qiang"), ("敏", "Min"), ("峰", "Feng"), ("晓东", "Xiaodong"),
               ("雪梅", "Xuemei"))


def founder_name(index: int) -> tuple[str, str]:
    """A demo founder's name in Chinese and in English (given name first, as English writes)."""
    surname, surname_en = SURNAMES[index % len(SURNAMES)]
    given, given_en = GIVEN_NAMES[index % len(GIVEN_NAMES)]
    return surname + given, f"{given_en} {surname_en}"


def short_name(legal_name: str) -> str:
    """上海神经桥科技有限公司 -> 神经桥: the name a project is called by."""
    name = legal_name.removeprefix("上海")
    return name.removesuffix("有限公司").removesuffix("科技")


def demo_memo(name: str, name_en: str, sector: str, requested: Decimal,
              index: int) -> dict[str, str]:
    """A demo deal's IC memo, in both languages, varied per company."""
    thesis, thesis_en, tech, tech_en, market, market_en = SECTOR_MEMOS.get(
        sector.split(".")[0], DEFAULT_MEMO)
    months = 12 + index % 4 * 6
    burn = 150000 + index % 5 * 50000
    open_item = index % 3 != 0
    return {
        "memo_recommendation": f"建议{'附条件' if open_item else ''}同意向{name}拨款 {requested:,.2f} 元。",
        "memo_recommendation_en": f"We recommend approving a grant of CNY {requested:,.2f} to "
                                  f"{name_en}{' with conditions' if open_item else ''}.",
        "memo_conditions": "首期拨付前完成核心专利权属变更登记（R2.b）\n企业注册地 5 年内不迁出本区（R8.c）"
                           if open_item else "企业注册地 5 年内不迁出本区（R8.c）",
        "memo_conditions_en": "Register the core patents to the company before tranche 1 "
                              "(R2.b)\nKeep the registered office in the district for 5 years "
                              "(R8.c)" if open_item else
                              "Keep the registered office in the district for 5 years (R8.c)",
        "memo_thesis": thesis, "memo_thesis_en": thesis_en,
        "memo_technology": tech, "memo_technology_en": tech_en,
        "memo_market": market, "memo_market_en": market_en,
        "memo_use_of_funds": "研发人员薪酬 50%，样机与材料 30%，测试认证 20%；拨款占核定预算 40%，"
                             "其余由企业自筹。",
        "memo_use_of_funds_en": "R&D salaries 50%, prototypes and materials 30%, testing and "
                                "certification 20%; the grant is 40% of the approved budget, "
                                "the company funds the rest.",
        "memo_financials": f"上年营业收入 {(index % 6) * 80 + 40} 万元，月均支出约 {burn:,} 元，"
                           f"现有现金可支撑约 {months} 个月。",
        "memo_financials_en": f"Revenue last year CNY {(index % 6) * 800 + 400:,}k, monthly "
                              f"spending about CNY {burn:,}, cash for about {months} months.",
        "memo_dd_findings": "核心专利权属清晰 | 国家知识产权局检索报告 | 已关闭\n"
                            "财务数据与审计报告一致 | 2025 年度审计报告 | 已关闭"
                            + ("\n关键技术人员竞业限制协议未签 | 管理层访谈纪要 | 未决"
                               if open_item else ""),
        "memo_dd_findings_en": "Core patents are clearly owned | CNIPA search report | closed\n"
                               "Financial data match the audit | 2025 audit report | closed"
                               + ("\nKey engineers have no non-compete agreements | management "
                                  "interview notes | open" if open_item else ""),
        "memo_risks": "技术路线迭代风险 | 中 | 高 | 分期拨付与里程碑验收挂钩\n"
                      f"现金跑道仅约 {months} 个月 | {'高' if months < 20 else '中'} | 中 | "
                      "要求企业按季度报送现金流量表",
        "memo_risks_en": "Technology route changes | medium | high | tranches tied to milestone "
                         f"reviews\nRunway of about {months} months | "
                         f"{'high' if months < 20 else 'medium'} | medium | quarterly cash-flow "
                         "reports",
        "memo_reviewed_by": "风控部 王审核",
        "memo_reviewed_by_en": "Risk Management: Wang Jian",
    }


# How many of the past roadshows' deals end up at each stage (34 deals) ...
PLAN = ([DealStage.FORMAL_CHECK] * 3 + [DealStage.ROADSHOW] * 4
        + [DealStage.EXPERT_REVIEW] * 5 + [DealStage.DUE_DILIGENCE] * 5
        + [DealStage.IC_DECISION] * 4 + [DealStage.PUBLIC_NOTICE] * 3
        + [DealStage.AGREEMENT_SIGNED] * 4 + [DealStage.DECLINED] * 2
        + [DealStage.WITHDRAWN] * 2 + [DealStage.ON_HOLD] * 2)
# ... and the upcoming roadshow's sign-up sheet adds 6 more at the formal check: 40 in all.

SIGNUP_HEADER = ["企业名称", "统一社会信用代码", "英文名称", "所属行业", "注册区", "成立日期", "项目名称",
                 "申请拨款金额（元）", "项目总预算（元）", "联系人", "联系电话", "邮箱", "路演顺序",
                 "项目英文名称"]
SIGNUP_PROJECTS_EN = ["Quantum magnetometer engineering prototype", "Home elder-care companion robot",
                      "Inclusive insurance pricing engine for new residents",
                      "Upper-limb stroke rehabilitation system",
                      "Smart trial-participant recruitment platform",
                      "Immersive cultural-tourism content platform"]
SIGNUP_ROWS = [
    ["上海量子传感科技有限公司", 201, "QuantumSense", "数字技术", "浦东新区", "2022-06-01",
     "量子磁力计工程样机", "2000000.00", "5000000.00", "林静", "13900000001", "lin@qsense.cn"],
    ["上海智慧康养机器人有限公司", 202, "CareBot", "人形机器人", "闵行区", "2021-08-12",
     "居家养老陪护机器人", "1500000.00", "4000000.00", "何平", "13900000002", "he@carebot.cn"],
    ["上海普惠保险科技有限公司", 203, "InclusiveInsure", "保险科技", "黄浦区", "2023-02-20",
     "新市民普惠保险定价引擎", "800000.00", "2000000.00", "罗颖", "13900000003", "luo@ii.cn"],
    ["上海脑卒中康复科技有限公司", 204, "StrokeRehab", "脑机接口", "徐汇区", "2022-12-05",
     "脑卒中上肢康复训练系统", "2500000.00", "6000000.00", "谢宁", "13900000004", "xie@sr.cn"],
    ["上海临床试验智能匹配有限公司", 205, "TrialMatch", "临床现场管理组织（SMO）", "浦东新区",
     "2023-04-18", "受试者智能招募平台", "1000000.00", "2500000.00", "韩雪", "13900000005",
     "han@trialmatch.cn"],
    ["上海沉浸式文旅科技有限公司", 206, "ImmersiveTour", "元宇宙", "长宁区", "2022-03-30",
     "沉浸式文旅内容生产平台", "1200000.00", "3000000.00", "唐亮", "13900000006",
     "tang@itour.cn"],
]


def demo_uscc(n: int) -> str:
    first = f"91310115MA1D{n:05d}"
    return first + check_character(first)


def signup_sheet_csv() -> bytes:
    """The upcoming roadshow's sign-up sheet, as Chinese Excel saves a CSV: GBK."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(SIGNUP_HEADER)
    for position, row in enumerate(SIGNUP_ROWS, start=1):
        writer.writerow([row[0], demo_uscc(row[1]), *row[2:], position,
                         SIGNUP_PROJECTS_EN[position - 1] if position <= len(SIGNUP_PROJECTS_EN)
                         else ""])
    return buffer.getvalue().encode("gbk")


def _at(day: date, hour: int = 2) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC)


def _scores(seed: int, criteria: int) -> list[Decimal]:
    return [Decimal(4 + (seed * 7 + i * 3) % 6) + Decimal("0.5") * ((seed + i) % 2)
            for i in range(criteria)]


def load_pipeline_demo(session: Session) -> None:
    """Add the demo pipeline once (does nothing when a roadshow exists)."""
    if session.scalar(select(Roadshow.id).limit(1)) is not None:
        return
    users = {u.email: u for u in session.scalars(select(User))}
    manager = users.get("manager@demo.fundapp.cn")
    manager2 = users.get("manager2@demo.fundapp.cn")
    spring = roadshows.create_roadshow(session, actor=ACTOR, name="2025年春季张江科创项目路演",
                                 name_en="Zhangjiang Sci-Tech Roadshow, Spring 2025",
                                 venue_en="Zhangjiang Science Hall",
                                 held_on=date(2025, 4, 18), venue="张江科学会堂",
                                 organiser="张江科技投资联盟", format="offline")
    autumn = roadshows.create_roadshow(session, actor=ACTOR, name="2025年秋季投资对接会（线上）",
                                 name_en="Investment Matchmaking, Autumn 2025 (online)",
                                 venue_en="Tencent Meeting",
                                 held_on=date(2025, 10, 24), venue="腾讯会议",
                                 organiser="区科委、张江科技投资联盟", format="online",
                                 criteria=[
                                     {"code": "technology", "label": "Technology",
                                      "weight_pct": Decimal(30)},
                                     {"code": "team", "label": "Team", "weight_pct": Decimal(25)},
                                     {"code": "market", "label": "Market", "weight_pct": Decimal(20)},
                                     {"code": "park_fit", "label": "Fit with the park's "
                                      "industries", "weight_pct": Decimal(15)},
                                     {"code": "policy_value", "label": "Policy value",
                                      "weight_pct": Decimal(10)}])
    for roadshow in (spring, autumn):
        if manager2 is not None:
            roadshows.add_panel_member(session, roadshow, actor=ACTOR, user_id=manager2.id)
        roadshows.add_panel_member(session, roadshow, actor=ACTOR, name="周建国教授",
                             name_en="Prof. Zhou Jianguo", affiliation="复旦大学脑科学研究院",
                             affiliation_en="Institutes of Brain Science, Fudan University")
        roadshows.add_panel_member(session, roadshow, actor=ACTOR, name="吴芳博士",
                             name_en="Dr. Wu Fang", affiliation="上海市生物医药产业促进中心",
                             affiliation_en="Shanghai Biomedical Industry Promotion Centre")
    deals = []
    for index, (name, name_en, sector) in enumerate(COMPANIES):
        company = ops.create_company(session, actor=ACTOR, legal_name=name, name_en=name_en,
                                     uscc=demo_uscc(index + 1), sector=sector,
                                     district="浦东新区", legal_form="llc",
                                     registered_capital_amount=Decimal((index % 5 + 1) * 1000000),
                                     founded_on=date(2019 + index % 5, index % 12 + 1, 1),
                                     founders=[{"name": founder_name(index)[0], "title": "CEO",
                                                "name_en": founder_name(index)[1],
                                                "background": FOUNDER_BACKGROUNDS[
                                                    index % len(FOUNDER_BACKGROUNDS)],
                                                "background_en": FOUNDER_BACKGROUNDS_EN[
                                                    index % len(FOUNDER_BACKGROUNDS)]}],
                                     contacts=[{"name": f"联系人{index + 1}",
                                                "phone": f"1380000{index:04d}",
                                                "email": f"bd{index + 1}@example.cn"}])
        roadshow = spring if index % 2 == 0 else autumn
        roadshows.add_slot(session, roadshow, company, actor=ACTOR)
        requested = Decimal(500000 + (index * 350000) % 4000000)
        deal = ops.create_deal(session, actor=ACTOR, company_id=company.id,
                               project_name=f"{short_name(name)}研发项目",
                               project_name_en=f"{name_en} R&D project",
                               requested_grant_amount=requested,
                               approved_budget_amount=requested * Decimal("2.5"),
                               project_summary="演示项目。",
                               milestone_plan="M1 样机；M2 中试；M3 验收",
                               manager_id=(manager if index % 3 else manager2 or manager).id
                               if manager else None,
                               roadshow_id=roadshow.id,
                               now=_at(roadshow.held_on - timedelta(days=30)))
        ops.update_deal_memo(session, deal.id, ACTOR,
                             **demo_memo(name, name_en, sector, requested, index))
        deals.append((deal, roadshow))
    for roadshow in (spring, autumn):
        codes = [c.code for c in roadshow.criteria]
        for m_index, member in enumerate(roadshow.panel):
            for s_index, slot in enumerate(roadshow.slots):
                conflict = m_index == 2 and s_index == 1  # one declared conflict per roadshow
                values = _scores(s_index * 3 + m_index * (5 if s_index == 4 else 1), len(codes))
                roadshows.record_score_sheet(session, roadshow, panel_member_id=member.id,
                                       company_id=slot.company_id, actor=ACTOR,
                                       has_conflict=conflict,
                                       scores=None if conflict else dict(zip(codes, values,
                                                                             strict=True)))
    for (deal, roadshow), target in zip(deals, PLAN, strict=True):
        _walk(session, deal, roadshow, target)
    upcoming = roadshows.create_roadshow(session, actor=ACTOR, name="2026年春季张江科创项目路演",
                                   name_en="Zhangjiang Sci-Tech Roadshow, Spring 2026",
                                   venue_en="Zhangjiang Science Hall",
                                   held_on=date(2026, 4, 24), venue="张江科学会堂",
                                   organiser="张江科技投资联盟", format="offline")
    import_signup(session, upcoming, "2026春季路演报名表.csv", signup_sheet_csv(), actor=ACTOR)


def _walk(session: Session, deal, roadshow: Roadshow, target: DealStage) -> None:
    """Move a demo deal through the pipeline on plausible past dates, satisfying each gate."""
    day = roadshow.held_on - timedelta(days=20)
    side = target in (DealStage.DECLINED, DealStage.WITHDRAWN, DealStage.ON_HOLD)
    stop = {DealStage.DECLINED: DealStage.EXPERT_REVIEW, DealStage.WITHDRAWN: DealStage.ROADSHOW,
            DealStage.ON_HOLD: DealStage.DUE_DILIGENCE}.get(target, target)
    for stage in ops.PIPELINE[1:]:
        if ops.PIPELINE.index(stage) > ops.PIPELINE.index(stop):
            break
        if stage is DealStage.EXPERT_REVIEW:
            day = roadshow.held_on + timedelta(days=3)
        if stage is DealStage.DUE_DILIGENCE:
            eligible = [m for m in roadshow.panel if m.id not in ops.conflicted_members(
                session, roadshow.id, deal.company_id)]
            for member in eligible:
                ops.record_expert_review(session, deal, panel_member_id=member.id,
                                         is_approved=True, comment="同意进入尽调", actor=ACTOR)
        if stage is DealStage.PUBLIC_NOTICE:
            ops.record_ic_decision(session, deal, f"投决〔{day.year}〕{deal.id:03d}号",
                                   actor="admin@demo.fundapp.cn", decided_on=day)
        if stage is DealStage.AGREEMENT_SIGNED:
            day += timedelta(days=16)
        ops.advance_deal(session, deal, stage, actor="manager@demo.fundapp.cn",
                         reason="", now=_at(day))
        day += timedelta(days=7)
    if side:
        reasons = {DealStage.DECLINED: "专家评审未通过：技术路线不成熟",
                   DealStage.WITHDRAWN: "企业已获得其他融资，主动撤回申请",
                   DealStage.ON_HOLD: "等待企业补充知识产权证明"}
        ops.advance_deal(session, deal, target, actor="manager@demo.fundapp.cn",
                         reason=reasons[target], now=_at(day))
