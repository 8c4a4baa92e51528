"""R3: is a round a qualifying financing for a grant? Every clause is evaluated, in order."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal, localcontext

from fundapp.portfolio.conversion.engine.exact import (
    _EXACT,
    FEN,
    _div_round,
    _fmt_money,
    _percent_of,
    add_months,
)
from fundapp.portfolio.conversion.engine.inputs import _KIND_LABELS, FinancingRound, Grant
from fundapp.portfolio.conversion.engine.policy import DEFAULT_POLICY, ConversionPolicy
from fundapp.portfolio.conversion.engine.pricing import converting_amount
from fundapp.portfolio.conversion.engine.results import ClauseResult, QualifyingResult


def check_qualifying(
    grant: Grant, financing_round: FinancingRound, policy: ConversionPolicy = DEFAULT_POLICY
) -> QualifyingResult:
    """R3.a-R3.e in order; every clause is evaluated so the user sees all the failures."""
    with localcontext(_EXACT):
        g = converting_amount(grant, financing_round, policy)
        window_end = add_months(grant.signed_on, policy.conversion_window_months)
        grace_end = window_end + timedelta(days=policy.grace_days)
        new_money = financing_round.new_money_amount
        threshold = max(policy.qf_min_abs, policy.qf_min_multiple * g)
        clauses = (
            _check_kind(financing_round),
            _check_window(grant, financing_round, window_end, grace_end),
            _check_acceptance(grant, financing_round, policy),
            _check_size(new_money, threshold),
            _check_lead(financing_round, new_money, policy),
        )
        return QualifyingResult(
            clauses=clauses,
            converting_amount=g,
            new_money_amount=new_money,
            threshold_amount=threshold,
            window_end_on=window_end,
            grace_end_on=grace_end,
        )


def _check_kind(financing_round: FinancingRound) -> ClauseResult:
    en, zh = _KIND_LABELS[financing_round.kind]
    if financing_round.kind == "priced_equity":
        return ClauseResult("R3.a", True, f"R3.a: {en}", f"R3.a：{zh}")
    return ClauseResult(
        "R3.a",
        False,
        f"R3.a: a {en} never qualifies, only a priced cash equity round",
        f"R3.a：{zh}不构成合格融资，仅限现金增资",
    )


def _check_window(
    grant: Grant, financing_round: FinancingRound, window_end: date, grace_end: date
) -> ClauseResult:
    closed, signed = financing_round.closed_on, grant.signed_on
    agreed = financing_round.definitive_agreement_signed_on
    if closed < signed:
        return ClauseResult(
            "R3.b",
            False,
            f"R3.b: closed {closed} before the grant was signed on {signed}",
            f"R3.b：交割日 {closed} 早于拨款协议签署日 {signed}",
        )
    if closed <= window_end:
        return ClauseResult(
            "R3.b",
            True,
            f"R3.b: closed {closed} within the window {signed} to {window_end}",
            f"R3.b：交割日 {closed} 在窗口期 {signed} 至 {window_end} 内",
        )
    # Grace only for a round whose definitive agreement was signed inside the window.
    agreed_inside = agreed is not None and signed <= agreed <= window_end
    if agreed_inside and closed <= grace_end:
        return ClauseResult(
            "R3.b",
            True,
            f"R3.b: closed {closed} within the grace period to {grace_end} "
            f"(definitive agreement signed {agreed}, inside the window ending {window_end})",
            f"R3.b：交割日 {closed} 在宽限期（至 {grace_end}）内"
            f"（正式协议于窗口期内 {agreed} 签署，窗口期至 {window_end}）",
        )
    if agreed_inside:
        return ClauseResult(
            "R3.b",
            False,
            f"R3.b: closed {closed} after the grace period ended on {grace_end}",
            f"R3.b：交割日 {closed} 晚于宽限期截止日 {grace_end}",
        )
    return ClauseResult(
        "R3.b",
        False,
        f"R3.b: closed {closed} after the window ended on {window_end}, "
        f"and no definitive agreement was signed inside the window",
        f"R3.b：交割日 {closed} 晚于窗口期截止日 {window_end}，且正式协议未在窗口期内签署",
    )


def _check_acceptance(
    grant: Grant, financing_round: FinancingRound, policy: ConversionPolicy
) -> ClauseResult:
    if not policy.require_rd_acceptance:
        return ClauseResult(
            "R3.c",
            True,
            "R3.c: R&D acceptance not required by the policy",
            "R3.c：政策不要求研发验收",
        )
    accepted, closed = grant.rd_accepted_on, financing_round.closed_on
    if accepted is None:
        return ClauseResult(
            "R3.c",
            False,
            f"R3.c: closed {closed} but the R&D has not been accepted",
            f"R3.c：交割日 {closed}，但研发任务尚未验收",
        )
    if closed < accepted:
        return ClauseResult(
            "R3.c",
            False,
            f"R3.c: closed {closed} before R&D acceptance on {accepted}",
            f"R3.c：交割日 {closed} 早于研发验收日 {accepted}",
        )
    return ClauseResult(
        "R3.c",
        True,
        f"R3.c: closed {closed} on or after R&D acceptance on {accepted}",
        f"R3.c：交割日 {closed} 不早于研发验收日 {accepted}",
    )


def _check_size(new_money: Decimal, threshold: Decimal) -> ClauseResult:
    # New money is whole fen, so comparing it with the threshold rounded UP to fen gives the
    # same answer as the exact comparison, and the shown figures never contradict the verdict.
    shown = _div_round(threshold, Decimal(1), FEN, ROUND_CEILING)
    money = _fmt_money(new_money)
    if new_money >= threshold:
        return ClauseResult(
            "R3.d",
            True,
            f"R3.d: new money {money} >= {_fmt_money(shown)}",
            f"R3.d：新增资金 {money} >= {_fmt_money(shown)}",
        )
    return ClauseResult(
        "R3.d",
        False,
        f"R3.d: new money {money} < {_fmt_money(shown)}",
        f"R3.d：新增资金 {money} < {_fmt_money(shown)}",
    )


def _check_lead(
    financing_round: FinancingRound, new_money: Decimal, policy: ConversionPolicy
) -> ClauseResult:
    leads = [i for i in financing_round.investors if i.is_lead]
    if not leads:
        return ClauseResult("R3.e", False, "R3.e: no lead investor", "R3.e：无领投方")
    minimum = policy.min_lead_share
    failures: list[tuple[str, str]] = []
    for lead in leads:
        if not lead.is_independent:
            failures.append(
                (
                    f"R3.e: lead investor {lead.name} is not independent of the company, "
                    f"its founders or the fund manager",
                    f"R3.e：领投方 {lead.name} 与公司、创始人或基金管理人不独立",
                )
            )
            continue
        is_enough = new_money > 0 and lead.cash_amount >= minimum * new_money
        # The comparison is exact; the shown share is rounded down and the minimum down on a
        # pass and up on a failure, so the two shown figures always agree with the verdict
        # (never "50.00% < 50.00%").
        share = (
            _percent_of(lead.cash_amount, new_money, FEN, ROUND_DOWN)
            if new_money > 0
            else Decimal("0.00")
        )
        shown_min = _percent_of(
            minimum, Decimal(1), FEN, ROUND_DOWN if is_enough else ROUND_CEILING
        )
        if is_enough:
            return ClauseResult(
                "R3.e",
                True,
                f"R3.e: independent lead investor {lead.name} puts in {share}% of the new "
                f"money >= {shown_min}%",
                f"R3.e：独立领投方 {lead.name} 出资占新增资金 {share}% >= {shown_min}%",
            )
        failures.append(
            (
                f"R3.e: lead investor {lead.name} puts in {share}% of the new money < {shown_min}%",
                f"R3.e：领投方 {lead.name} 出资占新增资金 {share}% < {shown_min}%",
            )
        )
    return ClauseResult(
        "R3.e", False, "; ".join(en for en, _ in failures), "；".join(zh for _, zh in failures)
    )
