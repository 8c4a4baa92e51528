"""Reading meetings for pages and the API, and the plain data the pack and minutes render from.

Everything returned for a PDF is plain JSON-able data (strings, numbers, lists, dicts): the pack
version stores exactly this, so rendering it again gives the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from fundapp.auth.models import Role, User
from fundapp.deals.districts import district_en
from fundapp.deals.models import (
    MEMO_TEXTS,
    PIPELINE,
    Company,
    Deal,
    DealStage,
    RoadshowCriterion,
    Score,
    ScoreSheet,
)
from fundapp.deals.policy import pipeline_policy
from fundapp.deals.queries import company_scores, deal_reviews
from fundapp.deals.sectors import SECTORS
from fundapp.fund.models import Fund
from fundapp.ic.models import (
    IcAgendaItem,
    IcMeeting,
    IcMember,
    IcPack,
    IcRecusal,
    RecusalReason,
)
from fundapp.portfolio.conversion import engine as calc
from fundapp.portfolio.grants.models import Grant
from fundapp.search import fold

CENT = Decimal("0.01")
CRITERIA_ZH = {"technology": "技术", "team": "团队", "market": "市场",
               "park_fit": "园区产业契合度", "policy_value": "政策价值"}
# R10.c: words in an application that point at a prohibited use; a hit is flagged for the IC.
PROHIBITED_WORDS = ("担保", "抵押", "委托贷款", "二级市场", "期货", "衍生品", "房地产", "理财",
                    "捐赠", "借贷", "放贷", "名股实债", "保本", "guarantee", "mortgage",
                    "entrusted loan", "futures", "derivative", "real estate",
                    "wealth-management", "donation", "lending", "minimum return")
STAGES_ZH = {"ic_decision": "投决", "public_notice": "公示", "declined": "未通过",
             "agreement_signed": "已签约"}


def money(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP):,}"


# Those who read every meeting's pack, votes and minutes without being one of its members.
READERS = (Role.ADMIN, Role.FUND_MANAGER, Role.AUDITOR)


def meetings_query(user: User | None = None) -> Select:
    """Meetings, latest first; for an IC member who is not also a fund manager, admin or
    auditor, only the meetings they belong to. What a list shows of each meeting (members,
    agenda with recusals, packs, minutes, recorder) comes in one statement per relation for
    the whole page, not one per meeting or agenda item (issue 14)."""
    query = (select(IcMeeting).order_by(IcMeeting.held_on.desc(), IcMeeting.id.desc())
             .options(selectinload(IcMeeting.members).joinedload(IcMember.user)
                      .lazyload(User.role_rows),
                      selectinload(IcMeeting.items).selectinload(IcAgendaItem.recusals)
                      .joinedload(IcRecusal.user).lazyload(User.role_rows),
                      selectinload(IcMeeting.packs), selectinload(IcMeeting.minutes),
                      joinedload(IcMeeting.recorder).lazyload(User.role_rows)))
    if user is not None and not user.has_role(*READERS):
        query = query.where(IcMeeting.id.in_(select(IcMember.meeting_id)
                                             .where(IcMember.user_id == user.id)))
    return query


def meetings(session: Session, user: User | None = None) -> list[IcMeeting]:
    """Every meeting `user` may see, latest first (see meetings_query)."""
    return list(session.scalars(meetings_query(user)).unique())


def latest_pack(meeting: IcMeeting) -> IcPack | None:
    return meeting.packs[-1] if meeting.packs else None


def recused_ids(item: IcAgendaItem) -> set[int]:
    return {r.user_id for r in item.recusals}


# ------------------------------------------------------------------------------ the IC pack

FUND = "__fund__"  # the fund's line in an engine cap table; the template names it per language
LEAD = "__lead__"  # the hypothetical lead investor of the scenarios
EXISTING = "existing holders"  # the engine's line for the holders before the round

# The calculation sheets' variable names, per language (the engine's keys are English).
KEYS = {
    "convert_base": ("转股基数", "conversion base"), "closed_on": ("交割日", "closing date"),
    "awarded_amount": ("拨款金额", "amount awarded"),
    "disbursed_by_closing": ("交割日前已拨付", "disbursed by closing"),
    "refunded_by_closing": ("交割日前已退回", "refunded by closing"),
    "converting_amount": ("转股金额 G", "converting amount G"),
    "V_pre": ("投前估值 V_pre", "pre-money V_pre"), "U_pre": ("投前单位 U_pre", "units before U_pre"),
    "P": ("本轮价格 P", "round price P"), "Pc": ("转股价格 Pc", "conversion price Pc"),
    "cash": ("认购金额", "cash"), "units": ("单位", "units"), "G": ("转股金额 G", "G"),
    "ΔU_G": ("基金转股单位 ΔU_G", "fund units ΔU_G"), "par": ("面值", "par value"),
    "converted_amount": ("已转股金额", "converted amount"),
    "registered_capital_increase": ("新增注册资本", "registered capital increase"),
    "capital_reserve": ("资本公积", "capital reserve"),
    "investors_units": ("投资人认购单位", "investors' units"),
    "post_round_units": ("投后总单位", "post-round units"),
    "fund_stake": ("基金持股比例", "fund stake"),
    "largest_known_other_holding": ("其他股东最大持有单位", "largest other holding"),
    "cap_table_supplied": ("是否提供股权结构表", "cap table supplied"),
    "becomes_largest_holder": ("基金成为第一大股东", "fund becomes largest holder"),
    "needs_ic_resolution": ("需投决会决议", "needs an IC resolution"),
    "registration_days": ("登记期限（日）", "registration days"),
    "registration_due_on": ("登记截止日", "registration due"),
    "discount": ("折扣 d", "discount d"), "valuation_cap": ("估值上限", "valuation cap"),
    "max_stake": ("持股上限", "stake limit"), "P_cap": ("上限价格", "capped price"),
    "uncapped_units": ("未受限单位", "uncapped units"),
}
WORDS = {"true": ("是", "yes"), "false": ("否", "no"), "disbursed": ("已拨付金额", "disbursed"),
         "awarded": ("拨款金额", "awarded")}
# Formulas in words, in Chinese; the English text is the engine's own.
FORMULAS_ZH = {
    "R4.a": "G = 交割日前已拨付金额 − 已退回金额",
    "R6.a": "单位 = 金额 ÷ 价格，向下取整",
    "R6.b": "新增注册资本 = ΔU_G × 面值；资本公积 = 转股金额 − 新增注册资本",
    "R6.c": "投后总单位 = U_pre + 投资人单位 + ΔU_G；持股比例 = ΔU_G ÷ 投后总单位",
    "R6.e": "ΔU_G ≥ 其他任一股东投后单位",
    "R6.g": "交割日 + 登记期限",
}
LEVELS = {"high": ("高", "high"), "h": ("高", "high"), "高": ("高", "high"),
          "medium": ("中", "medium"), "m": ("中", "medium"), "mid": ("中", "medium"),
          "中": ("中", "medium"), "low": ("低", "low"), "l": ("低", "low"), "低": ("低", "low")}
CLOSED_WORDS = {"closed", "done", "resolved", "已关闭", "已解决", "关闭", "已落实"}
OPEN_WORDS = {"open", "pending", "未决", "待定", "待落实", "待补充", "未关闭"}


def _pct(part: Decimal, whole: Decimal) -> str:
    if not whole:
        return "—"
    return f"{(part * 100 / whole).quantize(CENT, rounding=ROUND_HALF_UP)}%"


def _number(text: str) -> str:
    """An engine value for print: thousands separators, yes/no in words."""
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError, TypeError):
        return text
    if not value.is_finite():
        return text
    places = -value.as_tuple().exponent if value.as_tuple().exponent < 0 else 0
    return f"{value:,.{places}f}"


def _words(formula: str) -> str:
    """An engine formula for the English pack: variable names (closed_on) in words."""
    return re.sub(r"\b[a-z]+(?:_[a-z]+)+\b",
                  lambda m: KEYS.get(m.group(0), ("", m.group(0).replace("_", " ")))[1],
                  formula)


def _values(mapping: dict[str, Any], language: int) -> str:
    out = []
    for key, value in mapping.items():
        label = KEYS.get(key, (key, key))[language]
        shown = WORDS.get(str(value), (None, None))[language] or _number(str(value))
        out.append(f"{label} = {shown}")
    return "；".join(out) if language == 0 else "; ".join(out)


def _policy_values(session: Session, on: date) -> dict[str, Any]:
    from fundapp.fund.operations import policy_in_force

    version = policy_in_force(session, on)
    return dict(version.values) | {"_version": version.version}


def _roadshow(session: Session, deal: Deal) -> dict[str, Any] | None:
    if deal.roadshow_id is None:
        return None
    result = next((r for r in company_scores(session, deal.company_id)
                   if r["roadshow_id"] == deal.roadshow_id), None)
    rows = session.execute(
        select(RoadshowCriterion.code, RoadshowCriterion.label, RoadshowCriterion.weight_pct,
               RoadshowCriterion.position, Score.value)
        .join(Score, Score.criterion_id == RoadshowCriterion.id)
        .join(ScoreSheet, Score.sheet_id == ScoreSheet.id)
        .where(ScoreSheet.roadshow_id == deal.roadshow_id,
               ScoreSheet.company_id == deal.company_id, ScoreSheet.has_conflict.is_(False))
        .order_by(RoadshowCriterion.position, RoadshowCriterion.id)).all()
    by_code: dict[str, dict[str, Any]] = {}
    for code, label, weight, _position, value in rows:
        entry = by_code.setdefault(code, {"code": code, "label_en": label,
                                          "label_zh": CRITERIA_ZH.get(code, label),
                                          "weight": f"{weight.normalize():f}%", "values": []})
        entry["values"].append(value)
    criteria = []
    for index, entry in enumerate(by_code.values()):
        # the mean per criterion, over the judges who scored it without a conflict
        scores = entry.pop("values")
        mean = (sum(scores, Decimal(0)) / len(scores)).quantize(CENT, rounding=ROUND_HALF_UP)
        entry |= {"mean": str(mean), "y": 24 + index * 26}
        # bar length in SVG units: the scale 0-10 points spans 300 units from x = 190
        entry["width"] = int((mean * 30).to_integral_value(rounding=ROUND_HALF_UP))
        criteria.append(entry)
    row = result["row"] if result else None
    return {"name": deal.roadshow.name if deal.roadshow else "",
            "name_en": deal.roadshow.name_en if deal.roadshow else "",
            "held_on": deal.roadshow.held_on.isoformat() if deal.roadshow else "",
            "rank": row.rank if row and row.rank else None, "of": result["of"] if result else 0,
            "mean": str(row.mean) if row and row.mean is not None else "—",
            "spread": str(row.spread) if row and row.spread is not None else "—",
            "judges": row.count if row else 0, "conflicts": row.conflicts if row else 0,
            "criteria": criteria, "chart_height": 44 + 26 * len(criteria),
            "ticks": [{"x": 190 + 30 * n, "label": str(n)} for n in range(0, 11, 2)]}


def _hypothesis(deal: Deal, values: dict[str, Any], on: date, rounds: list[Any]
                ) -> tuple[calc.ConversionPolicy, calc.Grant, Decimal, Decimal, Decimal, date,
                           str]:
    """The packs' hypothetical grant and qualifying round: (policy, grant, units before, base
    pre-money, new money, closing date, legal form)."""
    policy = calc.ConversionPolicy.from_mapping(values)
    company = deal.company
    award = deal.requested_grant_amount
    grant = calc.Grant(signed_on=on, awarded_amount=award,
                       disbursements=((on, award),),
                       rd_accepted_on=calc.add_months(on, 24))
    legal_form = company.legal_form.value
    if legal_form == "jsc":
        units = Decimal(company.share_count or 10_000_000)
    else:
        units = company.registered_capital_amount or Decimal("10000000.00")
    priced = [r for r in rounds if r.kind.value == "priced_equity"]
    base = (priced[-1].pre_money_valuation_amount + priced[-1].new_money_amount) * Decimal(
        "1.5") if priced else award * 20
    base = base.quantize(CENT)
    threshold = max(policy.qf_min_abs, (policy.qf_min_multiple * award).quantize(CENT))
    new_money = max(threshold, (base / 5).quantize(CENT))
    closed_on = calc.add_months(on, 30)
    return policy, grant, units, base, new_money, closed_on, legal_form


def _round(units: Decimal, pre: Decimal, new_money: Decimal, closed_on: date,
           legal_form: str) -> calc.FinancingRound:
    lead = calc.Investor(LEAD, new_money, True, True)
    return calc.FinancingRound("priced_equity", closed_on, pre, units, (lead,),
                               legal_form=legal_form)


def _pre_round_table(session: Session, company: Any, units: Decimal
                     ) -> tuple[list[dict[str, Any]], list[tuple[str, Decimal]] | None, str]:
    """The company's recorded cap table before the round: rows for print, the engine's rows
    when they add up to the units the scenarios assume, and the table's date."""
    from fundapp.portfolio.conversion.operations import current_cap_table

    table = current_cap_table(session, company.id)
    if table is None or not table.rows:
        return [], None, ""
    total = sum((r.units for r in table.rows), Decimal(0))
    rows = [{"holder": r.holder, "units": _number(str(r.units)),
             "percent": _pct(r.units, total), "is_fund": bool(r.is_fund)} for r in table.rows]
    engine_rows = [(r.holder, r.units) for r in table.rows] if total == units else None
    return rows, engine_rows, table.as_of.isoformat()


