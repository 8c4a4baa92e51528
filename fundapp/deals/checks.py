"""Compliance checks of the deal pipeline (R10.a, R2.a, R11), registered with the compliance
area's check registry; read only."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.checks import (
    CRITICAL,
    INFO,
    NEAR_LIMIT,
    WARNING,
    CheckContext,
    CheckItem,
    register_check,
)
from fundapp.deals.models import Company, Deal, DealStage
from fundapp.deals.operations import notice_end
from fundapp.deals.policy import PipelinePolicy, pipeline_policy
from fundapp.fund.models import Fund
from fundapp.ui import format_money


def _policy(session: Session) -> PipelinePolicy:
    return pipeline_policy(session)


OPEN_DEAL_EXCLUDED = ("declined", "withdrawn")


@register_check("limits.single_company", clause="R10.a", title=_l("Single-company limit"),
                notify=("fund_manager", "admin"))
def single_company_exposure(ctx: CheckContext) -> Iterable[CheckItem]:
    """R10.a: everything a company has asked for and been given, against 10% of commitments.

    Until grants and investments are recorded this counts the grant requested on each deal that
    is not declined or withdrawn; the grants work adds its awarded amounts here.
    """

    committed = ctx.session.scalar(select(Fund.committed_amount).order_by(Fund.id).limit(1))
    if committed is None:
        return
    pct = _policy(ctx.session).max_single_company_pct
    limit = (committed * pct).quantize(Decimal("0.01"))
    per_company: dict[int, Decimal] = {}
    names: dict[int, str] = {}
    for deal in ctx.session.scalars(select(Deal).where(
            Deal.stage.not_in(OPEN_DEAL_EXCLUDED)).order_by(Deal.id)):
        per_company[deal.company_id] = (per_company.get(deal.company_id, Decimal(0))
                                        + deal.requested_grant_amount)
        names[deal.company_id] = deal.company.legal_name if deal.company else str(deal.company_id)
    if not per_company:
        return
    for company in ctx.session.scalars(select(Company).where(Company.id.in_(per_company))):
        names[company.id] = company.legal_name
    for company_id, total in sorted(per_company.items()):
        if total > limit:
            severity = CRITICAL
            message = _l("%(company)s: %(total)s requested in all exceeds the single-company "
                         "limit of %(limit)s (%(pct)s%% of the fund's commitments); an IC "
                         "resolution is needed to go ahead.", company=names[company_id],
                         total=format_money(total), limit=format_money(limit),
                         pct=format_money(pct * 100, 0))
        elif limit and total >= limit * NEAR_LIMIT:
            severity = WARNING
            message = _l("%(company)s: %(total)s requested in all is %(share)s%% of the "
                         "single-company limit of %(limit)s.", company=names[company_id],
                         total=format_money(total), limit=format_money(limit),
                         share=format_money(total / limit * 100, 0))
        else:
            continue
        yield CheckItem("R10.a", severity, "company", company_id, names[company_id], message)


@register_check("deals.grant_cap", clause="R2.a", title=_l("Grant caps"),
                notify=("fund_manager",))
def grant_caps(ctx: CheckContext) -> Iterable[CheckItem]:
    """R2.a: a deal's requested grant above the absolute cap or the share of its budget."""

    policy = _policy(ctx.session)
    for deal in ctx.session.scalars(select(Deal).where(
            Deal.stage.not_in(OPEN_DEAL_EXCLUDED)).order_by(Deal.id)):
        label = f"{deal.company.legal_name if deal.company else ''} · {deal.project_name}"
        requested = deal.requested_grant_amount
        if requested > policy.grant_cap_abs:
            yield CheckItem("R2.a", WARNING, "deal", deal.id, label,
                            _l("Deal %(deal)s requests %(requested)s, above the grant cap of "
                               "%(cap)s.", deal=deal.project_name,
                               requested=format_money(requested),
                               cap=format_money(policy.grant_cap_abs)))
        budget_cap = (deal.approved_budget_amount * policy.grant_cap_pct_of_budget).quantize(
            Decimal("0.01"))
        if requested > budget_cap:
            yield CheckItem("R2.a", WARNING, "deal", deal.id, label,
                            _l("Deal %(deal)s requests %(requested)s, more than %(pct)s%% of "
                               "its approved budget (%(cap)s).", deal=deal.project_name,
                               requested=format_money(requested),
                               pct=format_money(policy.grant_cap_pct_of_budget * 100, 0),
                               cap=format_money(budget_cap)))


@register_check("deals.public_notice", clause="R11", title=_l("Public notices"),
                notify=("fund_manager",))
def public_notices(ctx: CheckContext) -> Iterable[CheckItem]:
    """R11: deals in public notice, due on the day the notice has run its working days."""

    policy = _policy(ctx.session)
    for deal in ctx.session.scalars(select(Deal).where(
            Deal.stage == DealStage.PUBLIC_NOTICE).order_by(Deal.id)):
        label = f"{deal.company.legal_name if deal.company else ''} · {deal.project_name}"
        if deal.public_notice_started_on is None:
            yield CheckItem("R11", WARNING, "deal", deal.id, label,
                            _l("Deal %(deal)s is in public notice but no start date is "
                               "recorded.", deal=deal.project_name))
            continue
        ends = notice_end(ctx.session, deal.public_notice_started_on, policy)
        yield CheckItem("R11", INFO, "deal", deal.id, label,
                        _l("The public notice of deal %(deal)s runs until %(end)s; the "
                           "agreement can be signed from then.", deal=deal.project_name,
                           end=ends.isoformat()), due_on=ends)
