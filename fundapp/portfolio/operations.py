"""Policies, grant agreements, tranches, rounds and conversions (rule book R2-R8, R10, R12).

Every function takes validated data, changes the database with flush() only, and writes its
ledger entry in the same transaction; the caller (view, API, job, demo) commits once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.config import instance_dir
from fundapp.deals.models import Company, Deal, DealStage
from fundapp.errors import AppError, NotFound, RuleRefused, ValidationFailed
from fundapp.portfolio import conversion as calc
from fundapp.portfolio import valuation
from fundapp.portfolio.models import (
    OPEN_STATUSES,
    AlternativeTrigger,
    Appraisal,
    CapTable,
    CapTableRow,
    CashFlow,
    Conversion,
    EvidenceDocument,
    Exit,
    ExitKind,
    FinancingRound,
    FlowKind,
    Fund,
    Grant,
    GrantDisbursement,
    GrantRefund,
    GrantStatus,
    Holding,
    HoldingOrigin,
    HoldingStatus,
    IndexLevel,
    IndexSeries,
    MarkMethod,
    MarkStatus,
    MilestoneReview,
    PolicyVersion,
    RoundCheck,
    RoundInvestor,
    RoundKind,
    Tranche,
    TrancheStatus,
    ValuationMark,
)
from fundapp.portfolio.policies import (
    clean_values,
    conversion_policy,
    load_default_file,
    values_json,
)
from fundapp.reference.queries import lpr_rate_on

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


MAX_ID = 2**31 - 1  # ids in URLs beyond an INTEGER are simply not found (SQLite would overflow)


def _refuse(rule: str, message: Any, **details: Any) -> RuleRefused:
    return RuleRefused(rule, message, **details)


def _field_error(field: str, message: Any) -> ValidationFailed:
    return ValidationFailed(_l("Some fields are not valid."), details={field: [str(message)]})


# --------------------------------------------------------------------------- policies


def ensure_default_policy(session: Session) -> PolicyVersion | None:
    """Load the shipped default policy file as the first version when there is none yet."""
    if session.scalar(select(PolicyVersion.id).limit(1)) is not None:
        return None
    data = load_default_file()
    values, errors = clean_values(data["values"])
    if errors:  # the shipped file is checked by a test; this guards a hand-edited copy
        raise RuntimeError(f"the default policy file is not valid: {errors}")
    version = PolicyVersion(version=data["version"],
                            effective_on=date.fromisoformat(data["effective_on"]),
                            values_json=values_json(values), approved_by=data["approved_by"],
                            ic_resolution_ref=data.get("ic_resolution_ref", ""),
                            note=data.get("note", ""), created_by="system")
    session.add(version)
    session.flush()
    record(session, actor="system", action="policy.loaded", subject_type="policy_version",
           subject_id=version.id, payload={"version": version.version,
                                           "effective_on": version.effective_on,
                                           "values": values, "source": "default.json"})
    return version


def policy_in_force(session: Session, on: date) -> PolicyVersion:
    """The version with the latest effective date on or before `on` (ties: the newer version)."""
    ensure_default_policy(session)
    version = session.scalar(select(PolicyVersion).where(PolicyVersion.effective_on <= on)
                             .order_by(PolicyVersion.effective_on.desc(),
                                       PolicyVersion.id.desc()).limit(1))
    if version is None:
        raise _refuse("policy", _l("No policy version is in force on %(day)s.", day=on.isoformat()),
                      field="signed_on")
    return version


def create_policy_version(session: Session, *, effective_on: date, values: Mapping[str, Any],
                          approved_by: str, ic_resolution_ref: str, note: str = "",
                          version: str | None = None, actor: str) -> PolicyVersion:
    """An admin's change: a new version; parameters not given keep the values in force then."""
    base = policy_in_force(session, effective_on).values
    merged = {**base, **dict(values)}
    clean, errors = clean_values(merged)
    if errors:
        raise ValidationFailed(_l("Some policy values are not valid."),
                               details={"values": errors})
    if not version:
        count = session.scalar(select(func.count()).select_from(PolicyVersion)) or 0
        version = f"v{count + 1}-{effective_on.isoformat()}"
    if session.scalar(select(PolicyVersion.id).where(PolicyVersion.version == version)):
        raise ValidationFailed(_l("Some fields are not valid."),
                               details={"version": [str(_l("This version id is taken."))]})
    row = PolicyVersion(version=version, effective_on=effective_on, values_json=values_json(clean),
                        approved_by=approved_by, ic_resolution_ref=ic_resolution_ref, note=note,
                        created_by=actor)
    session.add(row)
    session.flush()
    changed = {k: {"before": base.get(k), "after": v} for k, v in clean.items()
               if base.get(k) != v}
    record(session, actor=actor, action="policy.version_created", subject_type="policy_version",
           subject_id=row.id, payload={"version": version, "effective_on": effective_on,
                                       "approved_by": approved_by,
                                       "ic_resolution_ref": ic_resolution_ref,
                                       "changed": changed, "values": clean})
    return row


def grant_policy_values(grant: Grant) -> dict[str, Any]:
    """The pinned version's values with the agreement's own override on top."""
    return {**grant.policy_version.values, **grant.policy_override}


def grant_policy(grant: Grant) -> calc.ConversionPolicy:
    return conversion_policy(grant_policy_values(grant))