def _scenarios(deal: Deal, values: dict[str, Any], on: date, rounds: list[Any],
               holders: list[tuple[str, Decimal]] | None) -> list[dict[str, Any]]:
    """R3-R6 for three hypothetical qualifying rounds (low, base, high pre-money), every input
    shown with its clause."""
    policy, grant, units, base, new_money, closed_on, legal_form = _hypothesis(
        deal, values, on, rounds)
    out = []
    for key, zh, en, factor in (("low", "低估值", "Low", Decimal("0.5")),
                                ("base", "基准估值", "Base", Decimal(1)),
                                ("high", "高估值", "High", Decimal(2))):
        pre = (base * factor).quantize(CENT)
        scenario: dict[str, Any] = {
            "key": key, "label_zh": zh, "label_en": en, "pre_money": money(pre),
            "new_money": money(new_money), "post_money": money(pre + new_money),
            "closed_on": closed_on.isoformat(), "error": "", "error_clause": "",
            "discount": f"{(policy.discount * 100).normalize():f}%" if policy.discount else "",
            "valuation_cap": money(policy.valuation_cap) if policy.valuation_cap else "",
            "max_stake": f"{(policy.max_stake * 100).normalize():f}%", "steps": [],
            "cap_table": []}
        try:
            rnd = _round(units, pre, new_money, closed_on, legal_form)
            result = calc.compute_conversion(grant, rnd, policy, holders, fund_holder=FUND)
        except calc.ConversionError as exc:
            scenario["error"] = str(exc)
            scenario["error_clause"] = getattr(exc, "clause", "")
            out.append(scenario)
            continue
        scenario |= {
            "round_price": _number(result.round_price_display),
            "conversion_price": _number(result.conversion_price_display),
            "valuation_capped": result.is_valuation_capped,
            "fund_units": _number(str(result.fund_units)), "stake": result.fund_stake_display,
            "converted": money(result.converted_amount),
            "converted_amount": str(result.converted_amount),
            "remaining": money(result.remaining_grant_amount),
            "stake_capped": result.is_stake_capped,
            "largest": result.becomes_largest_holder,
            "needs_resolution": result.needs_ic_resolution,
            "steps": [{"clause": s.clause,
                       "label_zh": s.label_zh.replace(LEAD, "假设领投方"),
                       "label_en": s.label_en.replace(LEAD, "the hypothetical lead"),
                       "formula_zh": FORMULAS_ZH.get(s.clause, s.formula)
                       if re.search(r"[A-Za-z]{4,}", s.formula) else s.formula,
                       "formula_en": _words(s.formula),
                       "inputs_zh": _values(s.inputs, 0), "inputs_en": _values(s.inputs, 1),
                       "result_zh": _values(s.result, 0), "result_en": _values(s.result, 1)}
                      for s in result.steps],
            "cap_table": [{"holder": r.holder, "units": _number(str(r.units)),
                           "percent": f"{r.percent}%", "is_fund": r.is_fund}
                          for r in result.cap_table]}
        out.append(scenario)
    return out


