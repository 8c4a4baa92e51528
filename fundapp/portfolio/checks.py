"""Compliance checks of the portfolio domain (issue 7), loaded by fundapp.compliance.checks.

Each check reads a few joined queries (never one per grant or holding), never flushes, and names
the rule-book clause on every item with a due date where there is a deadline:

- portfolio.stale_marks        metrics.md (IPEV): no final mark within two quarters
- portfolio.milestone_reviews  R2.c: pending tranches / R&D acceptance past the project period end
- portfolio.registration       R6.g: conversions not yet registered (工商变更登记)
- portfolio.conversion_windows R3.b / R8.a: windows (with grace) of open grants ending soon
- portfolio.holding_limit      R10.d: holdings older than max_holding_years, or within a year of it
- portfolio.kpi_reports        quarterly KPI requests past due without an answer
- portfolio.appraisals         R9.a: the latest filed appraisal of a held holding expiring or expired
- portfolio.instalments        R9.d: instalments of a deferred exit balance unpaid past their due date
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from fundapp.compliance.checks import (
    CRITICAL,
    INFO,
    WARNING,
    CheckContext,
    CheckItem,
    register_check,
)
from fundapp.compliance.subjects import register_subject_names
from fundapp.deals.models import Company
from fundapp.fund.models import PolicyVersion
from fundapp.portfolio.conversion.engine import add_months
from fundapp.portfolio.conversion.models import Conversion
from fundapp.portfolio.exits.models import Exit, ExitInstalment
from fundapp.portfolio.grants.models import (
    OPEN_STATUSES,
    Grant,
    GrantStatus,
    Tranche,
    TrancheStatus,
)
from fundapp.portfolio.holdings.models import (
    Appraisal,
    Holding,
    HoldingStatus,
    MarkStatus,
    ValuationMark,
)
from fundapp.portfolio.kpis.models import KpiReport
from fundapp.portfolio.performance.summary import STALE_MONTHS
from fundapp.ui import ReaderName

REGISTRATION_WARN_DAYS = 30  # R6.g: warn this many days before the registration deadline
WINDOW_INFO_DAYS, WINDOW_WARN_DAYS = 90, 30  # R3.b / R8.a
HOLDING_NEAR_YEARS = 1  # R10.d: information within a year of the limit
APPRAISAL_WARN_DAYS = 60  # R9.a
MILESTONE_INFO_DAYS = 30  # R2.c: information this many days before the project period ends

MANAGERS = ("fund_manager",)


def _company(row: Any) -> str:
    """The company's name, in the language each text of the message is rendered in."""
    company = getattr(row, "company", None)
    return ReaderName(company.legal_name, company.name_en) if company is not None \
        else str(getattr(row, "company_id", ""))


def _label(name: str, agreement_no: str) -> str:
    """"Company · agreement number", in the language each text is rendered in."""
    if not agreement_no or not isinstance(name, ReaderName):
        return f"{name} · {agreement_no}" if agreement_no else name
    return ReaderName(f"{str.__str__(name)} · {agreement_no}",
                      f"{name.english} · {agreement_no}" if name.english else "")


def _grant_label(grant: Grant) -> str:
    return _label(_company(grant), grant.agreement_no)


class _Policies:
    """Every policy version, loaded once: the one in force on a day, or a grant's pinned one with
    its override, without a query (or a JSON parse) per holding or grant."""

    def __init__(self, session: Session) -> None:
        self.versions = list(session.scalars(
            select(PolicyVersion).order_by(PolicyVersion.effective_on, PolicyVersion.id)))
        self.values = {version.id: version.values for version in self.versions}
        self._pinned: dict[tuple[int, str], dict[str, Any]] = {}

    def on(self, day: date) -> dict[str, Any] | None:
        found = None
        for version in self.versions:
            if version.effective_on <= day:
                found = version
        if found is None and self.versions:
            found = self.versions[0]
        return self.values[found.id] if found is not None else None

    def pinned(self, version_id: int, override_json: str | None) -> dict[str, Any]:
        """grant_policy_values: the pinned version's values with the agreement's override."""
        key = (version_id, override_json or "{}")
        if key not in self._pinned:
            self._pinned[key] = {**self.values[version_id], **json.loads(key[1])}
        return self._pinned[key]

    def of_holding(self, row: Any) -> dict[str, Any] | None:
        """The grant's pinned policy, or the one in force on the acquisition day for a direct
        investment (a row of _holdings())."""
        if row.policy_version_id is not None:
            return self.pinned(row.policy_version_id, row.policy_override_json)
        return self.on(row.acquired_on)


