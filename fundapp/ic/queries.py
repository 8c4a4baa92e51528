"""Reading meetings for pages and the API, and the plain data the pack and minutes render from.

Everything returned for a PDF is plain JSON-able data (strings, numbers, lists, dicts): the pack
version stores exactly this, so rendering it again gives the same bytes.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundapp.auth.models import Role, User
from fundapp.deals.models import (
    Deal,
    RoadshowCriterion,
    Score,
    ScoreSheet,
)
from fundapp.deals.policy import pipeline_policy
from fundapp.deals.queries import company_scores, deal_reviews
from fundapp.deals.sectors import SECTORS
from fundapp.fund.models import Fund
from fundapp.ic.models import IcAgendaItem, IcMeeting, IcMember, IcPack, RecusalReason
from fundapp.portfolio.conversion import engine as calc
from fundapp.portfolio.grants.models import Grant

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


def meetings(session: Session, user: User | None = None) -> list[IcMeeting]:
    """Meetings, latest first; for an IC member who is not also a fund manager, admin or
    auditor, only the meetings they belong to."""
    query = select(IcMeeting).order_by(IcMeeting.held_on.desc(), IcMeeting.id.desc())
    if user is not None and not user.has_role(*READERS):
        query = query.where(IcMeeting.id.in_(select(IcMember.meeting_id)
                                             .where(IcMember.user_id == user.id)))
    return list(session.scalars(query).unique())


def latest_pack(meeting: IcMeeting) -> IcPack | None:
    return meeting.packs[-1] if meeting.packs else None


def recused_ids(item: IcAgendaItem) -> set[int]:
    return {r.user_id for r in item.recusals}


# ------------------------------------------------------------------------------ the IC pack


def _pct(part: Decimal, whole: Decimal) -> str:
    if not whole:
        return "—"
    return f"{(part * 100 / whole).quantize(CENT, rounding=ROUND_HALF_UP)}%"


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
        entry |= {"mean": str(mean), "y": 8 + index * 26}
        # bar length in SVG units: 10 points on the scale -> 300 units
        entry["width"] = int((mean * 30).to_integral_value(rounding=ROUND_HALF_UP))
        criteria.append(entry)
    row = result["row"] if result else None
    return {"name": deal.roadshow.name if deal.roadshow else "",
            "held_on": deal.roadshow.held_on.isoformat() if deal.roadshow else "",
            "rank": row.rank if row and row.rank else None, "of": result["of"] if result else 0,
            "mean": str(row.mean) if row and row.mean is not None else "—",
            "spread": str(row.spread) if row and row.spread is not None else "—",
            "judges": row.count if row else 0, "conflicts": row.conflicts if row else 0,
            "criteria": criteria, "chart_height": 16 + 26 * len(criteria)}


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
    lead = calc.Investor("假设领投方 Hypothetical lead", new_money, True, True)
    return calc.FinancingRound("priced_equity", closed_on, pre, units, (lead,),
                               legal_form=legal_form)


def _scenarios(deal: Deal, values: dict[str, Any], on: date,
               rounds: list[Any]) -> list[dict[str, Any]]:
    """R3-R6 for three hypothetical qualifying rounds (low, base, high pre-money)."""
    policy, grant, units, base, new_money, closed_on, legal_form = _hypothesis(
        deal, values, on, rounds)
    out = []
    for key, zh, en, factor in (("low", "低估值", "Low", Decimal("0.5")),
                                ("base", "基准估值", "Base", Decimal(1)),
                                ("high", "高估值", "High", Decimal(2))):
        pre = (base * factor).quantize(CENT)
        scenario: dict[str, Any] = {"key": key, "label_zh": zh, "label_en": en,
                                    "pre_money": money(pre), "new_money": money(new_money),
                                    "closed_on": closed_on.isoformat(), "error": ""}
        try:
            rnd = _round(units, pre, new_money, closed_on, legal_form)
            result = calc.compute_conversion(grant, rnd, policy, fund_holder="本基金 The fund")
        except calc.ConversionError as exc:
            scenario["error"] = str(exc)
            out.append(scenario)
            continue
        scenario |= {
            "round_price": result.round_price_display,
            "conversion_price": result.conversion_price_display,
            "fund_units": str(result.fund_units), "stake": result.fund_stake_display,
            "converted": money(result.converted_amount),
            "stake_capped": result.is_stake_capped,
            "steps": [{"clause": s.clause, "label_zh": s.label_zh, "label_en": s.label_en,
                       "formula": s.formula,
                       "inputs": "; ".join(f"{k} = {v}" for k, v in s.inputs.items()),
                       "result": "; ".join(f"{k} = {v}" for k, v in s.result.items())}
                      for s in result.steps],
            "cap_table": [{"holder": r.holder, "units": str(r.units),
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
                                     policy, None, fund_holder="本基金 The fund")
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


def _checklist(session: Session, deal: Deal, values: dict[str, Any],
               on: date) -> list[dict[str, Any]]:
    policy = pipeline_policy(session)
    cap = Decimal(values.get("grant_cap_abs", policy.grant_cap_abs))
    pct = Decimal(values.get("grant_cap_pct_of_budget", policy.grant_cap_pct_of_budget))
    single = Decimal(values.get("max_single_company_pct", policy.max_single_company_pct))
    requested = deal.requested_grant_amount
    limit = (deal.approved_budget_amount * pct).quantize(CENT)
    items = [
        {"clause": "R2.a", "label_zh": "拨款上限", "label_en": "Grant cap",
         "ok": requested <= cap,
         "detail": f"{money(requested)} ≤ {money(cap)}"},
        {"clause": "R2.a", "label_zh": "不超过预算比例", "label_en": "Share of approved budget",
         "ok": requested <= limit,
         "detail": f"{money(requested)} ≤ {pct * 100:.0f}% × {money(deal.approved_budget_amount)}"
                   f" = {money(limit)}"},
    ]
    committed = session.scalar(select(Fund.committed_amount).order_by(Fund.id).limit(1))
    others = session.scalar(select(func.coalesce(func.sum(Deal.requested_grant_amount), 0))
                            .where(Deal.company_id == deal.company_id, Deal.id != deal.id,
                                   Deal.stage.not_in(["declined", "withdrawn"])))
    total = Decimal(others or 0) + requested
    if committed is None:
        items.append({"clause": "R10.a", "label_zh": "单一企业上限",
                      "label_en": "Single-company limit", "ok": False,
                      "detail": "no fund with committed capital / 未登记基金认缴规模"})
    else:
        company_limit = (committed * single).quantize(CENT)
        items.append({"clause": "R10.a", "label_zh": "单一企业上限",
                      "label_en": "Single-company limit", "ok": total <= company_limit,
                      "detail": f"{money(total)} ≤ {single * 100:.0f}% × {money(committed)}"
                                f" = {money(company_limit)}"})
    founded = deal.company.founded_on
    age = f"{(on - founded).days // 365}" if founded else "—"
    items.append({"clause": "R10.b", "label_zh": "早期项目占比（报告项）",
                  "label_en": "Early-stage share (reported)", "ok": None,
                  "detail": f"founded {founded.isoformat() if founded else '—'}, {age} y / "
                            f"成立 {age} 年; fund-level share in the quarterly report"})
    text = " ".join((deal.project_summary, deal.milestone_plan,
                     deal.company.description)).lower()
    hits = sorted({w for w in PROHIBITED_WORDS if w.lower() in text})
    items.append({"clause": "R10.c", "label_zh": "禁止性用途筛查",
                  "label_en": "Prohibited uses screen", "ok": not hits,
                  "detail": ("flagged / 需核实: " + ", ".join(hits)) if hits else
                            "none found in the application / 申报材料未见禁止性用途"})
    return items


def _deal_section(session: Session, item: IcAgendaItem, values: dict[str, Any],
                  on: date, members: list[dict[str, Any]]) -> dict[str, Any]:
    from fundapp.portfolio.rounds.queries import company_rounds

    deal = item.deal
    company = deal.company
    rounds = company_rounds(session, company.id)
    split = values.get("tranche_split", ["0.40", "0.30", "0.30"])
    from fundapp.portfolio.grants.operations import default_tranches

    amounts = default_tranches(deal.requested_grant_amount, split)
    prior = session.scalar(select(func.coalesce(func.sum(Grant.awarded_amount), 0))
                           .where(Grant.company_id == company.id))
    recused = {r.user_id: r for r in item.recusals}
    sector = SECTORS.get(company.sector, (company.sector, company.sector))
    return {
        "position": item.position, "anchor": f"deal-{item.position}", "deal_id": deal.id,
        "project_name": deal.project_name,
        "company": {"legal_name": company.legal_name, "name_en": company.name_en,
                    "uscc": company.uscc or "—", "district": company.district or "—",
                    "legal_form": company.legal_form.value,
                    "registered_capital": money(company.registered_capital_amount),
                    "share_count": str(company.share_count or "—"),
                    "sector_zh": sector[0], "sector_en": sector[1],
                    "founded_on": company.founded_on.isoformat() if company.founded_on else "—",
                    "website": company.website, "description": company.description},
        "team": [{"name": f.name, "title": f.title, "background": f.background}
                 for f in company.founders],
        "roadshow": _roadshow(session, deal),
        "reviews": [{"name": r.name, "affiliation": r.affiliation,
                     "approved": bool(r.is_approved), "comment": r.comment}
                    for r in deal_reviews(session, deal.id)],
        "project_summary": deal.project_summary, "milestone_plan": deal.milestone_plan,
        "dd_summary": item.dd_summary, "risks": item.risks,
        "financials": {"requested": money(deal.requested_grant_amount),
                       "budget": money(deal.approved_budget_amount),
                       "share_of_budget": _pct(deal.requested_grant_amount,
                                               deal.approved_budget_amount),
                       "prior_grants": money(Decimal(prior or 0)),
                       "rounds": [{"name": r.name, "kind": r.kind.value,
                                   "closed_on": r.closed_on.isoformat(),
                                   "pre_money": money(r.pre_money_valuation_amount),
                                   "new_money": money(r.new_money_amount)} for r in rounds]},
        "tranches": [{"n": n, "share": f"{Decimal(s) * 100:.0f}%", "amount": money(a)}
                     for n, (s, a) in enumerate(zip(split, amounts, strict=True), start=1)],
        "scenarios": _scenarios(deal, values, on, rounds),
        "sensitivity": _sensitivity(deal, values, on, rounds),
        "checklist": _checklist(session, deal, values, on),
        "voters": [m | {"recused": m["user_id"] in recused,
                        "recusal": recused[m["user_id"]].reason.value
                        if m["user_id"] in recused else ""} for m in members],
    }


def pack_data(session: Session, meeting: IcMeeting, *, version: int, generated_at: datetime,
              is_final: bool) -> dict[str, Any]:
    """The plain data of one pack version; generated_at is the version's recorded time."""
    values = _policy_values(session, meeting.held_on)
    fund = session.scalar(select(Fund).order_by(Fund.id).limit(1))
    members = [{"user_id": m.user_id, "name": m.user.display_name,
                "is_chair": m.user_id == meeting.chair_id} for m in meeting.members]
    deals = [_deal_section(session, item, values, meeting.held_on, members)
             for item in meeting.items]
    return {
        "meeting": {"id": meeting.id, "title": meeting.title,
                    "held_on": meeting.held_on.isoformat(), "location": meeting.location,
                    "chair": meeting.chair.display_name, "quorum": meeting.quorum,
                    "decision_rule": meeting.decision_rule},
        "fund": {"name": fund.name if fund else "", "name_en": fund.name_en if fund else ""},
        "version": version, "is_final": is_final,
        "generated_at": generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        "policy_version": values.get("_version", ""),
        "members": members, "deals": deals,
    }