# A refused cell of the sensitivity grid: its clause's short name (the reason is the engine's).
REFUSALS = {"R3.a": ("非现金增资", "not a priced cash round"),
            "R3.b": ("超出窗口期及宽限期", "outside the window and grace"),
            "R3.c": ("早于研发验收", "before R&D acceptance"),
            "R3.d": ("新增资金不足", "too little new money"),
            "R3.e": ("无独立领投方", "no independent lead"),
            "R5.b": ("投前估值不超过转股金额", "pre-money below the grant"),
            "R6.b": ("转股价格低于面值", "price below par")}


def _sensitivity(deal: Deal, values: dict[str, Any], on: date,
                 rounds: list[Any]) -> dict[str, Any] | None:
    """The base scenario's units and stake over pre-money (50%-200%) x discount (0-30% and the
    policy's own), each cell by the conversion engine; a refused cell names its clause."""
    policy, grant, units, base, new_money, closed_on, legal_form = _hypothesis(
        deal, values, on, rounds)
    try:
        grid = calc.sensitivity_grid(grant, _round(units, base, new_money, closed_on, legal_form),
                                     policy, None, fund_holder=FUND)
    except (calc.ConversionError, ValueError):
        return None
    rows = []
    for value, cells in zip(grid.pre_money_values, grid.tables[0].rows, strict=True):
        shown = []
        for c in cells:
            if c.refused_clause is not None:
                zh, en = REFUSALS.get(c.refused_clause, ("不予转股", "refused"))
                shown.append({"clause": c.refused_clause, "label_zh": zh, "label_en": en,
                              "is_base": c.is_base, "units": "", "stake": ""})
            else:
                shown.append({"clause": "", "label_zh": "", "label_en": "",
                              "is_base": c.is_base, "units": f"{c.fund_units:,}",
                              "stake": f"{c.fund_stake}%"})
        rows.append({"pre_money": money(value), "is_base": value == grid.base_pre_money,
                     "cells": shown})
    return {"closed_on": closed_on.isoformat(), "new_money": money(new_money),
            "discounts": [f"{(d * 100).normalize():f}%" for d in grid.discounts],
            "rows": rows}