def _holdings() -> Select:
    """Held holdings as plain rows: id, acquired_on, the company's names and the grant's policy
    columns (one joined query, no ORM object or lazy load per holding)."""
    return (select(Holding.id, Holding.acquired_on, Company.legal_name, Company.name_en,
                   Grant.policy_version_id, Grant.policy_override_json)
            .join(Company, Company.id == Holding.company_id)
            .outerjoin(Grant, Grant.id == Holding.grant_id)
            .where(Holding.status == HoldingStatus.ACTIVE, Holding.units > 0))


# --------------------------------------------------------------------------- marks


@register_check("portfolio.stale_marks", clause="metrics", title=_l("Stale valuation marks"),
                by_book=True, notify=MANAGERS)
def stale_marks(ctx: CheckContext) -> Iterable[CheckItem]:
    """metrics.md (IPEV): a held holding whose latest final mark is older than two quarters, or
    which has had no final mark for two quarters since it was acquired. The same rule as the
    performance page's `is_mark_stale` (valuation.is_stale, performance.STALE_MONTHS), applied
    by the database so that only the stale holdings come back."""
    latest = (select(ValuationMark.holding_id, func.max(ValuationMark.measured_on).label("on"))
              .where(ValuationMark.status == MarkStatus.FINAL,
                     ValuationMark.measured_on <= ctx.today)
              .group_by(ValuationMark.holding_id).subquery())
    since = func.coalesce(latest.c.on, Holding.acquired_on)
    rows = ctx.session.execute(
        select(Holding.id, Holding.acquired_on, Company.legal_name, Company.name_en, latest.c.on)
        .join(Company, Company.id == Holding.company_id)
        .outerjoin(latest, latest.c.holding_id == Holding.id)
        .where(Holding.status == HoldingStatus.ACTIVE, Holding.units > 0,
               since < add_months(ctx.today, -STALE_MONTHS))  # is_stale(since, today)
        .order_by(Holding.id))
    for holding in rows:
        mark_on = holding.on
        since = mark_on or holding.acquired_on
        due = add_months(since, STALE_MONTHS)
        name = ReaderName(holding.legal_name, holding.name_en)
        if mark_on is None:
            message = _l("%(company)s has had no final valuation mark since it was acquired on "
                         "%(acquired)s; a mark was due by %(due)s (marks older than two quarters "
                         "are stale).", company=name, acquired=holding.acquired_on.isoformat(),
                         due=due.isoformat())
        else:
            message = _l("The latest final valuation mark of %(company)s is of %(mark)s, older "
                         "than two quarters; a new mark was due by %(due)s.", company=name,
                         mark=mark_on.isoformat(), due=due.isoformat())
        yield CheckItem("metrics", WARNING, "holding", holding.id, name, message, due_on=due)


# --------------------------------------------------------------------------- grants


@register_check("portfolio.milestone_reviews", clause="R2.c", title=_l("Milestone reviews"),
                by_book=True, notify=MANAGERS)
