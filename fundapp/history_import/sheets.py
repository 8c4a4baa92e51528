"""The workbook's layout: its sheets and columns, with bilingual headers ("公司名称 / Company name").

One table, read by the template builder and the parser alike, so the downloadable template and
what the import accepts never disagree. A column's `kind` says how a cell is read: text, ref (a
key of this workbook), money (Decimal, 2 places), units, decimal, int, date, bool, choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    kind: str = "text"
    required: bool = False
    choices: tuple[str, ...] = ()
    example: object = None

    @property
    def header(self) -> str:
        return f"{self.zh} / {self.en}"


@dataclass(frozen=True)
class Sheet:
    key: str
    zh: str
    en: str
    columns: tuple[Column, ...]
    # Applied in this order among facts of the same day (a company before its deal...).
    order: int = 0
    examples: tuple[tuple, ...] = field(default_factory=tuple)

    @property
    def title(self) -> str:
        return f"{self.zh} {self.en}"[:31]  # Excel's limit on sheet names


def C(key: str, zh: str, en: str, kind: str = "text", required: bool = False,
      choices: tuple[str, ...] = ()) -> Column:
    return Column(key, zh, en, kind, required, choices)


STAGES = ("roadshow", "expert_review", "due_diligence", "ic_decision", "public_notice",
          "agreement_signed", "declined", "withdrawn", "on_hold")
GRANT_EVENTS = ("rd_accepted", "breach", "closed_tolerance", "closed_expired")
EXIT_KINDS = ("buyback", "exchange", "trade_sale", "ipo_sale", "liquidation")
MARK_METHODS = ("recent_round", "multiples", "dcf", "net_assets", "quoted", "write_off")
FLOW_KINDS = ("dividend", "recovery", "fee")
ROUND_KINDS = ("priced_equity", "debt", "convertible", "secondary")
CRITERIA = ("technology", "team", "market", "park_fit", "policy_value")

SHEETS: tuple[Sheet, ...] = (
    Sheet("companies", "公司", "Companies", (
        C("ref", "公司编号", "Company ref", "ref", True),
        C("legal_name", "公司名称", "Company name", "text", True),
        C("name_en", "英文名称", "English name"),
        C("uscc", "统一社会信用代码", "USCC"),
        C("sector", "所属行业", "Sector", "text", True),
        C("district", "注册区", "District"),
        C("legal_form", "公司类型", "Legal form", "choice", False, ("llc", "jsc")),
        C("registered_capital_amount", "注册资本（元）", "Registered capital (CNY)", "money"),
        C("founded_on", "成立日期", "Founded on", "date"),
    ), order=0),
    Sheet("roadshows", "路演", "Roadshows", (
        C("ref", "路演编号", "Roadshow ref", "ref", True),
        C("name", "路演名称", "Roadshow name", "text", True),
        C("held_on", "举办日期", "Held on", "date", True),
        C("venue", "地点", "Venue"),
        C("organiser", "主办方", "Organiser"),
    ), order=1),
    Sheet("deals", "项目", "Deals", (
        C("ref", "项目编号", "Deal ref", "ref", True),
        C("company", "公司编号", "Company ref", "ref", True),
        C("project_name", "项目名称", "Project name", "text", True),
        C("requested_grant_amount", "申请拨款（元）", "Requested grant (CNY)", "money", True),
        C("approved_budget_amount", "核定预算（元）", "Approved budget (CNY)", "money", True),
        C("roadshow", "路演编号", "Roadshow ref", "ref"),
        C("created_on", "登记日期", "Recorded on", "date", True),
    ), order=2),
    Sheet("scores", "路演评分", "Roadshow scores", (
        C("roadshow", "路演编号", "Roadshow ref", "ref", True),
        C("company", "公司编号", "Company ref", "ref", True),
        C("judge", "评委", "Judge", "text", True),
        C("affiliation", "评委单位", "Judge's affiliation"),
        *(C(code, zh, en, "decimal") for code, zh, en in (
            ("technology", "技术", "Technology"), ("team", "团队", "Team"),
            ("market", "市场", "Market"), ("park_fit", "产业契合", "Park fit"),
            ("policy_value", "政策价值", "Policy value"))),
        C("has_conflict", "利益冲突", "Conflict", "bool"),
        C("approves", "评审同意", "Approves", "bool"),
        C("comment", "意见", "Comment"),
    ), order=3),
    Sheet("stages", "阶段历史", "Stage history", (
        C("deal", "项目编号", "Deal ref", "ref", True),
        C("stage", "阶段", "Stage", "choice", True, STAGES),
        C("on", "日期", "Date", "date", True),
        C("reason", "原因", "Reason"),
        C("ic_reference", "投决文号", "IC reference"),
    ), order=4),
    Sheet("grants", "拨款协议", "Grants", (
        C("ref", "协议编号", "Grant ref", "ref", True),
        C("deal", "项目编号", "Deal ref", "ref", True),
        C("awarded_amount", "拨款金额（元）", "Award (CNY)", "money", True),
        C("signed_on", "签署日期", "Signed on", "date", True),
        C("holder_entity", "持股平台", "Holding entity", "text", True),
        C("agreement_no", "协议号", "Agreement no."),
        C("r10_ic_ref", "R10 投决文号", "R10 IC reference"),
    ), order=5),
    Sheet("tranches", "分期", "Tranches", (
        C("grant", "协议编号", "Grant ref", "ref", True),
        C("position", "期次", "Tranche", "int", True),
        C("amount", "金额（元）", "Amount (CNY)", "money", True),
        C("milestone", "里程碑", "Milestone"),
    ), order=5),
    Sheet("reviews", "里程碑评审", "Reviews", (
        C("grant", "协议编号", "Grant ref", "ref", True),
        C("tranche", "期次", "Tranche", "int", True),
        C("reviewed_on", "评审日期", "Reviewed on", "date", True),
        C("is_passed", "通过", "Passed", "bool", True),
        C("reviewer", "评审人", "Reviewer", "text", True),
        C("evidence", "依据", "Evidence"),
    ), order=6),
    Sheet("disbursements", "拨付", "Disbursements", (
        C("grant", "协议编号", "Grant ref", "ref", True),
        C("tranche", "期次", "Tranche", "int", True),
        C("paid_on", "拨付日期", "Paid on", "date", True),
        C("amount", "金额（元）", "Amount (CNY)", "money"),
    ), order=7),
    Sheet("refunds", "退款", "Refunds", (
        C("grant", "协议编号", "Grant ref", "ref", True),
        C("refunded_on", "退款日期", "Refunded on", "date", True),
        C("amount", "金额（元）", "Amount (CNY)", "money", True),
        C("reason", "原因", "Reason"),
    ), order=8),
    Sheet("grant_events", "拨款状态", "Grant events", (
        C("grant", "协议编号", "Grant ref", "ref", True),
        C("event", "事项", "Event", "choice", True, GRANT_EVENTS),
        C("on", "日期", "Date", "date", True),
        C("reference", "文号", "Reference"),
        C("reason", "原因", "Reason"),
        C("repaid_on", "还款日期", "Repaid on", "date"),
    ), order=9),
    Sheet("rounds", "融资轮", "Rounds", (
        C("ref", "轮次编号", "Round ref", "ref", True),
        C("company", "公司编号", "Company ref", "ref", True),
        C("name", "轮次名称", "Round name", "text", True),
        C("kind", "类型", "Kind", "choice", True, ROUND_KINDS),
        C("closed_on", "交割日期", "Closed on", "date", True),
        C("definitive_agreement_signed_on", "协议签署日期", "Agreement signed on", "date"),
        C("pre_money_valuation_amount", "投前估值（元）", "Pre-money (CNY)", "money", True),
        C("units_before", "轮前股本", "Units before", "units", True),
        C("lead", "领投方", "Lead investor"),
    ), order=10),
    Sheet("investors", "投资人", "Round investors", (
        C("round", "轮次编号", "Round ref", "ref", True),
        C("name", "投资人", "Investor", "text", True),
        C("cash_amount", "出资（元）", "Cash (CNY)", "money", True),
        C("is_independent", "独立第三方", "Independent", "bool", True),
    ), order=10),
    Sheet("holders", "轮前股东", "Holders before", (
        C("round", "轮次编号", "Round ref", "ref", True),
        C("holder", "股东", "Holder", "text", True),
        C("units", "股本", "Units", "units", True),
    ), order=10),
    Sheet("conversions", "转股", "Conversions", (
        C("grant", "协议编号", "Grant ref", "ref", True),
        C("round", "轮次编号", "Round ref", "ref", True),
        C("converted_amount", "转股金额（元）", "Converted (CNY)", "money", True),
        C("fund_units", "基金股本", "Fund units", "units", True),
        C("stake_percent", "持股比例（%）", "Stake (%)", "decimal", True),
        C("ic_resolution_ref", "R6.e 投决文号", "R6.e IC reference"),
        C("registered_on", "工商变更日期", "Registered on", "date"),
    ), order=11),
    Sheet("holdings", "直投", "Direct holdings", (
        C("ref", "持股编号", "Holding ref", "ref", True),
        C("company", "公司编号", "Company ref", "ref", True),
        C("invested_on", "投资日期", "Invested on", "date", True),
        C("amount", "金额（元）", "Amount (CNY)", "money", True),
        C("units", "股本", "Units", "units", True),
        C("holder_entity", "持股平台", "Holding entity"),
        C("reference", "文号", "Reference"),
    ), order=12),
    Sheet("marks", "估值", "Marks", (
        C("holding", "持股编号", "Holding ref", "ref", True),
        C("measured_on", "估值日", "Measured on", "date", True),
        C("method", "方法", "Method", "choice", True, MARK_METHODS),
        C("value_per_unit", "单位价值（元）", "Value per unit (CNY)", "decimal", True),
        C("author", "编制人", "Author", "text", True),
        C("approver", "复核人", "Approver"),
    ), order=13),
    Sheet("exits", "退出", "Exits", (
        C("holding", "持股编号", "Holding ref", "ref", True),
        C("kind", "方式", "Kind", "choice", True, EXIT_KINDS),
        C("transfer_on", "转让日期", "Transfer on", "date", True),
        C("units", "股本", "Units", "units", True),
        C("price_amount", "价款（元）", "Price (CNY)", "money", True),
        C("buyer", "受让方", "Buyer"),
        C("appraisal_value_amount", "评估值（元）", "Appraised value (CNY)", "money"),
        C("appraisal_base_on", "评估基准日", "Appraisal base date", "date"),
        C("appraisal_filing_no", "评估备案号", "Appraisal filing no."),
        C("appraisal_filed_on", "备案日期", "Appraisal filed on", "date"),
        C("appraiser", "评估机构", "Appraiser"),
        C("disclosure_start_on", "挂牌开始", "Disclosure start", "date"),
        C("disclosure_end_on", "挂牌结束", "Disclosure end", "date"),
        C("reserve_price_amount", "挂牌底价（元）", "Reserve price (CNY)", "money"),
        C("down_payment_amount", "首付款（元）", "Down payment (CNY)", "money"),
        C("balance_due_on", "尾款到期日", "Balance due on", "date"),
    ), order=14),
    Sheet("cash_flows", "现金流", "Cash flows", (
        C("kind", "类型", "Kind", "choice", True, FLOW_KINDS),
        C("on", "日期", "Date", "date", True),
        C("amount", "金额（元）", "Amount (CNY)", "money", True),
        C("holding", "持股编号", "Holding ref", "ref"),
        C("grant", "协议编号", "Grant ref", "ref"),
        C("reference", "摘要", "Reference"),
    ), order=15),
    Sheet("kpis", "KPI 报告", "KPI reports", (
        C("company", "公司编号", "Company ref", "ref", True),
        C("quarter", "季度", "Quarter", "text", True),
        C("revenue_amount", "营业收入（元）", "Revenue (CNY)", "money", True),
        C("rd_spend_amount", "研发投入（元）", "R&D spend (CNY)", "money", True),
        C("headcount", "员工人数", "Headcount", "int", True),
        C("pct_applications", "专利申请", "Patent applications", "int", True),
        C("value_added_amount", "增加值（元）", "Value added (CNY)", "money", True),
        C("answered_on", "报送日期", "Answered on", "date", True),
    ), order=16),
)

BY_KEY = {sheet.key: sheet for sheet in SHEETS}