def _exit(session: Session, values: dict[str, Any], on: date,
          scenarios: list[dict[str, Any]]) -> dict[str, Any]:
    """R7: the buy-back floor by year after the base scenario's conversion, at the LPR in force
    on the meeting day (R7.b uses the rate in force on the transfer day: an assumption)."""
    from fundapp.reference.queries import lpr_rate_on

    policy = calc.ConversionPolicy.from_mapping(values)
    window = int(values.get("buyback_window_years", 5))
    base = next((s for s in scenarios if s["key"] == "base" and s.get("converted_amount")),
                None)
    rate = lpr_rate_on(session, on)
    out: dict[str, Any] = {"t1_years": policy.t1_years, "window": window,
                           "return_cap": f"{(policy.return_cap * 100).normalize():f}%"
                           if policy.return_cap is not None else "",
                           "lpr": f"{(rate * 100).normalize():f}%" if rate is not None else "",
                           "rows": [], "principal": "", "converted_on": ""}
    if base is None or rate is None:
        return out
    principal = Decimal(base["converted_amount"])
    converted_on = date.fromisoformat(base["closed_on"])
    out |= {"principal": money(principal), "converted_on": converted_on.isoformat()}
    for year in range(1, window + 1):
        transfer_on = calc.add_months(converted_on, 12 * year)
        floor = calc.floor_price_buyback(principal, converted_on, transfer_on, rate,
                                         policy.t1_years, policy.return_cap)
        gain = floor.amount - principal
        out["rows"].append({"year": year, "transfer_on": transfer_on.isoformat(),
                            "days": f"{floor.days_held:,}", "interest": floor.is_interest_applied,
                            "floor": money(floor.amount), "gain": money(gain),
                            "capped": floor.is_return_capped,
                            "cap_amount": money(floor.cap_amount)
                            if floor.cap_amount is not None else ""})
    return out


def _lines(text: str, width: int) -> list[list[str]]:
    """A memo table written one item a line, cells split at "|" (missing cells blank)."""
    rows = []
    for line in (text or "").splitlines():
        line = line.strip().lstrip("-•·*").strip()
        if not line:
            continue
        cells = [c.strip() for c in re.split(r"\s*[|｜]\s*", line)]
        if len(cells) > width:
            cells = [*cells[:width - 1], " | ".join(cells[width - 1:])]
        rows.append(cells + [""] * (width - len(cells)))
    return rows


