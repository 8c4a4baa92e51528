"""Compliance checks of the deal pipeline (R10.a, R2.a, R11), registered with the compliance
area's check registry; read only."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, func, or_, select, type_coerce
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
from fundapp.compliance.subjects import register_subject_names
from fundapp.deals.models import Company, Deal, DealStage, Roadshow
from fundapp.deals.policy import PipelinePolicy, pipeline_policy
from fundapp.fund.models import Fund
from fundapp.reference.calendar import add_working_days
from fundapp.reference.queries import calendar_overrides
from fundapp.ui import ReaderName, format_money


def _policy(session: Session) -> PipelinePolicy:
    return pipeline_policy(session)


OPEN_DEAL_EXCLUDED = ("declined", "withdrawn")


@register_check("limits.single_company", clause="R10.a", title=_l("Single-company limit"),
                by_book=True, notify=("fund_manager", "admin"))
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
    # One grouped query (issue 14): the deals summed per company alone (an index holds all
    # three columns), then only the companies at or near the limit joined for their names.
    total_of = func.sum(Deal.requested_grant_amount)
    near = (select(Deal.company_id, total_of.label("total"))
            .where(Deal.stage.not_in(OPEN_DEAL_EXCLUDED)).group_by(Deal.company_id)
            .having(total_of >= (limit * NEAR_LIMIT).quantize(Decimal("0.01"), ROUND_DOWN))
            .subquery())
    per_company: dict[int, Decimal] = {}
    names: dict[int, str] = {}
    for company_id, name, name_en, total in ctx.session.execute(
            select(near.c.company_id, Company.legal_name, Company.name_en, near.c.total)
            .join(Company, Company.id == near.c.company_id).order_by(near.c.company_id)):
        per_company[company_id] = total
        names[company_id] = ReaderName(name, name_en)
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


def _deal_label(deal: Any) -> ReaderName:
    """"Company · project", in the language each text of the message is rendered in."""
    english = f"{deal.name_en or deal.legal_name or ''} · " \
        f"{deal.project_name_en or deal.project_name}"
    return ReaderName(f"{deal.legal_name or ''} · {deal.project_name}", english)


@register_check("deals.grant_cap", clause="R2.a", title=_l("Grant caps"),
                by_book=True, notify=("fund_manager",))
def grant_caps(ctx: CheckContext) -> Iterable[CheckItem]:
    """R2.a: a deal's requested grant above the absolute cap or the share of its budget."""

    policy = _policy(ctx.session)
    # The database picks the deals that may be over a cap (issue 14: not every deal read into
    # Python); the exact rule below decides. On the stored fen: requested > budget × n/d - ½ fen
    # holds for every deal over its (rounded) budget cap.
    n, d = policy.grant_cap_pct_of_budget.as_integer_ratio()
    requested_fen = type_coerce(Deal.requested_grant_amount, BigInteger)
    budget_fen = type_coerce(Deal.approved_budget_amount, BigInteger)
    for deal in ctx.session.execute(
            select(Deal.id, Deal.project_name, Deal.project_name_en, Deal.requested_grant_amount,
                   Deal.approved_budget_amount, Company.legal_name, Company.name_en)
            .join(Company, Company.id == Deal.company_id)
            .where(Deal.stage.not_in(OPEN_DEAL_EXCLUDED),
                   or_(Deal.requested_grant_amount > policy.grant_cap_abs,
                       requested_fen * (2 * d) > budget_fen * (2 * n) - d))
            .order_by(Deal.id)):
        label, project = _deal_label(deal), ReaderName(deal.project_name, deal.project_name_en)
        requested = deal.requested_grant_amount
        if requested > policy.grant_cap_abs:
            yield CheckItem("R2.a", WARNING, "deal", deal.id, label,
                            _l("Deal %(deal)s requests %(requested)s, above the grant cap of "
                               "%(cap)s.", deal=project,
                               requested=format_money(requested),
                               cap=format_money(policy.grant_cap_abs)))
        budget_cap = (deal.approved_budget_amount * policy.grant_cap_pct_of_budget).quantize(
            Decimal("0.01"))
        if requested > budget_cap:
            yield CheckItem("R2.a", WARNING, "deal", deal.id, label,
                            _l("Deal %(deal)s requests %(requested)s, more than %(pct)s%% of "
                               "its approved budget (%(cap)s).", deal=project,
                               requested=format_money(requested),
                               pct=format_money(policy.grant_cap_pct_of_budget * 100, 0),
                               cap=format_money(budget_cap)))


@register_check("deals.public_notice", clause="R11", title=_l("Public notices"),
                by_book=True, notify=("fund_manager",))
def public_notices(ctx: CheckContext) -> Iterable[CheckItem]:
    """R11: deals in public notice, due on the day the notice has run its working days."""

    policy = _policy(ctx.session)
    # One query for the deals in public notice with their companies, one load of the calendar
    # for all their notices, the end worked out once per start day (issue 14).
    deals = ctx.session.execute(
        select(Deal.id, Deal.project_name, Deal.project_name_en, Deal.public_notice_started_on,
               Company.legal_name, Company.name_en)
        .outerjoin(Company, Company.id == Deal.company_id)
        .where(Deal.stage == DealStage.PUBLIC_NOTICE).order_by(Deal.id)).all()
    starts = [deal.public_notice_started_on for deal in deals
              if deal.public_notice_started_on is not None]
    ends_of: dict = {}
    if starts:
        horizon = timedelta(days=policy.public_notice_working_days * 3 + 60)
        overrides = calendar_overrides(ctx.session, min(starts), max(starts) + horizon)
        ends_of = {start: add_working_days(start, policy.public_notice_working_days, overrides)
                   for start in set(starts)}
    for deal in deals:
        label, project = _deal_label(deal), ReaderName(deal.project_name, deal.project_name_en)
        if deal.public_notice_started_on is None:
            yield CheckItem("R11", WARNING, "deal", deal.id, label,
                            _l("Deal %(deal)s is in public notice but no start date is "
                               "recorded.", deal=project))
            continue
        ends = ends_of[deal.public_notice_started_on]
        yield CheckItem("R11", INFO, "deal", deal.id, label,
                        _l("The public notice of deal %(deal)s runs until %(end)s; the "
                           "agreement can be signed from then.", deal=project,
                           end=ends.isoformat()), due_on=ends)


# How the ledger page names this domain's subjects (fundapp.compliance.subjects).
@register_subject_names("deal")
def _deal_names():
    return select(Deal.id, Deal.project_name, Deal.project_name_en), Deal.id


@register_subject_names("company")
def _company_names():
    return select(Company.id, Company.legal_name, Company.name_en), Company.id


@register_subject_names("roadshow")
def _roadshow_names():
    return select(Roadshow.id, Roadshow.name, Roadshow.name_en), Roadshow.id