# ------------------------------------------------------------------------------ minutes


def minutes_data(meeting: IcMeeting, *, version: int, signed_by: str,
                 signed_at: datetime | None) -> dict[str, Any]:
    present = [m for m in meeting.members if m.is_present]
    items = []
    for item in meeting.items:
        recused = {r.user_id: r for r in item.recusals}
        items.append({
            "position": item.position, "company": item.deal.company.legal_name,
            "project_name": item.deal.project_name, "outcome": item.outcome.value,
            "decision_ref": item.decision_ref, "conditions": item.conditions,
            "decided_at": item.decided_at.strftime("%Y-%m-%d %H:%M UTC")
            if item.decided_at else "",
            "recusals": [{"name": r.user.display_name,
                          "reason": r.reason.value, "note": r.note}
                         for r in recused.values()],
            "votes": [{"name": v.user.display_name, "choice": v.choice.value,
                       "conditions": v.conditions, "pack_version": v.pack_version}
                      for v in item.votes],
            "counts": {choice: sum(1 for v in item.votes if v.choice.value == choice)
                       for choice in ("approve", "approve_with_conditions", "reject",
                                      "abstain")},
        })
    return {
        "meeting": {"id": meeting.id, "title": meeting.title,
                    "held_on": meeting.held_on.isoformat(), "location": meeting.location,
                    "chair": meeting.chair.display_name, "quorum": meeting.quorum,
                    "decision_rule": meeting.decision_rule},
        "version": version, "signed_by": signed_by,
        "signed_at": signed_at.strftime("%Y-%m-%d %H:%M UTC") if signed_at else "",
        "members": [{"name": m.user.display_name, "present": m.is_present}
                    for m in meeting.members],
        "present_count": len(present), "member_count": len(meeting.members),
        "packs": [{"version": p.version, "is_final": p.is_final, "sha256": p.sha256}
                  for p in meeting.packs],
        "agenda": items,
        "recusal_reasons": [r.value for r in RecusalReason],
    }