def _status(text: str) -> str:
    word = text.strip().lower()
    if word in CLOSED_WORDS:
        return "closed"
    if word in OPEN_WORDS or not word:
        return "open"
    return word


def _memo(deal: Deal) -> dict[str, Any]:
    """The manager's memo fields; English twins where written (else the Chinese text)."""
    memo: dict[str, Any] = {}
    for name in MEMO_TEXTS:
        zh = getattr(deal, name) or ""
        en = getattr(deal, f"{name}_en") or ""
        memo[name.removeprefix("memo_")] = {"zh": zh, "en": en or zh, "has_en": bool(en)}
    for key, width in (("dd_findings", 3), ("risks", 4), ("conditions", 1)):
        for lang in ("zh", "en"):
            memo[key][f"rows_{lang}"] = _lines(memo[key][lang], width)
    for lang in ("zh", "en"):
        for row in memo["dd_findings"][f"rows_{lang}"]:
            row[2] = _status(row[2])
        memo["risks"][f"rows_{lang}"] = [
            [r[0], *(LEVELS.get(c.strip().lower(), (c, c))[0 if lang == "zh" else 1]
                     for c in r[1:3]), r[3]] for r in memo["risks"][f"rows_{lang}"]]
    memo["open_items"] = sum(1 for r in memo["dd_findings"]["rows_zh"] if r[2] == "open")
    memo["filled"] = sum(1 for name in MEMO_TEXTS if getattr(deal, name))
    return memo


def _stage_history(deal: Deal) -> tuple[bool, str, str]:
    """R11: every pipeline stage up to the IC decision passed through, in order."""
    reached = [c.to_stage for c in deal.stage_changes]
    needed = [s for s in PIPELINE if PIPELINE.index(s) <= PIPELINE.index(DealStage.IC_DECISION)]
    current = deal.stage if deal.stage in PIPELINE else deal.held_from_stage
    if current is not None and current in PIPELINE:
        needed = needed[:PIPELINE.index(current) + 1] if PIPELINE.index(current) < len(
            needed) else needed
    missing = [s for s in needed if s not in reached]
    zh = "、".join(STAGE_NAMES[s][0] for s in reached if s in STAGE_NAMES)
    en = ", ".join(STAGE_NAMES[s][1] for s in reached if s in STAGE_NAMES)
    return not missing, zh, en


STAGE_NAMES = {DealStage.FORMAL_CHECK: ("形式审查", "formal check"),
               DealStage.ROADSHOW: ("路演", "roadshow"),
               DealStage.EXPERT_REVIEW: ("专家评审", "expert review"),
               DealStage.DUE_DILIGENCE: ("尽职调查", "due diligence"),
               DealStage.IC_DECISION: ("投决", "IC decision"),
               DealStage.PUBLIC_NOTICE: ("公示", "public notice"),
               DealStage.AGREEMENT_SIGNED: ("已签约", "agreement signed")}


def _checklist(session: Session, deal: Deal, values: dict[str, Any],
               on: date) -> list[dict[str, Any]]:
    from fundapp.deals.operations import expert_quorum

    policy = pipeline_policy(session)
    cap = Decimal(values.get("grant_cap_abs", policy.grant_cap_abs))
    pct = Decimal(values.get("grant_cap_pct_of_budget", policy.grant_cap_pct_of_budget))
    single = Decimal(values.get("max_single_company_pct", policy.max_single_company_pct))
    requested = deal.requested_grant_amount
    limit = (deal.approved_budget_amount * pct).quantize(CENT)
    budget_line = (f"{money(requested)} ≤ {pct * 100:.0f}% × "
                   f"{money(deal.approved_budget_amount)} = {money(limit)}")
    items = [
        {"clause": "R2.a", "label_zh": "拨款上限", "label_en": "Grant cap",
         "ok": requested <= cap, "detail_zh": f"{money(requested)} ≤ {money(cap)}",
         "detail_en": f"{money(requested)} ≤ {money(cap)}"},
        {"clause": "R2.a", "label_zh": "不超过预算比例", "label_en": "Share of approved budget",
         "ok": requested <= limit, "detail_zh": budget_line, "detail_en": budget_line},
    ]
    complete, zh, en = _stage_history(deal)
    items.append({"clause": "R11", "label_zh": "流程记录完整", "label_en": "Stage history complete",
                  "ok": complete, "detail_zh": f"已完成：{zh or '无'}",
                  "detail_en": f"passed: {en or 'none'}"})
    quorum = expert_quorum(session, deal, policy)
    items.append({"clause": "R11", "label_zh": "专家评审法定人数",
                  "label_en": "Expert review quorum", "ok": quorum.is_met,
                  "detail_zh": f"同意 {quorum.approvals} 票 / 需 {quorum.needed} 票"
                               f"（无利益冲突评委 {quorum.eligible} 人）",
                  "detail_en": f"{quorum.approvals} approvals of {quorum.needed} needed "
                               f"({quorum.eligible} judges without a conflict)"})
    notice_days = values.get("public_notice_working_days",
                             getattr(policy, "public_notice_working_days", 5))
    started = deal.public_notice_started_on
    items.append({"clause": "R11", "label_zh": "公示", "label_en": "Public notice", "ok": None,
                  "detail_zh": f"公示已于 {started.isoformat()} 开始" if started else
                               f"投决通过后公示 {notice_days} 个工作日，期满无异议方可签约",
                  "detail_en": f"notice started on {started.isoformat()}" if started else
                               f"after approval, {notice_days} working days' public notice "
                               "before signing"})
    committed = session.scalar(select(Fund.committed_amount).order_by(Fund.id).limit(1))
    others = session.scalar(select(func.coalesce(func.sum(Deal.requested_grant_amount), 0))
                            .where(Deal.company_id == deal.company_id, Deal.id != deal.id,
                                   Deal.stage.not_in(["declined", "withdrawn"])))
    total = Decimal(others or 0) + requested
    if committed is None:
        items.append({"clause": "R10.a", "label_zh": "单一企业上限",
                      "label_en": "Single-company limit", "ok": False,
                      "detail_zh": "未登记基金认缴规模：由管理员在基金页登记",
                      "detail_en": "no committed capital recorded: the administrator records "
                                   "it on the fund page"})
    else:
        company_limit = (committed * single).quantize(CENT)
        line = (f"{money(total)} ≤ {single * 100:.0f}% × {money(committed)} = "
                f"{money(company_limit)}")
        items.append({"clause": "R10.a", "label_zh": "单一企业上限（占认缴规模）",
                      "label_en": "Single-company limit (share of committed capital)",
                      "ok": total <= company_limit,
                      "detail_zh": f"{line}（占 {_pct(total, committed)}）",
                      "detail_en": f"{line} ({_pct(total, committed)})"})
    founded = deal.company.founded_on
    age = f"{(on - founded).days // 365}" if founded else "—"
    items.append({"clause": "R10.b", "label_zh": "早期项目占比（报告项）",
                  "label_en": "Early-stage share (reported)", "ok": None,
                  "detail_zh": f"成立于 {founded.isoformat() if founded else '—'}，{age} 年；"
                               "基金层面占比见季度报告",
                  "detail_en": f"founded {founded.isoformat() if founded else '—'}, {age} "
                               "years; the fund-level share is in the quarterly report"})
    text = " ".join((deal.project_summary, deal.milestone_plan, deal.company.description,
                     deal.memo_use_of_funds or "")).lower()
    hits = sorted({w for w in PROHIBITED_WORDS if w.lower() in text})
    items.append({"clause": "R10.c", "label_zh": "禁止性用途筛查",
                  "label_en": "Prohibited uses screen", "ok": not hits,
                  "detail_zh": ("需核实：" + "、".join(hits)) if hits else "申报材料及资金用途未见禁止性用途",
                  "detail_en": ("to verify: " + ", ".join(hits)) if hits else
                               "none found in the application and the use of funds"})
    return items