def milestone_reviews(ctx: CheckContext) -> Iterable[CheckItem]:
    """R2.b/R2.c: tranches still pending without a passed review when the project period (the
    R&D acceptance date, R2.c) has ended or ends within 30 days; and grants whose R&D acceptance
    is overdue. Tranches carry no date of their own, so the project period end is the deadline."""
    grants = ctx.session.scalars(
        select(Grant).where(Grant.status == GrantStatus.DISBURSING)
        .options(selectinload(Grant.tranches).selectinload(Tranche.reviews))
        .order_by(Grant.rd_due_on, Grant.id)).unique()
    for grant in grants:
        due = grant.rd_due_on
        days = (due - ctx.today).days
        if days > MILESTONE_INFO_DAYS:
            continue
        label = _grant_label(grant)
        for tranche in grant.tranches:
            if tranche.status != TrancheStatus.PENDING or tranche.position == 1:
                continue
            if any(review.is_passed for review in tranche.reviews):
                continue
            if days < 0:
                severity = WARNING
                message = _l("Tranche %(n)s of %(grant)s (%(milestone)s) has no passed milestone "
                             "review and the project period ended on %(due)s.", n=tranche.position,
                             grant=label, milestone=tranche.milestone, due=due.isoformat())
            else:
                severity = INFO
                message = _l("Tranche %(n)s of %(grant)s (%(milestone)s) has no passed milestone "
                             "review; the project period ends on %(due)s.", n=tranche.position,
                             grant=label, milestone=tranche.milestone, due=due.isoformat())
            yield CheckItem("R2.c", severity, "tranche", tranche.id, label, message, due_on=due)
        if days < 0 and grant.rd_accepted_on is None:
            yield CheckItem("R2.c", WARNING, "grant", grant.id, label,
                            _l("The R&D acceptance of %(grant)s was due on %(due)s and is not "
                               "recorded.", grant=label, due=due.isoformat()), due_on=due)


@register_check("portfolio.registration", clause="R6.g", title=_l("Registration deadlines"),
                by_book=True, notify=MANAGERS)
def registration_deadlines(ctx: CheckContext) -> Iterable[CheckItem]:
    """R6.g: converted equity not yet registered (工商变更登记): due within 30 days is a warning,
    past the deadline a critical breach candidate."""
    conversions = ctx.session.scalars(
        select(Conversion).join(Conversion.grant).options(contains_eager(Conversion.grant))
        .where(Conversion.registered_on.is_(None), Conversion.reversed_at.is_(None),
               Conversion.registration_due_on <= ctx.today + timedelta(days=REGISTRATION_WARN_DAYS))
        .order_by(Conversion.registration_due_on, Conversion.id)).unique()
    for conversion in conversions:
        grant = conversion.grant
        label = _grant_label(grant)
        due = conversion.registration_due_on
        if due < ctx.today:
            yield CheckItem("R6.g", CRITICAL, "grant", grant.id, label,
                            _l("%(company)s has not registered the converted equity (converted on "
                               "%(converted)s); registration was due by %(due)s: a breach "
                               "candidate.", company=_company(grant),
                               converted=conversion.converted_on.isoformat(),
                               due=due.isoformat()), due_on=due)
        else:
            yield CheckItem("R6.g", WARNING, "grant", grant.id, label,
                            _l("%(company)s must register the converted equity (converted on "
                               "%(converted)s) by %(due)s.", company=_company(grant),
                               converted=conversion.converted_on.isoformat(),
                               due=due.isoformat()), due_on=due)


@register_check("portfolio.conversion_windows", clause="R3.b", title=_l("Conversion windows"),
                by_book=True, notify=MANAGERS)