def _check_override(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    clean, errors = clean_values({**base, **override})
    if errors:
        raise ValidationFailed(_l("Some policy values are not valid."),
                               details={"policy_override": errors})
    return {k: clean[k] for k in override}


def override_grant_policy(session: Session, grant: Grant, *, values: Mapping[str, Any],
                          ic_resolution_ref: str, actor: str) -> None:
    """A per-agreement override; it needs an IC resolution and is ledgered."""
    if not ic_resolution_ref.strip():
        raise _field_error("ic_resolution_ref",
                           _l("An override of the policy needs an IC resolution reference."))
    if grant.status not in OPEN_STATUSES:
        raise _refuse("R12", _l("Only an open agreement can be changed."), status=grant.status)
    before = grant.policy_override
    clean = _check_override(grant.policy_version.values, {**before, **values})
    grant.policy_override_json = values_json(clean)
    grant.override_ic_ref = ic_resolution_ref.strip()
    _refresh_dates(grant)
    record(session, actor=actor, action="grant.policy_overridden", subject_type="grant",
           subject_id=grant.id, payload={"policy_version": grant.policy_version.version,
                                         "before": before, "after": clean,
                                         "ic_resolution_ref": grant.override_ic_ref})


# --------------------------------------------------------------------------- agreements


def _refresh_dates(grant: Grant) -> None:
    values = grant_policy_values(grant)
    grant.rd_due_on = calc.add_months(grant.signed_on, int(values["project_period_months"]))
    grant.window_end_on = calc.add_months(grant.signed_on, int(values["conversion_window_months"]))
    grant.grace_end_on = date.fromordinal(grant.window_end_on.toordinal()
                                          + int(values["grace_days"]))


def default_tranches(award: Decimal, split: Sequence[str]) -> list[Decimal]:
    """R2.b default split (40/30/30): each share rounded down to fen, the last takes the rest."""
    amounts = [(award * Decimal(s)).quantize(FEN, rounding=ROUND_DOWN) for s in split[:-1]]
    return [*amounts, award - sum(amounts, ZERO)]


def get_grant(session: Session, grant_id: int) -> Grant:
    grant = session.get(Grant, grant_id) if 0 < grant_id <= MAX_ID else None
    if grant is None:
        raise NotFound(_l("No such grant agreement."))
    return grant


def create_grant(session: Session, *, deal_id: int, awarded_amount: Decimal, signed_on: date,
                 holder_entity: str, tranches: Sequence[Mapping[str, Any]] | None = None,
                 approved_budget_amount: Decimal | None = None, agreement_no: str = "",
                 exit_filing_no: str = "", exit_filed_on: date | None = None,
                 alternative_conditions: str = "",
                 policy_override: Mapping[str, Any] | None = None,
                 override_ic_ref: str = "", r10_ic_ref: str = "",
                 actor: str) -> Grant:
    """A grant agreement for a deal at "agreement signed" (R2), pinned to the policy in force."""
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise _field_error("deal_id", _l("No such deal."))
    if deal.stage != DealStage.AGREEMENT_SIGNED:
        raise _refuse("R11", _l("A grant agreement needs a deal at \"agreement signed\"."),
                      field="deal_id", stage=deal.stage.value)
    if session.scalar(select(Grant.id).where(Grant.deal_id == deal.id)) is not None:
        raise AppError(_l("This deal already has a grant agreement."), status=409,
                       code="duplicate", details={"deal_id": [str(deal.id)]})
    version = policy_in_force(session, signed_on)
    base = version.values
    override = _check_override(base, policy_override or {})
    if override and not override_ic_ref.strip():
        raise _field_error("override_ic_ref",
                           _l("An override of the policy needs an IC resolution reference."))
    values = {**base, **override}
    budget = approved_budget_amount if approved_budget_amount is not None \
        else deal.approved_budget_amount
    if awarded_amount <= 0:
        raise _field_error("awarded_amount", _l("Must be more than 0."))
    cap_abs = Decimal(values["grant_cap_abs"])
    cap_pct = Decimal(values["grant_cap_pct_of_budget"])
    if awarded_amount > cap_abs:
        raise _refuse("R2.a", _l("The award %(award)s exceeds the cap of %(cap)s.",
                                 award=_money(awarded_amount), cap=_money(cap_abs)),
                      field="awarded_amount")
    if awarded_amount > budget * cap_pct:
        raise _refuse("R2.a", _l("The award %(award)s exceeds %(pct)s%% of the approved budget "
                                 "%(budget)s.", award=_money(awarded_amount),
                                 pct=_pct(cap_pct), budget=_money(budget)),
                      field="awarded_amount")
    fund = session.scalar(select(Fund).order_by(Fund.id).limit(1))
    _check_single_company_limit(session, fund, deal.company_id, awarded_amount, values,
                                r10_ic_ref)
    if tranches:
        amounts = [Decimal(t["amount"]) for t in tranches]
        milestones = [str(t.get("milestone", "")) for t in tranches]
        if any(a <= 0 for a in amounts):
            raise _field_error("tranches", _l("Every tranche must be more than 0."))
        if sum(amounts, ZERO) != awarded_amount:
            raise _field_error("tranches", _l(
                "The tranches sum to %(total)s but the award is %(award)s (R2.b).",
                total=_money(sum(amounts, ZERO)), award=_money(awarded_amount)))
    else:
        amounts = default_tranches(awarded_amount, values["tranche_split"])
        milestones = [str(_l("On signing"))] + [
            str(_l("Milestone %(n)s passed", n=n)) for n in range(2, len(amounts) + 1)]
    grant = Grant(deal_id=deal.id, company_id=deal.company_id, fund_id=fund.id if fund else None,
                  agreement_no=agreement_no, awarded_amount=awarded_amount,
                  approved_budget_amount=budget, signed_on=signed_on,
                  holder_entity=holder_entity, exit_filing_no=exit_filing_no,
                  exit_filed_on=exit_filed_on, alternative_conditions=alternative_conditions,
                  policy_version=version, policy_override_json=values_json(override),
                  override_ic_ref=override_ic_ref.strip(), status=GrantStatus.DISBURSING,
                  created_by=actor,
                  tranches=[Tranche(position=i, amount=a, milestone=m)
                            for i, (a, m) in enumerate(zip(amounts, milestones, strict=True),
                                                       start=1)])
    _refresh_dates(grant)
    session.add(grant)
    session.flush()
    record(session, actor=actor, action="grant.signed", subject_type="grant", subject_id=grant.id,
           payload={"deal_id": deal.id, "company_id": deal.company_id,
                    "awarded_amount": awarded_amount, "approved_budget_amount": budget,
                    "signed_on": signed_on, "holder_entity": holder_entity,
                    "tranches": [{"position": t.position, "amount": t.amount,
                                  "milestone": t.milestone} for t in grant.tranches],
                    "policy_version": version.version, "exit_filing_no": exit_filing_no,
                    "exit_filed_on": exit_filed_on,
                    "alternative_conditions": alternative_conditions,
                    "r10_ic_ref": r10_ic_ref})
    if override:
        record(session, actor=actor, action="grant.policy_overridden", subject_type="grant",
               subject_id=grant.id, payload={"policy_version": version.version, "before": {},
                                             "after": override,
                                             "ic_resolution_ref": grant.override_ic_ref})
    return grant


def _check_single_company_limit(session: Session, fund: Fund | None, company_id: int,
                                award: Decimal, values: Mapping[str, Any], ic_ref: str) -> None:
    """R10.a: all grants of one company within max_single_company_pct of committed capital."""
    if fund is None:
        return
    existing = session.scalars(select(Grant.awarded_amount)
                               .where(Grant.company_id == company_id)).all()
    total = sum(existing, ZERO) + award
    limit = fund.committed_amount * Decimal(values["max_single_company_pct"])
    if total > limit and not ic_ref.strip():
        raise _refuse("R10.a", _l("All grants to this company would be %(total)s, above the "
                                  "single-company limit of %(limit)s; an IC resolution is needed.",
                                  total=_money(total), limit=_money(limit)), field="r10_ic_ref")


def _money(amount: Decimal) -> str:
    return f"{amount.quantize(FEN):,}"


def _pct(fraction: Decimal) -> str:
    return format((fraction * 100).normalize(), "f")


def _require_open(grant: Grant, rule: str = "R2.b") -> None:
    if grant.status not in OPEN_STATUSES:
        raise _refuse(rule, _l("The agreement is %(status)s; nothing more can be paid or "
                               "changed.", status=grant.status.value), status=grant.status.value)


def _tranche(grant: Grant, position: int) -> Tranche:
    for tranche in grant.tranches:
        if tranche.position == position:
            return tranche
    raise _field_error("tranche", _l("No tranche %(n)s on this agreement.", n=position))


def record_milestone_review(session: Session, grant: Grant, *, tranche: int, is_passed: bool,
                            reviewer: str, reviewed_on: date, evidence: str = "",
                            actor: str) -> MilestoneReview:
    """R2.b: a passed review lets the tranche go out; a failed one keeps it back."""
    _require_open(grant)
    row = _tranche(grant, tranche)
    if row.status != TrancheStatus.PENDING:
        raise _refuse("R2.b", _l("Tranche %(n)s is already %(status)s.", n=row.position,
                                 status=row.status.value), field="tranche")
    if reviewed_on < grant.signed_on:
        raise _field_error("reviewed_on", _l("The review cannot precede the signing date."))
    review = MilestoneReview(tranche=row, is_passed=is_passed, reviewer=reviewer,
                             reviewed_on=reviewed_on, evidence=evidence, recorded_by=actor)
    session.add(review)
    session.flush()
    record(session, actor=actor, action="grant.milestone_reviewed", subject_type="grant",
           subject_id=grant.id, payload={"tranche": row.position, "is_passed": is_passed,
                                         "reviewer": reviewer, "reviewed_on": reviewed_on,
                                         "evidence": evidence, "clause": "R2.b"})
    return review


def disburse(session: Session, grant: Grant, *, tranche: int, paid_on: date,
             amount: Decimal | None = None, actor: str) -> GrantDisbursement:
    """Release (part of) a tranche, gated by R2.b."""
    _require_open(grant)
    row = _tranche(grant, tranche)
    if row.status != TrancheStatus.PENDING:
        raise _refuse("R2.b", _l("Tranche %(n)s is %(status)s and cannot be paid.",
                                 n=row.position, status=row.status.value), field="tranche")
    if paid_on < grant.signed_on:
        raise _field_error("paid_on", _l("A payment cannot precede the signing date."))
    if row.position > 1:
        latest = row.reviews[-1] if row.reviews else None
        if latest is None or not latest.is_passed:
            raise _refuse("R2.b", _l("Tranche %(n)s needs a passed milestone review first.",
                                     n=row.position), field="tranche")
        if paid_on < latest.reviewed_on:
            raise _field_error("paid_on", _l("The payment cannot precede the passed review."))
    paid_on_tranche = sum((d.amount for d in grant.disbursements if d.tranche_id == row.id), ZERO)
    amount = row.amount - paid_on_tranche if amount is None else amount
    if amount <= 0:
        raise _field_error("amount", _l("Must be more than 0."))
    if grant.disbursed_amount + amount > grant.awarded_amount:
        raise _refuse("R2.b", _l("Paying %(amount)s would release %(total)s, more than the award "
                                 "of %(award)s.", amount=_money(amount),
                                 total=_money(grant.disbursed_amount + amount),
                                 award=_money(grant.awarded_amount)), field="amount")
    if paid_on_tranche + amount > row.amount:
        raise _field_error("amount", _l("Tranche %(n)s has only %(left)s left to pay.",
                                        n=row.position, left=_money(row.amount - paid_on_tranche)))
    payment = GrantDisbursement(grant=grant, tranche=row, amount=amount, paid_on=paid_on,
                                recorded_by=actor)
    session.add(payment)
    if paid_on_tranche + amount == row.amount:
        row.status = TrancheStatus.RELEASED
    session.flush()
    record(session, actor=actor, action="grant.tranche_released", subject_type="grant",
           subject_id=grant.id, payload={"tranche": row.position, "amount": amount,
                                         "paid_on": paid_on, "clause": "R2.b",
                                         "disbursed_total": grant.disbursed_amount})
    return payment


def record_refund(session: Session, grant: Grant, *, amount: Decimal, refunded_on: date,
                  reason: str = "", actor: str) -> GrantRefund:
    """Money the company returns (unspent balance, R8.a); it reduces the converting amount (R4.a)."""
    if amount <= 0:
        raise _field_error("amount", _l("Must be more than 0."))
    held = grant.disbursed_amount - grant.refunded_amount
    if amount > held:
        raise _field_error("amount", _l("Only %(held)s has been paid and not refunded.",
                                        held=_money(held)))
    if refunded_on < grant.signed_on:
        raise _field_error("refunded_on", _l("A refund cannot precede the signing date."))
    refund = GrantRefund(grant=grant, amount=amount, refunded_on=refunded_on, reason=reason,
                         recorded_by=actor)
    session.add(refund)
    session.flush()
    record(session, actor=actor, action="grant.refund_recorded", subject_type="grant",
           subject_id=grant.id, payload={"amount": amount, "refunded_on": refunded_on,
                                         "reason": reason, "clause": "R4.a"})
    return refund


def accept_rd(session: Session, grant: Grant, *, accepted_on: date, reference: str,
              actor: str) -> None:
    """R2.c: the R&D tasks are accepted (验收); from then a round can qualify (R3.c)."""
    if grant.status != GrantStatus.DISBURSING:
        raise _refuse("R2.c", _l("Only an agreement that is disbursing can have its R&D accepted."),
                      status=grant.status.value)
    if accepted_on < grant.signed_on:
        raise _field_error("accepted_on", _l("Acceptance cannot precede the signing date."))
    grant.rd_accepted_on = accepted_on
    grant.rd_acceptance_ref = reference
    grant.status = GrantStatus.RD_ACCEPTED
    record(session, actor=actor, action="grant.rd_accepted", subject_type="grant",
           subject_id=grant.id, payload={"accepted_on": accepted_on, "reference": reference,
                                         "due_on": grant.rd_due_on, "clause": "R2.c",
                                         "late": accepted_on > grant.rd_due_on})


def _cancel_pending(grant: Grant, status: TrancheStatus) -> list[int]:
    cancelled = []
    for tranche in grant.tranches:
        paid = sum((d.amount for d in grant.disbursements if d.tranche_id == tranche.id), ZERO)
        if tranche.status == TrancheStatus.PENDING and paid == 0:
            tranche.status = status
            cancelled.append(tranche.position)
    return cancelled


def declare_breach(session: Session, grant: Grant, *, breach_on: date, reason: str,
                   repaid_on: date, actor: str) -> calc.PenaltyInterest:
    """R8.c: suspend the tranches and set the recovery: disbursed + penalty interest."""
    _require_open(grant, "R8.c")
    if not reason.strip():
        raise _field_error("reason", _l("Say what the breach is."))
    if breach_on < grant.signed_on:
        raise _field_error("breach_on", _l("A breach cannot precede the signing date."))
    rate = lpr_rate_on(session, repaid_on)
    if rate is None:
        raise _refuse("R8.c", _l("No 1-year LPR is published on or before %(day)s; an admin "
                                 "must enter it first.", day=repaid_on.isoformat()),
                      field="repaid_on")
    values = grant_policy_values(grant)
    try:
        penalty = calc.penalty_interest([(d.paid_on, d.amount) for d in grant.disbursements],
                                        repaid_on, rate, Decimal(values["penalty_rate_multiple"]))
    except calc.ConversionError as exc:
        raise _refuse(exc.clause, str(exc), field="repaid_on") from None
    suspended = _cancel_pending(grant, TrancheStatus.SUSPENDED)
    grant.status = GrantStatus.IN_BREACH
    grant.breach_on = breach_on
    grant.breach_reason = reason
    grant.recovery_due_on = repaid_on
    grant.recovery_principal_amount = penalty.principal_amount
    grant.recovery_interest_amount = penalty.interest_amount
    record(session, actor=actor, action="grant.breach_declared", subject_type="grant",
           subject_id=grant.id, payload={"clause": "R8.c", "breach_on": breach_on,
                                         "reason": reason, "suspended_tranches": suspended,
                                         "penalty": penalty.to_dict()})
    return penalty


def close_with_tolerance(session: Session, grant: Grant, *, closed_on: date,
                         ic_resolution_ref: str, note: str = "", actor: str) -> None:
    """R8.b: technical failure despite due diligence, closed by IC decision (结项免责)."""
    _require_open(grant, "R8.b")
    if not ic_resolution_ref.strip():
        raise _field_error("ic_resolution_ref", _l("A tolerance closure needs an IC resolution."))
    cancelled = _cancel_pending(grant, TrancheStatus.CANCELLED)
    grant.status = GrantStatus.CLOSED_TOLERANCE
    grant.closed_on = closed_on
    grant.closure_ref = ic_resolution_ref.strip()
    grant.closure_note = note
    record(session, actor=actor, action="grant.closed_with_tolerance", subject_type="grant",
           subject_id=grant.id, payload={"clause": "R8.b", "closed_on": closed_on,
                                         "ic_resolution_ref": grant.closure_ref, "note": note,
                                         "cancelled_tranches": cancelled,
                                         "disbursed_amount": grant.disbursed_amount})


def close_expired_grants(session: Session, today: date, *, actor: str = "scheduler") -> list[int]:
    """R8.a: grants whose window and grace ended without conversion close as grants, once.

    Only those with accepted R&D close by themselves; the others wait for an IC decision (R8.b or
    R8.c). The status change is a conditional UPDATE, so two runs never close a grant twice.
    """
    ids = session.scalars(select(Grant.id).where(Grant.status == GrantStatus.RD_ACCEPTED,
                                                 Grant.grace_end_on < today)
                          .order_by(Grant.id)).all()
    closed = []
    for grant_id in ids:
        changed = session.execute(update(Grant).where(Grant.id == grant_id,
                                                      Grant.status == GrantStatus.RD_ACCEPTED)
                                  .values(status=GrantStatus.CLOSED, closed_on=today,
                                          closure_note="R8.a")).rowcount
        if not changed:
            continue
        grant = session.get(Grant, grant_id, populate_existing=True)
        assert grant is not None
        cancelled = _cancel_pending(grant, TrancheStatus.CANCELLED)
        record(session, actor=actor, action="grant.closed_as_grant", subject_type="grant",
               subject_id=grant_id, payload={"clause": "R8.a", "closed_on": today,
                                             "window_end_on": grant.window_end_on,
                                             "grace_end_on": grant.grace_end_on,
                                             "disbursed_amount": grant.disbursed_amount,
                                             "refunded_amount": grant.refunded_amount,
                                             "cancelled_tranches": cancelled})
        closed.append(grant_id)
    return closed


# --------------------------------------------------------------------------- rounds


def get_company(session: Session, company_id: int) -> Company:
    company = session.get(Company, company_id) if 0 < company_id <= MAX_ID else None
    if company is None:
        raise NotFound(_l("No such company."))
    return company


def get_round(session: Session, round_id: int, company_id: int | None = None) -> FinancingRound:
    row = session.get(FinancingRound, round_id) if 0 < round_id <= MAX_ID else None
    if row is None or (company_id is not None and row.company_id != company_id):
        raise NotFound(_l("No such financing round."))
    return row


def check_round_input(company: Company, data: Mapping[str, Any]) -> None:
    """The checks that need the company (units of its legal form) or several fields together."""
    form = company.legal_form.value
    units = Decimal(data["units_before"])
    if units <= 0:
        raise _field_error("units_before", _l("Units before the round must be more than 0."))
    if units != units.quantize(calc.unit_quantum(form)):
        raise _field_error("units_before",
                           _l("A joint-stock company's units are whole shares.") if form == "jsc"
                           else _l("Registered capital has at most 2 decimal places."))
    names = [i["name"] for i in data["investors"]]
    if len(set(names)) != len(names):
        raise _field_error("investors", _l("Each investor may appear once."))
    lead = data.get("lead")
    if lead and lead not in names:
        raise _field_error("lead", _l("The lead investor must be one of the investors."))
    agreed = data.get("definitive_agreement_signed_on")
    if agreed and data["closed_on"] < agreed:
        raise _field_error("closed_on",
                           _l("The round cannot close before its definitive agreement is signed."))
    holders = data.get("holders_before") or []
    if holders and sum((Decimal(h["units"]) for h in holders), ZERO) != units:
        raise _field_error("holders_before",
                           _l("The holders before the round must hold exactly the units before "
                              "the round."))


def pure_round(company: Company, data: Mapping[str, Any]) -> calc.FinancingRound:
    """The pure module's round from validated input (a recorded round or a what-if)."""
    lead = data.get("lead")
    try:
        return calc.FinancingRound(
            kind=data["kind"], closed_on=data["closed_on"],
            pre_money_valuation=data["pre_money_valuation_amount"],
            units_before=data["units_before"], legal_form=company.legal_form.value,
            definitive_agreement_signed_on=data.get("definitive_agreement_signed_on"),
            par_value=company.par_value_amount if company.legal_form.value == "jsc" else None,
            investors=tuple(calc.Investor(i["name"], i["cash_amount"], i["is_independent"],
                                          i["name"] == lead) for i in data["investors"]))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(_l("Some fields are not valid."),
                               details={"_schema": [str(exc)]}) from None


def round_input(row: FinancingRound) -> dict[str, Any]:
    lead = next((i.name for i in row.investors if i.is_lead), None)
    return {"kind": row.kind.value, "closed_on": row.closed_on,
            "definitive_agreement_signed_on": row.definitive_agreement_signed_on,
            "pre_money_valuation_amount": row.pre_money_valuation_amount,
            "units_before": row.units_before, "lead": lead,
            "investors": [{"name": i.name, "cash_amount": i.cash_amount,
                           "is_independent": i.is_independent} for i in row.investors]}


def pure_grant(grant: Grant) -> calc.Grant:
    return calc.Grant(signed_on=grant.signed_on, awarded_amount=grant.awarded_amount,
                      disbursements=tuple((d.paid_on, d.amount) for d in grant.disbursements),
                      refunds=tuple((r.refunded_on, r.amount) for r in grant.refunds),
                      rd_accepted_on=grant.rd_accepted_on)


def record_round(session: Session, company: Company, data: Mapping[str, Any], *,
                 actor: str) -> FinancingRound:
    """A round as reported; it is checked against R3 for every open grant of the company."""
    check_round_input(company, data)
    spec = pure_round(company, data)
    lead = data.get("lead")
    row = FinancingRound(company=company, name=data.get("name", ""), kind=RoundKind(data["kind"]),
                         closed_on=data["closed_on"],
                         definitive_agreement_signed_on=data.get("definitive_agreement_signed_on"),
                         pre_money_valuation_amount=data["pre_money_valuation_amount"],
                         units_before=data["units_before"],
                         par_value_amount=spec.par_value, recorded_by=actor,
                         investors=[RoundInvestor(position=n, name=i["name"],
                                                  cash_amount=i["cash_amount"],
                                                  is_independent=i["is_independent"],
                                                  is_lead=i["name"] == lead)
                                    for n, i in enumerate(data["investors"], start=1)])
    session.add(row)
    session.flush()
    holders = data.get("holders_before") or []
    if holders:
        session.add(CapTable(company_id=company.id, as_of=data["closed_on"], source="before_round",
                             round_id=row.id,
                             rows=[CapTableRow(position=n, holder=h["holder"], units=h["units"],
                                               percent=None, is_fund=False)
                                   for n, h in enumerate(holders, start=1)]))
    checks = []
    grants = session.scalars(select(Grant).where(Grant.company_id == company.id,
                                                 Grant.status.in_(OPEN_STATUSES))
                             .order_by(Grant.id)).all()
    for grant in grants:
        result = qualifying_check(grant, spec)
        session.add(RoundCheck(round_id=row.id, grant_id=grant.id,
                               is_qualifying=result.qualifies,
                               clauses_json=json.dumps(result.to_dict()["clauses"],
                                                       ensure_ascii=False)))
        checks.append({"grant_id": grant.id, "qualifies": result.qualifies,
                       "failed": [c.message_en for c in result.failed_clauses]})
    session.flush()
    record(session, actor=actor, action="round.recorded", subject_type="financing_round",
           subject_id=row.id, payload={"company_id": company.id, "input": round_input(row),
                                       "holders_before": holders, "checks": checks})
    return row


def clause_message(clause: calc.ClauseResult) -> str:
    """The clause's message in the user's language (the pure module writes both)."""
    zh = has_app_context() and str(get_locale() or "") == "zh"
    return clause.message_zh if zh else clause.message_en


def live_checks(grant: Grant, rounds: Sequence[FinancingRound]) -> dict[int, list[dict]]:
    """R3 for each round against the grant as it stands now (payments change R3.d)."""
    checks = {}
    for row in rounds:
        try:
            result = qualifying_check(grant, pure_round(grant.company, round_input(row)))
        except AppError:
            continue
        checks[row.id] = result.to_dict()["clauses"]
    return checks


def qualifying_check(grant: Grant, spec: calc.FinancingRound) -> calc.QualifyingResult:
    try:
        return calc.check_qualifying(pure_grant(grant), spec, grant_policy(grant))
    except calc.ConversionError as exc:
        raise _refuse(exc.clause, str(exc)) from None


# Magic bytes of the evidence files we accept: PDF and common images, never by the name alone.
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
EVIDENCE_MAX_BYTES = 10 * 1024 * 1024


def sniff_type(content: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if content.startswith(magic):
            return kind
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def evidence_dir() -> Path:
    configured = current_app.config.get("EVIDENCE_DIR") if has_app_context() else None
    path = Path(configured) if configured else instance_dir() / "evidence"
    path.mkdir(parents=True, exist_ok=True)
    return path


def evidence_path(sha256: str) -> Path:
    return evidence_dir() / sha256[:2] / sha256


def attach_evidence(session: Session, row: FinancingRound, *, filename: str, content: bytes,
                    actor: str) -> EvidenceDocument:
    """Keep an evidence document of a round (R12): PDF or image, size-limited, by SHA-256."""
    limit = (current_app.config.get("EVIDENCE_MAX_BYTES", EVIDENCE_MAX_BYTES)
             if has_app_context() else EVIDENCE_MAX_BYTES)
    if not content:
        raise _field_error("file", _l("The file is empty."))
    if len(content) > limit:
        raise _field_error("file", _l("The file is larger than %(mb)s MB.",
                                      mb=limit // (1024 * 1024) or 1))
    kind = sniff_type(content)
    if kind is None:
        raise _field_error("file", _l("Only PDF files and images (PNG, JPEG, GIF, WebP) are "
                                      "accepted."))
    digest = hashlib.sha256(content).hexdigest()
    path = evidence_path(digest)
    if not path.exists():
        # Content-addressed: a file left by a rolled-back upload is simply reused next time.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(content)
        tmp.replace(path)
    name = Path(filename or "evidence").name[:255] or "evidence"
    doc = EvidenceDocument(round=row, filename=name, content_type=kind, size_bytes=len(content),
                           sha256=digest, uploaded_by=actor)
    session.add(doc)
    session.flush()
    record(session, actor=actor, action="round.evidence_added", subject_type="financing_round",
           subject_id=row.id, payload={"document_id": doc.id, "filename": name,
                                       "content_type": kind, "size_bytes": len(content),
                                       "sha256": digest})
    return doc


# --------------------------------------------------------------------------- conversion


@dataclass
class Preview:
    grant: Grant
    result: calc.ConversionResult
    round_id: int | None
    has_cap_table: bool


def _appraisal_validity(grant: Grant) -> int:
    return int(grant_policy_values(grant).get("appraisal_validity_months", 12))


def record_alternative_condition_met(session: Session, grant: Grant, *, condition: str,
                                     met_on: date, reference: str,
                                     appraised_value_amount: Decimal, base_on: date,
                                     filing_no: str, filed_on: date,
                                     units_outstanding: Decimal | None = None,
                                     actor: str) -> AlternativeTrigger:
    """R3.f: an agreed alternative condition is met; the filed appraisal will price the
    conversion instead of a round (see ``convert_grant(basis="appraisal")``)."""
    _require_open(grant, "R3.f")
    if not (grant.alternative_conditions or "").strip():
        raise _refuse("R3.f", _l("The agreement has no agreed alternative conversion "
                                 "conditions."))
    if grant.alternative_trigger is not None:
        raise _refuse("R3.f", _l("An alternative condition has already been recorded as met."))
    if not condition.strip():
        raise _field_error("condition", _l("Name the agreed condition that was met."))
    if not reference.strip():
        raise _field_error("reference", _l("Give the evidence that the condition was met."))
    if not filing_no.strip():
        raise _field_error("filing_no", _l("An appraisal needs its filing number."))
    if met_on < grant.signed_on:
        raise _field_error("met_on", _l("The condition cannot be met before the signing date."))
    if filed_on < base_on:
        raise _field_error("filed_on", _l("Filing cannot precede the base date."))
    if appraised_value_amount <= 0:
        raise _field_error("appraised_value_amount", _l("Must be more than 0."))
    if units_outstanding is None:
        table = current_cap_table(session, grant.company_id)
        if table is None:
            raise _field_error("units_outstanding", _l("Give the units outstanding: the company "
                                                       "has no cap table."))
        units_outstanding = sum((r.units for r in table.rows), ZERO)
    if units_outstanding <= 0:
        raise _field_error("units_outstanding", _l("Must be more than 0."))
    months = _appraisal_validity(grant)
    valid_until = calc.add_months(base_on, months)
    if met_on > valid_until:
        raise _refuse("R9.a", _l("The appraisal is older than %(months)s months from its base "
                                 "date (valid until %(day)s).", months=months,
                                 day=valid_until.isoformat()), field="base_on")
    row = AlternativeTrigger(grant=grant, condition=condition.strip(), met_on=met_on,
                             reference=reference.strip(),
                             appraised_value_amount=appraised_value_amount, base_on=base_on,
                             units_outstanding=units_outstanding, filing_no=filing_no.strip(),
                             filed_on=filed_on, recorded_by=actor)
    session.add(row)
    session.flush()
    record(session, actor=actor, action="grant.alternative_condition_met", subject_type="grant",
           subject_id=grant.id, payload={
               "clause": "R3.f", "condition": row.condition, "met_on": met_on,
               "reference": row.reference, "appraised_value_amount": appraised_value_amount,
               "base_on": base_on, "units_outstanding": units_outstanding,
               "filing_no": row.filing_no, "filed_on": filed_on,
               "appraisal_validity_months": months})
    return row


def _pure_appraisal(grant: Grant, trigger: AlternativeTrigger) -> calc.Appraisal:
    form = grant.company.legal_form
    legal_form = "jsc" if getattr(form, "value", form) == "jsc" else "llc"
    return calc.Appraisal(appraised_value=trigger.appraised_value_amount,
                          base_date=trigger.base_on, filing_number=trigger.filing_no,
                          units_outstanding=trigger.units_outstanding, filed_on=trigger.filed_on,
                          legal_form=legal_form)


def _appraisal_preview(session: Session, grant: Grant) -> Preview:
    trigger = grant.alternative_trigger
    if trigger is None:
        raise _refuse("R3.f", _l("No agreed alternative condition has been recorded as met."),
                      field="basis")
    table = current_cap_table(session, grant.company_id)
    rows = [(r.holder, r.units) for r in table.rows] if table is not None else None
    if rows is not None and sum((u for _, u in rows), ZERO) != trigger.units_outstanding:
        rows = None  # another moment's table: the pre-conversion holders are unknown
    try:
        result = calc.compute_appraisal_conversion(
            pure_grant(grant), _pure_appraisal(grant, trigger), grant_policy(grant), rows,
            met_on=trigger.met_on, condition=trigger.condition,
            validity_months=_appraisal_validity(grant), fund_holder=grant.holder_entity)
    except (calc.ConversionError, ValueError) as exc:
        raise _refuse(getattr(exc, "clause", "R3.f"), str(exc)) from None
    return Preview(grant, result, None, rows is not None)


def current_cap_table(session: Session, company_id: int) -> CapTable | None:
    return session.scalar(select(CapTable).where(CapTable.company_id == company_id)
                          .order_by(CapTable.as_of.desc(), CapTable.id.desc()).limit(1))


def _pre_round_table(session: Session, grant: Grant, spec: calc.FinancingRound,
                     round_id: int | None, holders: Sequence[Mapping[str, Any]] | None
                     ) -> list[tuple[str, Decimal]] | None:
    """The holders before the round: given, recorded with the round, or the current table."""
    if holders:
        return [(h["holder"], Decimal(h["units"])) for h in holders]
    table = None
    if round_id is not None:
        table = session.scalar(select(CapTable).where(CapTable.round_id == round_id,
                                                      CapTable.source == "before_round"))
    if table is None:
        table = current_cap_table(session, grant.company_id)
    if table is None:
        return None
    rows = [(r.holder, r.units) for r in table.rows]
    # A table that does not add up to this round's units describes another moment: not used.
    if sum((u for _, u in rows), ZERO) != spec.units_before:
        return None
    return rows


def preview_conversion(session: Session, grant: Grant, *, round_id: int | None = None,
                       round_data: Mapping[str, Any] | None = None,
                       holders_before: Sequence[Mapping[str, Any]] | None = None,
                       basis: str = "round") -> Preview:
    """R4-R6 for a recorded or a hypothetical round, or (R3.f) the filed appraisal; changes
    nothing."""
    if basis == "appraisal":
        return _appraisal_preview(session, grant)
    if round_id is not None:
        row = get_round(session, round_id)
        if row.company_id != grant.company_id:
            raise _field_error("round_id", _l("The round is not of this grant's company."))
        data = round_input(row)
    elif round_data is not None:
        check_round_input(grant.company, round_data)
        data = dict(round_data)
    else:
        raise _field_error("round_id", _l("Choose a recorded round or describe one."))
    spec = pure_round(grant.company, data)
    table = _pre_round_table(session, grant, spec, round_id, holders_before)
    try:
        result = calc.compute_conversion(pure_grant(grant), spec, grant_policy(grant), table,
                                         fund_holder=grant.holder_entity)
    except calc.NotQualifyingError as exc:
        failed = exc.result.failed_clauses
        raise _refuse(failed[0].clause, _l("The round is not a qualifying financing: %(why)s",
                                           why="; ".join(clause_message(c) for c in failed)),
                      clauses=exc.result.to_dict()["clauses"],
                      field="closed_on" if failed[0].clause == "R3.b" else None) from None
    except calc.ConversionError as exc:
        raise _refuse(exc.clause, str(exc)) from None
    return Preview(grant, result, round_id, table is not None)


def lock_grant(session: Session, grant_id: int) -> Grant:
    """Take the grant's write lock (an UPDATE locks the row on PostgreSQL and the database on
    SQLite) and read it afresh, so concurrent conversions of one grant run one after another."""
    get_grant(session, grant_id)
    changed = session.execute(update(Grant).where(Grant.id == grant_id)
                              .values(lock_version=Grant.lock_version + 1)).rowcount
    if not changed:
        raise NotFound(_l("No such grant agreement."))
    session.expire_all()  # whatever this session read before the lock may be stale
    grant = session.get(Grant, grant_id)
    assert grant is not None
    return grant


def _earlier_qualifying_round(session: Session, grant: Grant, row: FinancingRound
                              ) -> FinancingRound | None:
    """R3: the qualifying financing is the first round that qualifies."""
    earlier = session.scalars(select(FinancingRound)
                              .where(FinancingRound.company_id == grant.company_id,
                                     FinancingRound.closed_on < row.closed_on)
                              .order_by(FinancingRound.closed_on, FinancingRound.id)).all()
    for other in earlier:
        if qualifying_check(grant, pure_round(grant.company, round_input(other))).qualifies:
            return other
    return None


def convert_grant(session: Session, grant_id: int, *, round_id: int | None = None,
                  basis: str = "round", ic_resolution_ref: str = "",
                  keep_undisbursed_ref: str = "", actor: str) -> Conversion:
    """Convert a grant at a qualifying round (R3-R6), or (R3.f, ``basis="appraisal"``) at the
    filed appraisal of a met alternative condition, in the caller's one transaction."""
    grant = lock_grant(session, grant_id)
    if grant.status == GrantStatus.CONVERTED or grant.conversion is not None:
        raise AppError(_l("This grant has already been converted."), status=409,
                       code="already_converted", details={"rule": "R4"})
    _require_open(grant, "R3")
    row: FinancingRound | None = None
    if basis == "appraisal":
        preview = _appraisal_preview(session, grant)
    else:
        if round_id is None:
            raise _field_error("round_id", _l("Choose a round."))
        row = get_round(session, round_id)
        if row.company_id != grant.company_id:
            raise _field_error("round_id", _l("The round is not of this grant's company."))
        earlier = _earlier_qualifying_round(session, grant, row)
        if earlier is not None:
            raise _refuse("R3", _l("An earlier round (closed %(day)s) is the qualifying "
                                   "financing.", day=earlier.closed_on.isoformat()),
                          round_id=earlier.id)
        preview = preview_conversion(session, grant, round_id=row.id)
    result = preview.result
    # The closing date, or (R3.f) the date the agreed condition was met.
    converted_on = result.financing_round.closed_on
    row_id = row.id if row is not None else None
    if result.needs_ic_resolution and not ic_resolution_ref.strip():
        why = (_l("The fund would become the largest holder") if result.becomes_largest_holder
               else _l("Without the cap table before the round the fund may become the largest "
                       "holder"))
        raise _refuse("R6.e", _l("%(why)s: the conversion needs an IC resolution reference.",
                                 why=why), field="ic_resolution_ref")
    policy = result.policy
    added_payments = []
    if policy.convert_base == "awarded":
        # R4.a: the undisbursed tranches are paid at closing and the whole award converts.
        for tranche in grant.tranches:
            paid = sum((d.amount for d in grant.disbursements if d.tranche_id == tranche.id), ZERO)
            if tranche.status == TrancheStatus.PENDING and paid < tranche.amount:
                payment = GrantDisbursement(grant=grant, tranche=tranche,
                                            amount=tranche.amount - paid,
                                            paid_on=converted_on, recorded_by=actor)
                session.add(payment)
                tranche.status = TrancheStatus.RELEASED
                added_payments.append({"tranche": tranche.position, "amount": payment.amount})
    cancelled = [] if keep_undisbursed_ref.strip() else _cancel_pending(grant,
                                                                        TrancheStatus.CANCELLED)
    sheet = result.to_dict()
    stake_percent = Decimal(result.fund_stake_display.rstrip("%"))
    conversion = Conversion(
        grant=grant, basis=result.basis, round_id=row_id, converted_on=converted_on,
        converting_amount=result.converting_amount, converted_amount=result.converted_amount,
        remaining_grant_amount=result.remaining_grant_amount,
        round_price=Decimal(result.round_price_display),
        conversion_price=Decimal(result.conversion_price_display),
        fund_units=result.fund_units, post_round_units=result.post_round_units,
        stake_percent=stake_percent,
        registered_capital_increase_amount=result.registered_capital_increase,
        capital_reserve_amount=result.capital_reserve, is_stake_capped=result.is_stake_capped,
        ic_resolution_ref=ic_resolution_ref.strip(),
        registration_due_on=result.registration_due_on,
        sheet_json=json.dumps(sheet, ensure_ascii=False), converted_by=actor)
    session.add(conversion)
    try:
        session.flush()  # the unique grant_id is the database's guarantee of "exactly once"
    except IntegrityError:
        session.rollback()
        raise AppError(_l("This grant has already been converted."), status=409,
                       code="already_converted", details={"rule": "R4"}) from None
    values = grant_policy_values(grant)
    session.add(Holding(company_id=grant.company_id, grant_id=grant.id,
                        conversion_id=conversion.id, holder_entity=grant.holder_entity,
                        units=result.fund_units, cost_amount=result.converted_amount,
                        initial_units=result.fund_units,
                        initial_cost_amount=result.converted_amount,
                        acquired_on=converted_on,
                        is_state_asset=bool(values.get("state_asset_holding", True))))
    session.add(CapTable(company_id=grant.company_id, as_of=converted_on, source="conversion",
                         round_id=row_id, conversion_id=conversion.id,
                         rows=[CapTableRow(position=n, holder=r.holder, units=r.units,
                                           percent=r.percent, is_fund=r.is_fund)
                               for n, r in enumerate(result.cap_table, start=1)]))
    grant.status = GrantStatus.CONVERTED
    session.flush()
    record(session, actor=actor, action="grant.converted", subject_type="grant",
           subject_id=grant.id, payload={
               "conversion_id": conversion.id, "round_id": row_id, "basis": result.basis,
               "policy_version": grant.policy_version.version,
               "policy_override": grant.policy_override,
               "inputs": {"grant": _jsonable(pure_grant(grant)),
                          "round": round_input(row) if row is not None else None,
                          "appraisal": _jsonable(result.appraisal),
                          "policy": policy.to_dict(),
                          "cap_table_before_known": preview.has_cap_table},
               "clauses": sheet["qualifying"]["clauses"], "steps": sheet["steps"],
               "outputs": {k: sheet[k] for k in (
                   "converting_amount", "round_price_display", "conversion_price_display",
                   "fund_units", "converted_amount", "remaining_grant_amount",
                   "registered_capital_increase", "capital_reserve", "post_round_units",
                   "fund_stake_display", "registration_due_on", "cap_table")},
               "ic_resolution_ref_r6e": conversion.ic_resolution_ref,
               "cancelled_tranches_r4b": cancelled,
               "kept_undisbursed_ic_ref": keep_undisbursed_ref.strip(),
               "paid_at_closing_r4a": added_payments})
    return conversion


def _jsonable(value: Any) -> Any:
    return calc._jsonable(value)  # noqa: SLF001 - the pure module's one JSON form


def record_registration(session: Session, grant: Grant, *, registered_on: date,
                        actor: str) -> None:
    """R6.g: the company registered the change; late registration is a breach candidate."""
    conversion = grant.conversion
    if conversion is None:
        raise _refuse("R6.g", _l("The grant has not been converted."))
    if registered_on < conversion.converted_on:
        raise _field_error("registered_on", _l("Registration cannot precede the conversion."))
    conversion.registered_on = registered_on
    late = registered_on > conversion.registration_due_on
    record(session, actor=actor, action="grant.registration_recorded", subject_type="grant",
           subject_id=grant.id, payload={"clause": "R6.g", "registered_on": registered_on,
                                         "due_on": conversion.registration_due_on,
                                         "breach_candidate": late})


def registration_overdue(grant: Grant, today: date) -> bool:
    conversion = grant.conversion
    return bool(conversion and conversion.registered_on is None
                and today > conversion.registration_due_on)


# --------------------------------------------------------------------------- portfolio (issue 5)
#
# Cash flows (design): grant disbursements and refunds are the rows of grant_disbursements and
# grant_refunds (issue 4) and are read from there as typed flows of kind grant_disbursement and
# refund; they are never copied, so a flow cannot disagree with the payment it describes. Every
# other money movement is one cash_flows row (follow_on, buyback_proceeds, exit_proceeds,
# dividend, recovery, fee) with a positive amount (the kind gives the sign), its date, and a link
# to its source: the holding, the exit, the grant (a recovery) or nothing (a fund-level fee).
# Each row is written with its ledger entry in the same transaction. A flow that changes the
# holding carries that change (units_delta, cost_delta_amount), so the units and cost held on
# any past date are the holding's initial ones plus the changes dated on or before it.


def _today() -> date:
    from fundapp.portfolio.performance import shanghai_today

    return shanghai_today()


def _not_future(day: date, field: str) -> None:
    if day > _today():
        raise _field_error(field, _l("The date %(day)s is in the future.", day=day.isoformat()))


def get_holding(session: Session, holding_id: int) -> Holding:
    holding = session.get(Holding, holding_id) if 0 < holding_id <= MAX_ID else None
    if holding is None:
        raise NotFound(_l("No such holding."))
    return holding


def _flow(session: Session, *, kind: FlowKind, on: date, amount: Decimal, actor: str,
          holding: Holding | None = None, grant_id: int | None = None,
          company_id: int | None = None, exit_row: Exit | None = None,
          units_delta: Decimal = ZERO, cost_delta: Decimal = ZERO, reference: str = "",
          note: str = "") -> CashFlow:
    if amount < 0 or (amount == 0 and kind != FlowKind.EXIT_PROCEEDS):
        raise _field_error("amount", _l("Must be more than 0."))
    flow = CashFlow(
        kind=kind, on=on, amount=amount, holding_id=holding.id if holding else None,
        company_id=company_id if company_id is not None else (holding.company_id if holding
                                                              else None),
        grant_id=grant_id, exit_id=exit_row.id if exit_row else None, units_delta=units_delta,
        cost_delta_amount=cost_delta, reference=reference, note=note, recorded_by=actor)
    session.add(flow)
    session.flush()
    record(session, actor=actor, action=f"cash_flow.{kind.value}", subject_type="cash_flow",
           subject_id=flow.id, payload={"kind": kind.value, "on": on, "amount": amount,
                                        "holding_id": flow.holding_id, "grant_id": grant_id,
                                        "company_id": flow.company_id,
                                        "exit_id": flow.exit_id, "units_delta": units_delta,
                                        "cost_delta_amount": cost_delta, "reference": reference,
                                        "note": note})
    return flow


def record_follow_on(session: Session, *, on: date, amount: Decimal, units: Decimal,
                     actor: str, holding_id: int | None = None, company_id: int | None = None,
                     holder_entity: str = "", reference: str = "") -> CashFlow:
    """A direct investment: into an existing holding, or a new direct holding in a company."""
    _not_future(on, "on")
    if units <= 0:
        raise _field_error("units", _l("Must be more than 0."))
    if holding_id is not None:
        holding = get_holding(session, holding_id)
        if on < holding.acquired_on:
            raise _field_error("on", _l("The holding was acquired on %(day)s.",
                                        day=holding.acquired_on.isoformat()))
        if holding.status != HoldingStatus.ACTIVE:
            raise _refuse("R12", _l("The holding is closed."), field="holding_id")
        holding.units += units
        holding.cost_amount += amount
        return _flow(session, kind=FlowKind.FOLLOW_ON, on=on, amount=amount, actor=actor,
                     holding=holding, units_delta=units, cost_delta=amount, reference=reference)
    if company_id is None:
        raise _field_error("holding_id", _l("Name the holding or the company."))
    company = get_company(session, company_id)
    holding = Holding(company_id=company.id, holder_entity=holder_entity or "platform",
                      units=units, cost_amount=amount, initial_units=ZERO,
                      initial_cost_amount=ZERO, acquired_on=on, origin=HoldingOrigin.DIRECT,
                      status=HoldingStatus.ACTIVE)
    session.add(holding)
    session.flush()
    return _flow(session, kind=FlowKind.FOLLOW_ON, on=on, amount=amount, actor=actor,
                 holding=holding, units_delta=units, cost_delta=amount, reference=reference)


def record_income(session: Session, *, kind: FlowKind, on: date, amount: Decimal, actor: str,
                  holding_id: int | None = None, grant_id: int | None = None,
                  reference: str = "", note: str = "") -> CashFlow:
    """A dividend (holding), a recovery (grant in breach, R8.c) or a fee (fund)."""
    _not_future(on, "on")
    if kind == FlowKind.DIVIDEND:
        if holding_id is None:
            raise _field_error("holding_id", _l("A dividend belongs to a holding."))
        holding = get_holding(session, holding_id)
        if on < holding.acquired_on:
            raise _field_error("on", _l("The holding was acquired on %(day)s.",
                                        day=holding.acquired_on.isoformat()))
        return _flow(session, kind=kind, on=on, amount=amount, actor=actor, holding=holding,
                     reference=reference, note=note)
    if kind == FlowKind.RECOVERY:
        if grant_id is None:
            raise _field_error("grant_id", _l("A recovery belongs to a grant agreement."))
        grant = get_grant(session, grant_id)
        if on < grant.signed_on:
            raise _field_error("on", _l("A recovery cannot precede the signing date."))
        return _flow(session, kind=kind, on=on, amount=amount, actor=actor, grant_id=grant.id,
                     company_id=grant.company_id, reference=reference, note=note)
    if kind == FlowKind.FEE:
        return _flow(session, kind=kind, on=on, amount=amount, actor=actor,
                     reference=reference, note=note)
    raise _field_error("kind", _l("Record this kind through its own operation."))


# ---- valuation marks


def record_mark(session: Session, holding: Holding, *, measured_on: date, method: MarkMethod,
                value_per_unit: Decimal, inputs: Mapping[str, Any] | None = None,
                note: str = "", actor: str) -> ValuationMark:
    """A draft mark; it counts only once another person finalises it."""
    if measured_on < holding.acquired_on:
        raise _field_error("measured_on", _l(
            "The holding did not exist before %(day)s.", day=holding.acquired_on.isoformat()))
    _not_future(measured_on, "measured_on")
    if value_per_unit < 0:
        raise _field_error("value_per_unit", _l("Must not be negative."))
    if method == MarkMethod.WRITE_OFF and value_per_unit != 0:
        raise _field_error("value_per_unit", _l("A write-off values the units at 0."))
    mark = ValuationMark(holding_id=holding.id, measured_on=measured_on, method=method,
                         inputs_json=json.dumps(dict(inputs or {}), ensure_ascii=False,
                                                default=str, sort_keys=True),
                         value_per_unit=value_per_unit, status=MarkStatus.DRAFT, note=note,
                         author=actor)
    session.add(mark)
    session.flush()
    record(session, actor=actor, action="mark.drafted", subject_type="valuation_mark",
           subject_id=mark.id, payload={"holding_id": holding.id, "measured_on": measured_on,
                                        "method": method.value, "inputs": mark.inputs,
                                        "value_per_unit": value_per_unit, "note": note})
    return mark


def get_mark(session: Session, mark_id: int) -> ValuationMark:
    mark = session.get(ValuationMark, mark_id) if 0 < mark_id <= MAX_ID else None
    if mark is None:
        raise NotFound(_l("No such valuation mark."))
    return mark


def finalise_mark(session: Session, mark: ValuationMark, *, actor: str) -> ValuationMark:
    """Four eyes: the author cannot finalise their own mark; a final mark is never changed."""
    if mark.status == MarkStatus.FINAL:
        raise AppError(_l("This mark is already final."), status=409, code="already_final")
    if mark.author == actor:
        raise _refuse("four_eyes", _l("A mark is finalised by someone other than its author."),
                      field="approver")
    mark.status = MarkStatus.FINAL
    mark.approver = actor
    mark.finalised_on = _today()
    record(session, actor=actor, action="mark.finalised", subject_type="valuation_mark",
           subject_id=mark.id, payload={"holding_id": mark.holding_id, "author": mark.author,
                                        "measured_on": mark.measured_on,
                                        "value_per_unit": mark.value_per_unit})
    return mark


# ---- appraisals and exits


def record_appraisal(session: Session, holding: Holding, *, base_on: date, units: Decimal,
                     value_amount: Decimal, filing_no: str, filed_on: date, appraiser: str = "",
                     actor: str) -> Appraisal:
    """A filed appraisal (评估备案) of (some of) the holding's units (R7.d, R9.a)."""
    if not filing_no.strip():
        raise _field_error("filing_no", _l("An appraisal needs its filing number."))
    if units <= 0 or units > holding.units:
        raise _field_error("units", _l("The holding has %(units)s units.", units=holding.units))
    if filed_on < base_on:
        raise _field_error("filed_on", _l("Filing cannot precede the base date."))
    row = Appraisal(holding_id=holding.id, base_on=base_on, units=units,
                    value_amount=value_amount, filing_no=filing_no.strip(), filed_on=filed_on,
                    appraiser=appraiser, recorded_by=actor)
    session.add(row)
    session.flush()
    record(session, actor=actor, action="appraisal.filed", subject_type="appraisal",
           subject_id=row.id, payload={"holding_id": holding.id, "base_on": base_on,
                                       "units": units, "value_amount": value_amount,
                                       "filing_no": row.filing_no, "filed_on": filed_on,
                                       "appraiser": appraiser, "clause": "R9.a"})
    return row


def _latest_appraisal(session: Session, holding: Holding, on: date) -> Appraisal | None:
    return session.scalar(select(Appraisal).where(Appraisal.holding_id == holding.id,
                                                  Appraisal.filed_on <= on)
                          .order_by(Appraisal.filed_on.desc(), Appraisal.id.desc()).limit(1))


def _check_units(holding: Holding, units: Decimal) -> None:
    if units <= 0:
        raise _field_error("units", _l("Must be more than 0."))
    if units > holding.units:
        raise _field_error("units", _l("The exit is of %(units)s units but only %(held)s are "
                                       "held.", units=units, held=holding.units))


def _close_exit(session: Session, holding: Holding, exit_row: Exit, *, received: Decimal,
                received_on: date, actor: str, kind: FlowKind) -> None:
    holding.units -= exit_row.units
    holding.cost_amount -= exit_row.cost_amount
    if holding.units == 0:
        holding.status = (HoldingStatus.WRITTEN_OFF if exit_row.kind == ExitKind.LIQUIDATION
                          else HoldingStatus.EXITED)
        holding.closed_on = exit_row.transfer_on
        exit_row.is_closing = True
    _flow(session, kind=kind, on=received_on, amount=received, actor=actor, holding=holding,
          exit_row=exit_row, units_delta=-exit_row.units, cost_delta=-exit_row.cost_amount,
          reference=f"exit {exit_row.id}")


def record_exit(session: Session, holding: Holding, *, kind: ExitKind, transfer_on: date,
                units: Decimal, price_amount: Decimal, buyer: str = "", actor: str,
                **terms: Any) -> Exit:
    """Sell (part of) a holding: R7 for a buy-back, R9 for an exchange sale; trade sale, IPO
    sale and liquidation record the price. The proceeds become a cash flow; the holding shrinks
    or closes. The whole check sheet goes to the ledger."""
    _check_units(holding, units)
    if holding.status != HoldingStatus.ACTIVE:
        raise _refuse("R12", _l("The holding is closed."), field="holding_id")
    if transfer_on < holding.acquired_on:
        raise _field_error("transfer_on", _l("The holding did not exist before %(day)s.",
                                             day=holding.acquired_on.isoformat()))
    _not_future(transfer_on, "transfer_on")
    if price_amount < 0:
        raise _field_error("price_amount", _l("Must not be negative."))
    cost = valuation.pro_rata(holding.cost_amount, units, holding.units)
    details: dict[str, Any] = {"units_before": holding.units, "cost_before": holding.cost_amount}
    down_payment = price_amount
    balance_due_on = None
    flow_kind = FlowKind.EXIT_PROCEEDS
    if kind == ExitKind.BUYBACK:
        details.update(_check_buyback(session, holding, transfer_on=transfer_on, units=units,
                                      price=price_amount,
                                      is_company=bool(terms.get("is_company_buyer"))))
        flow_kind = FlowKind.BUYBACK_PROCEEDS
    elif kind == ExitKind.EXCHANGE:
        check = _check_exchange(session, holding, transfer_on=transfer_on, units=units,
                                price=price_amount, terms=terms)
        details["r9"] = check.to_dict()
        down_payment = check.down_payment_amount
        balance_due_on = check.balance_due_on
    elif kind == ExitKind.LIQUIDATION and units != holding.units:
        raise _field_error("units", _l("A liquidation disposes of every unit held."))
    if kind in (ExitKind.TRADE_SALE, ExitKind.IPO_SALE) and price_amount == 0:
        raise _field_error("price_amount", _l("Must be more than 0."))
    exit_row = Exit(holding_id=holding.id, kind=kind, transfer_on=transfer_on, units=units,
                    price_amount=price_amount, cost_amount=cost, buyer=buyer,
                    balance_amount=price_amount - down_payment, balance_due_on=balance_due_on,
                    details_json=json.dumps(_jsonable(details), ensure_ascii=False),
                    recorded_by=actor)
    session.add(exit_row)
    session.flush()
    record(session, actor=actor, action=f"exit.{kind.value}", subject_type="exit",
           subject_id=exit_row.id, payload={"holding_id": holding.id, "transfer_on": transfer_on,
                                            "units": units, "price_amount": price_amount,
                                            "cost_amount": cost, "buyer": buyer,
                                            "details": details})
    if down_payment > 0 or kind == ExitKind.LIQUIDATION or price_amount == 0:
        _close_exit(session, holding, exit_row, received=down_payment, received_on=transfer_on,
                    actor=actor, kind=flow_kind)
    return exit_row


def record_exit_balance(session: Session, exit_row: Exit, *, paid_on: date, actor: str) -> None:
    """R9.d: the balance of an exchange sale arrives (within a year of the transfer)."""
    if not exit_row.balance_amount or exit_row.balance_paid_on is not None:
        raise AppError(_l("Nothing is outstanding on this exit."), status=409, code="settled")
    if paid_on < exit_row.transfer_on:
        raise _field_error("paid_on", _l("The balance cannot precede the transfer."))
    _not_future(paid_on, "paid_on")
    exit_row.balance_paid_on = paid_on
    _flow(session, kind=FlowKind.EXIT_PROCEEDS, on=paid_on, amount=exit_row.balance_amount,
          actor=actor, holding=session.get(Holding, exit_row.holding_id), exit_row=exit_row,
          reference=f"exit {exit_row.id} balance (R9.d)")


def _check_buyback(session: Session, holding: Holding, *, transfer_on: date, units: Decimal,
                   price: Decimal, is_company: bool) -> dict[str, Any]:
    grant = session.get(Grant, holding.grant_id) if holding.grant_id else None
    if grant is None or grant.conversion is None:
        raise _refuse("R7.a", _l("A team buy-back applies to units from a converted grant."),
                      field="holding_id")
    values = grant_policy_values(grant)
    conversion = grant.conversion
    window_end = calc.add_months(conversion.converted_on, 12 * int(values["buyback_window_years"]))
    if transfer_on > window_end:
        raise _refuse("R7.a", _l("The buy-back window ended on %(day)s.",
                                 day=window_end.isoformat()), field="transfer_on")
    rate = lpr_rate_on(session, transfer_on)
    if rate is None:
        raise _refuse("R7.b", _l("No 1-year LPR is published on or before %(day)s; an admin "
                                 "must enter it first.", day=transfer_on.isoformat()),
                      field="transfer_on")
    # Principal pro rata: the converted amount of the units sold (R7.b).
    initial_units = holding.initial_units or conversion.fund_units
    principal = valuation.pro_rata(conversion.converted_amount, units, initial_units)
    cap = values.get("return_cap")
    floor = calc.floor_price_buyback(principal, conversion.converted_on, transfer_on, rate,
                                     int(values["t1_years"]),
                                     None if cap is None else Decimal(str(cap)))
    if price < floor.amount:
        raise _refuse("R7.b", _l("The price %(price)s is below the floor price %(floor)s.",
                                 price=_money(price), floor=_money(floor.amount)),
                      field="price_amount", floor_amount=str(floor.amount))
    if floor.cap_amount is not None and price > floor.cap_amount:
        raise _refuse("R7.c", _l("The price %(price)s exceeds the return cap %(cap)s.",
                                 price=_money(price), cap=_money(floor.cap_amount)),
                      field="price_amount")
    gate: dict[str, Any] = {"state_asset": holding.is_state_asset}
    if holding.is_state_asset:
        appraisal = _latest_appraisal(session, holding, transfer_on)
        if appraisal is not None:
            appraised = valuation.pro_rata(appraisal.value_amount, units, appraisal.units)
            gate.update(appraisal_id=appraisal.id, appraised_amount=appraised)
            if price < appraised:
                if not (grant.exit_filing_no and grant.exit_filed_on
                        and grant.exit_filed_on <= conversion.converted_on):
                    raise _refuse("R7.d", _l(
                        "The price is below the filed appraisal %(value)s and the exit terms "
                        "were not filed before investing: sell through the exchange (R9).",
                        value=_money(appraised)), field="price_amount")
                gate.update(below_appraisal=True, exit_filing_no=grant.exit_filing_no,
                            exit_filed_on=grant.exit_filed_on)
    return {"r7": floor.to_dict(), "r7d": gate, "is_company_buyer": is_company}


def _check_exchange(session: Session, holding: Holding, *, transfer_on: date, units: Decimal,
                    price: Decimal, terms: Mapping[str, Any]) -> valuation.ExchangeCheck:
    from fundapp.reference.calendar import working_days_between
    from fundapp.reference.queries import calendar_overrides

    values = (grant_policy_values(session.get(Grant, holding.grant_id)) if holding.grant_id
              else policy_in_force(session, transfer_on).values)
    appraisal = None
    if terms.get("appraisal_id"):
        appraisal = session.get(Appraisal, int(terms["appraisal_id"]))
        if appraisal is None or appraisal.holding_id != holding.id:
            raise _field_error("appraisal_id", _l("No such appraisal of this holding."))
    start, end = terms.get("disclosure_start_on"), terms.get("disclosure_end_on")
    if start is None or end is None:
        raise _field_error("disclosure_end_on", _l("Give the disclosure period."))
    if end < start:
        raise _field_error("disclosure_end_on", _l("The disclosure cannot end before it starts."))
    days = working_days_between(start - timedelta(days=1), end,
                                calendar_overrides(session, start, end))
    try:
        return valuation.check_exchange(
            transfer_on=transfer_on, price=price,
            appraisal_value=None if appraisal is None else valuation.pro_rata(
                appraisal.value_amount, units, appraisal.units),
            appraisal_base_on=None if appraisal is None else appraisal.base_on,
            validity_months=int(values["appraisal_validity_months"]),
            reserve_price=Decimal(terms.get("reserve_price_amount") or 0),
            disclosure_working_days=days,
            required_working_days=int(values["disclosure_working_days"]),
            is_relisting=bool(terms.get("is_relisting")),
            relisting_approval_ref=str(terms.get("relisting_approval_ref") or ""),
            down_payment=Decimal(terms.get("down_payment_amount") or price),
            balance_due_on=terms.get("balance_due_on"))
    except valuation.RuleProblem as exc:
        raise _refuse(exc.rule, exc.message, field=exc.field) from None


# ---- index series


def import_index_series(session: Session, *, name: str, content: bytes, actor: str) -> IndexSeries:
    """Upload (or replace) an index series from CSV; gaps and non-positive levels are refused."""
    if not name.strip():
        raise _field_error("name", _l("Name the index."))
    try:
        points = valuation.parse_index_csv(content)
    except valuation.InputProblem as exc:
        raise ValidationFailed(_l("The index file is not valid."),
                               details={exc.field: [exc.message]}) from None
    series = session.scalar(select(IndexSeries).where(IndexSeries.name == name.strip()))
    if series is None:
        series = IndexSeries(name=name.strip(), uploaded_by=actor)
        session.add(series)
    else:
        series.levels.clear()
        session.flush()
    series.levels.extend(IndexLevel(on=on, level=level) for on, level in points)
    series.uploaded_by = actor
    session.flush()
    record(session, actor=actor, action="index_series.imported", subject_type="index_series",
           subject_id=series.id, payload={"name": series.name, "levels": len(points),
                                          "first_on": points[0][0], "last_on": points[-1][0],
                                          "sha256": hashlib.sha256(content).hexdigest()})
    return series