def _deal_section(session: Session, item: IcAgendaItem, values: dict[str, Any],
                  on: date, members: list[dict[str, Any]]) -> dict[str, Any]:
    from fundapp.portfolio.grants.operations import default_tranches
    from fundapp.portfolio.rounds.queries import company_rounds

    deal = item.deal
    company = deal.company
    rounds = company_rounds(session, company.id)
    split = values.get("tranche_split", ["0.40", "0.30", "0.30"])
    amounts = default_tranches(deal.requested_grant_amount, split)
    prior = session.scalar(select(func.coalesce(func.sum(Grant.awarded_amount), 0))
                           .where(Grant.company_id == company.id))
    recused = {r.user_id: r for r in item.recusals}
    sector = SECTORS.get(company.sector, (company.sector, company.sector))
    units = (Decimal(company.share_count or 10_000_000) if company.legal_form.value == "jsc"
             else company.registered_capital_amount or Decimal("10000000.00"))
    pre_rows, holders, table_on = _pre_round_table(session, company, units)
    scenarios = _scenarios(deal, values, on, rounds, holders)
    manager = session.get(User, deal.manager_id) if deal.manager_id else None
    memo = _memo(deal)
    memo |= {"reviewed_by": deal.memo_reviewed_by or "",
             "reviewed_by_en": deal.memo_reviewed_by_en or ""}
    return {
        "position": item.position, "anchor": f"deal-{item.position}", "deal_id": deal.id,
        "project_name": deal.project_name, "project_name_en": deal.project_name_en,
        "manager": manager.display_name if manager else "",
        "manager_en": manager.name_en if manager else "",
        "company": {"legal_name": company.legal_name, "name_en": company.name_en,
                    "uscc": company.uscc or "—", "district": company.district or "—",
                    "district_en": district_en(company.district),
                    "legal_form": company.legal_form.value,
                    "registered_capital": money(company.registered_capital_amount),
                    "share_count": f"{company.share_count:,}" if company.share_count else "—",
                    "sector_zh": sector[0], "sector_en": sector[1],
                    "founded_on": company.founded_on.isoformat() if company.founded_on else "—",
                    "website": company.website, "description": company.description},
        "team": [{"name": f.name, "title": f.title, "background": f.background,
                  "name_en": f.name_en, "title_en": f.title_en,
                  "background_en": f.background_en} for f in company.founders],
        "roadshow": _roadshow(session, deal),
        "reviews": [{"name": r.name, "affiliation": r.affiliation, "name_en": r.name_en,
                     "affiliation_en": r.affiliation_en,
                     "approved": bool(r.is_approved), "comment": r.comment}
                    for r in deal_reviews(session, deal.id)],
        "project_summary": deal.project_summary, "milestone_plan": deal.milestone_plan,
        "dd_summary": item.dd_summary, "risks": item.risks, "memo": memo,
        "financials": {"requested": money(deal.requested_grant_amount),
                       "budget": money(deal.approved_budget_amount),
                       "share_of_budget": _pct(deal.requested_grant_amount,
                                               deal.approved_budget_amount),
                       "prior_grants": money(Decimal(prior or 0)),
                       "rounds": [{"name": r.name, "kind": r.kind.value,
                                   "closed_on": r.closed_on.isoformat(),
                                   "pre_money": money(r.pre_money_valuation_amount),
                                   "new_money": money(r.new_money_amount)} for r in rounds]},
        "pre_round": {"rows": pre_rows, "as_of": table_on, "used": holders is not None},
        "tranches": [{"n": n, "share": f"{Decimal(s) * 100:.0f}%", "amount": money(a)}
                     for n, (s, a) in enumerate(zip(split, amounts, strict=True), start=1)],
        "scenarios": scenarios,
        "sensitivity": _sensitivity(deal, values, on, rounds),
        "exit": _exit(session, values, on, scenarios),
        "checklist": _checklist(session, deal, values, on),
        "voters": [m | {"recused": m["user_id"] in recused,
                        "recusal": recused[m["user_id"]].reason.value
                        if m["user_id"] in recused else "",
                        "recusal_note": recused[m["user_id"]].note
                        if m["user_id"] in recused else ""} for m in members],
    }