def conversion_windows(ctx: CheckContext) -> Iterable[CheckItem]:
    """R3.b / R8.a: open grants whose conversion window, extended by the grace days of the
    grant's pinned policy, ends within 90 days (information) or 30 days (warning). After that
    the daily R8.a job closes the grant as a grant."""
    policies = _Policies(ctx.session)
    grants = ctx.session.execute(
        select(Grant.id, Grant.signed_on, Grant.agreement_no, Grant.policy_version_id,
               Grant.policy_override_json, Company.legal_name, Company.name_en)
        .join(Company, Company.id == Grant.company_id)
        .where(Grant.status.in_(OPEN_STATUSES)).order_by(Grant.grace_end_on, Grant.id))
    for grant in grants:
        values = policies.pinned(grant.policy_version_id, grant.policy_override_json)
        window_end = add_months(grant.signed_on, int(values["conversion_window_months"]))
        grace_end = window_end + timedelta(days=int(values["grace_days"]))
        days = (grace_end - ctx.today).days
        if days < 0 or days > WINDOW_INFO_DAYS:
            continue
        label = _label(ReaderName(grant.legal_name, grant.name_en), grant.agreement_no)
        severity = WARNING if days <= WINDOW_WARN_DAYS else INFO
        yield CheckItem("R3.b", severity, "grant", grant.id, label,
                        _l("The conversion window of %(grant)s ends on %(window)s, with grace on "
                           "%(grace)s (%(days)s days left); without a qualifying financing the "
                           "grant then closes as a grant (R8.a).", grant=label,
                           window=window_end.isoformat(), grace=grace_end.isoformat(), days=days),
                        due_on=grace_end)


# --------------------------------------------------------------------------- holdings


@register_check("portfolio.holding_limit", clause="R10.d", title=_l("Holding period limit"),
                by_book=True, notify=MANAGERS)
def holding_limit(ctx: CheckContext) -> Iterable[CheckItem]:
    """R10.d: held longer than max_holding_years (from the grant's pinned policy, or the policy in
    force on the acquisition day for a direct investment): flagged for exit; within a year of
    it: information."""
    policies = _Policies(ctx.session)
    near = add_months(ctx.today, 12 * HOLDING_NEAR_YEARS)
    for holding in ctx.session.execute(_holdings().order_by(Holding.id)):
        values = policies.of_holding(holding)
        if values is None:
            continue
        years = int(values["max_holding_years"])
        limit = add_months(holding.acquired_on, 12 * years)
        name = ReaderName(holding.legal_name, holding.name_en)
        if limit < ctx.today:
            yield CheckItem("R10.d", WARNING, "holding", holding.id, name,
                            _l("%(company)s has been held since %(acquired)s, longer than "
                               "%(years)s years (since %(limit)s): flag it for exit.",
                               company=name, acquired=holding.acquired_on.isoformat(),
                               years=years, limit=limit.isoformat()), due_on=limit)
        elif limit <= near:
            yield CheckItem("R10.d", INFO, "holding", holding.id, name,
                            _l("%(company)s, held since %(acquired)s, reaches the %(years)s-year "
                               "holding limit on %(limit)s: plan the exit.", company=name,
                               acquired=holding.acquired_on.isoformat(), years=years,
                               limit=limit.isoformat()), due_on=limit)


@register_check("portfolio.kpi_reports", clause="KPI", title=_l("KPI reports overdue"),
                by_book=True, notify=MANAGERS)
def kpi_reports(ctx: CheckContext) -> Iterable[CheckItem]:
    """Quarterly KPI requests past their due date without an answer (fundapp.portfolio.kpis)."""
    rows = ctx.session.execute(
        select(KpiReport, Company.legal_name, Company.name_en)
        .join(Company, Company.id == KpiReport.company_id)
        .where(KpiReport.answered_on.is_(None), KpiReport.due_on < ctx.today)
        .order_by(KpiReport.due_on, KpiReport.id))
    for report, legal_name, name_en in rows:
        name = ReaderName(legal_name, name_en)
        yield CheckItem("KPI", WARNING, "kpi_report", report.id, name,
                        _l("The %(quarter)s KPI report of %(company)s was due on %(due)s and has "
                           "not been answered.", quarter=report.quarter, company=name,
                           due=report.due_on.isoformat()), due_on=report.due_on)


@register_check("portfolio.appraisals", clause="R9.a", title=_l("Appraisals expiring"),
                by_book=True, notify=MANAGERS)