def pack_data(session: Session, meeting: IcMeeting, *, version: int, generated_at: datetime,
              is_final: bool, progress: Callable[[int, int], None] | None = None
              ) -> dict[str, Any]:
    """The plain data of one pack version; generated_at is the version's recorded time.
    `progress(done, total)` hears of each deal done (total: the deals and the rendering)."""
    values = _policy_values(session, meeting.held_on)
    fund = session.scalar(select(Fund).order_by(Fund.id).limit(1))
    members = [{"user_id": m.user_id, "name": m.user.display_name, "name_en": m.user.name_en,
                "is_chair": m.user_id == meeting.chair_id} for m in meeting.members]
    deals = []
    for number, item in enumerate(meeting.items, start=1):
        deals.append(_deal_section(session, item, values, meeting.held_on, members))
        if progress is not None:
            progress(number, len(meeting.items) + 1)
    if generated_at.tzinfo is None:
        generated_at = generated_at.replace(tzinfo=UTC)
    managers = sorted({(d["manager"], d["manager_en"]) for d in deals if d["manager"]})
    reviewers = sorted({(d["memo"]["reviewed_by"], d["memo"]["reviewed_by_en"]) for d in deals
                        if d["memo"]["reviewed_by"]})
    return {
        "meeting": {"id": meeting.id, "title": meeting.title, "title_en": meeting.title_en,
                    "held_on": meeting.held_on.isoformat(), "location": meeting.location,
                    "location_en": meeting.location_en,
                    "chair": meeting.chair.display_name, "chair_en": meeting.chair.name_en,
                    "quorum": meeting.quorum, "decision_rule": meeting.decision_rule},
        "fund": {"name": fund.name if fund else "", "name_en": fund.name_en if fund else ""},
        "document_no": f"IC-{meeting.held_on.year}-{meeting.id:02d}-P{version}",
        "version": version, "is_final": is_final,
        "generated_at": generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "prepared_by": [zh for zh, _en in managers], "reviewed_by": [zh for zh, _en in reviewers],
        "prepared_by_en": [en for _zh, en in managers],
        "reviewed_by_en": [en for _zh, en in reviewers],
        "policy_version": values.get("_version", ""),
        "members": members, "deals": deals,
    }


# ------------------------------------------------------------------------------ minutes


def _beijing(moment: datetime | None) -> str:
    """A stored UTC moment as the minutes print it: Beijing time, to the minute."""
    from fundapp.dates import SHANGHAI

    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""


def _conditions_en(item: IcAgendaItem) -> str:
    """The decision's conditions as English minutes print them: each line is "member: text"
    (decide() writes the member's name), the member named in English where they have a name."""
    english = {f"{v.user.display_name}: ": f"{v.user.name_en}: " for v in item.votes
               if v.user.name_en}
    lines = []
    for line in (item.conditions or "").split("\n"):
        prefix = next((p for p in english if line.startswith(p)), None)
        lines.append(english[prefix] + line[len(prefix):] if prefix else line)
    return "\n".join(lines)