def appraisals(ctx: CheckContext) -> Iterable[CheckItem]:
    """R9.a: the latest filed appraisal of a held holding is valid for appraisal_validity_months
    from its base date: expiring within 60 days is a warning; expired, information (a new filing
    is needed before any exchange sale; exits are recorded at transfer, so no open listing is
    known to the fund's records)."""
    ranked = (select(Appraisal.id, func.row_number().over(
        partition_by=Appraisal.holding_id,
        order_by=(Appraisal.base_on.desc(), Appraisal.id.desc())).label("n"))
        .where(Appraisal.filed_on <= ctx.today).subquery())
    policies = _Policies(ctx.session)
    rows = ctx.session.execute(
        _holdings().add_columns(Appraisal.base_on, Appraisal.filing_no)
        .join(Appraisal, Appraisal.holding_id == Holding.id)
        .join(ranked, (ranked.c.id == Appraisal.id) & (ranked.c.n == 1))
        .order_by(Appraisal.base_on, Appraisal.id))
    for holding in rows:
        values = policies.of_holding(holding)
        if values is None:
            continue
        valid_until = add_months(holding.base_on, int(values["appraisal_validity_months"]))
        days = (valid_until - ctx.today).days
        name = ReaderName(holding.legal_name, holding.name_en)
        if days < 0:
            yield CheckItem("R9.a", INFO, "holding", holding.id, name,
                            _l("The filed appraisal %(filing)s of %(company)s (base date "
                               "%(base)s) expired on %(until)s: file a new one before any "
                               "exchange sale.", filing=holding.filing_no, company=name,
                               base=holding.base_on.isoformat(),
                               until=valid_until.isoformat()), due_on=valid_until)
        elif days <= APPRAISAL_WARN_DAYS:
            yield CheckItem("R9.a", WARNING, "holding", holding.id, name,
                            _l("The filed appraisal %(filing)s of %(company)s (base date "
                               "%(base)s) is valid until %(until)s (%(days)s days left).",
                               filing=holding.filing_no, company=name,
                               base=holding.base_on.isoformat(),
                               until=valid_until.isoformat(), days=days), due_on=valid_until)


# The reminder of fundapp.portfolio.exits.jobs notifies the fund managers of these (once before
# the due date, once when overdue), so the generic deadline reminder notifies nobody (notify=()).
@register_check("portfolio.instalments", clause="R9.d", title=_l("Instalments overdue"),
                by_book=True, notify=())
def instalments_overdue(ctx: CheckContext) -> Iterable[CheckItem]:
    """R9.d (and buy-backs paid in instalments): an instalment of a deferred exit balance still
    unpaid after its due date; the receivable is in NAV at face value meanwhile."""
    rows = ctx.session.execute(
        select(ExitInstalment, Exit.holding_id, Company.legal_name, Company.name_en)
        .join(Exit, Exit.id == ExitInstalment.exit_id)
        .join(Holding, Holding.id == Exit.holding_id)
        .join(Company, Company.id == Holding.company_id)
        .where(ExitInstalment.paid_on.is_(None), ExitInstalment.due_on < ctx.today)
        .order_by(ExitInstalment.due_on, ExitInstalment.id))
    for line, holding_id, legal_name, name_en in rows:
        name = ReaderName(legal_name, name_en)
        yield CheckItem("R9.d", WARNING, "holding", holding_id, name,
                        _l("Instalment %(n)s of exit %(exit)s (%(company)s), %(amount)s, was due "
                           "on %(due)s and has not been paid.", n=line.number,
                           exit=line.exit_id, company=name,
                           amount=f"{line.principal_amount + line.interest_amount:,}",
                           due=line.due_on.isoformat()), due_on=line.due_on)


# How the ledger page names this domain's subjects (fundapp.compliance.subjects): a grant as its
# company and agreement number, a holding as its company.
@register_subject_names("grant")
def _grant_names():
    return (select(Grant.id, Company.legal_name, Company.name_en, Grant.agreement_no)
            .join(Company, Company.id == Grant.company_id), Grant.id)


@register_subject_names("holding")
def _holding_names():
    return (select(Holding.id, Company.legal_name, Company.name_en)
            .join(Company, Company.id == Holding.company_id), Holding.id)