def minutes_data(meeting: IcMeeting, *, version: int, signed_by: str,
                 signed_at: datetime | None) -> dict[str, Any]:
    """The plain data of the minutes: times, place, attendance and quorum, per deal the
    discussion, each vote with the pack version and SHA-256 it was cast on, the resolution,
    signature blocks and the signing record. Times are Beijing time."""
    import math
    from fractions import Fraction

    from sqlalchemy.orm import object_session

    session = object_session(meeting)
    fund = session.scalar(select(Fund).order_by(Fund.id).limit(1)) if session else None
    present = [m for m in meeting.members if m.is_present]
    packs = {p.version: p for p in meeting.packs}
    names = {m.user.email: m.user.display_name for m in meeting.members}
    # English names by email and by the name printed (signed_by is the signer's display name)
    names_en = {m.user.email: m.user.name_en for m in meeting.members} | {
        m.user.display_name: m.user.name_en for m in meeting.members}
    quorum_needed = math.ceil(Fraction(meeting.quorum) * len(meeting.members))
    items = []
    for item in meeting.items:
        recused = {r.user_id: r for r in item.recusals}
        eligible = [m for m in present if m.user_id not in recused]
        deal = item.deal
        company = deal.company
        items.append({
            "position": item.position, "company": company.legal_name,
            "company_en": company.name_en or company.legal_name,
            "project_name": deal.project_name, "project_name_en": deal.project_name_en,
            "outcome": item.outcome.value,
            "amount": money(deal.requested_grant_amount),
            "decision_ref": item.decision_ref, "conditions": item.conditions,
            "conditions_en": _conditions_en(item),
            "decided_at": _beijing(item.decided_at),
            "discussion": item.discussion,
            "eligible": len(eligible),
            "recusals": [{"name": r.user.display_name, "name_en": r.user.name_en,
                          "reason": r.reason.value, "note": r.note}
                         for r in recused.values()],
            "votes": [{"name": v.user.display_name, "name_en": v.user.name_en,
                       "choice": v.choice.value,
                       "conditions": v.conditions, "pack_version": v.pack_version,
                       "sha256": packs[v.pack_version].sha256 if v.pack_version in packs
                       else "",
                       "cast_at": _beijing(v.cast_at)}
                      for v in item.votes],
            "counts": {choice: sum(1 for v in item.votes if v.choice.value == choice)
                       for choice in ("approve", "approve_with_conditions", "reject",
                                      "abstain")},
        })
    record = []
    for minutes in meeting.minutes:
        signs_now = minutes.version == version and not minutes.is_signed and signed_at
        record.append({
            "version": minutes.version, "reason": minutes.reason,
            "opened_at": _beijing(minutes.opened_at),
            "opened_by": names.get(minutes.opened_by, minutes.opened_by),
            "opened_by_en": names_en.get(minutes.opened_by, ""),
            "signed_by": signed_by if signs_now else names.get(minutes.signed_by,
                                                                minutes.signed_by),
            "signed_by_en": names_en.get(signed_by if signs_now else minutes.signed_by, ""),
            "signed_at": _beijing(signed_at) if signs_now else _beijing(minutes.signed_at),
            "sha256": minutes.sha256})
    if signed_at and not any(r["version"] == version for r in record):
        record.append({"version": version, "reason": "", "opened_at": _beijing(signed_at),
                       "opened_by": signed_by, "signed_by": signed_by,
                       "opened_by_en": names_en.get(signed_by, ""),
                       "signed_by_en": names_en.get(signed_by, ""),
                       "signed_at": _beijing(signed_at), "sha256": ""})
    return {
        "fund": {"name": fund.name if fund else "",
                 "name_en": (fund.name_en or fund.name) if fund else ""},
        "meeting": {"id": meeting.id, "title": meeting.title, "title_en": meeting.title_en,
                    "held_on": meeting.held_on.isoformat(), "location": meeting.location,
                    "location_en": meeting.location_en,
                    "chair": meeting.chair.display_name, "chair_en": meeting.chair.name_en,
                    "quorum": meeting.quorum, "decision_rule": meeting.decision_rule,
                    "started_at": _beijing(meeting.started_at),
                    "ended_at": _beijing(meeting.ended_at),
                    "recorder": meeting.recorder_label,
                    "recorder_en": meeting.recorder_label_en},
        "version": version, "signed_by": signed_by,
        "signed_by_en": names_en.get(signed_by, ""),
        "signed_at": _beijing(signed_at),
        "members": [{"name": m.user.display_name, "name_en": m.user.name_en,
                     "present": m.is_present, "is_chair": m.user_id == meeting.chair_id}
                    for m in meeting.members],
        "attendees": [m.user.display_name for m in present],
        "absentees": [m.user.display_name for m in meeting.members if not m.is_present],
        "attendees_en": [m.user.name_en for m in present],
        "absentees_en": [m.user.name_en for m in meeting.members if not m.is_present],
        "present_count": len(present), "member_count": len(meeting.members),
        "quorum_needed": quorum_needed, "has_quorum": len(present) >= quorum_needed,
        "packs": [{"version": p.version, "is_final": p.is_final, "sha256": p.sha256,
                   "generated_at": _beijing(p.generated_at)} for p in meeting.packs],
        "agenda": items,
        "signing_record": record,
        "recusal_reasons": [r.value for r in RecusalReason],
    }


AGENDA_PICKER_LIMIT = 20  # deals the new meeting page's picker lists at once (issue 14: not all)


def agenda_candidates(session: Session, query: str = "", *, limit: int | None = None,
                      ids: list[int] | None = None) -> list[Deal]:
    """Deals at the IC decision stage matching `query` (the company's names, pinyin or credit
    code, or the project's name), at most `limit`, with their companies; or those of `ids`."""
    stmt = (select(Deal).join(Company, Company.id == Deal.company_id)
            .options(joinedload(Deal.company))
            .where(Deal.stage == DealStage.IC_DECISION).order_by(Deal.id))
    if ids is not None:
        stmt = stmt.where(Deal.id.in_(ids))
    folded, plain = fold(query)[:100], query.strip().lower()[:100]
    if folded or plain:
        def like(text: str) -> str:
            return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Company.search_key.like(like(folded or plain), escape="\\"),
                              func.lower(Deal.project_name).like(like(plain), escape="\\")))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt).unique())
