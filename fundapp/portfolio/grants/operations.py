"""Grant agreements (R2, R8, R10.a, R12): signing, the per-agreement policy override, milestone
reviews, disbursements, refunds, R&D acceptance, breach, tolerance closure and R8.a closure.

Every function takes validated data, changes the database with flush() only, and writes its
ledger entry in the same transaction; the caller (view, API, job, demo) commits once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fundapp.compliance.corrections import record_correction, require_reason
from fundapp.compliance.ledger import record
from fundapp.dates import not_after_today
from fundapp.deals.models import Deal, DealStage
from fundapp.errors import AppError, NotFound, ValidationFailed
from fundapp.fund.models import Fund
from fundapp.fund.operations import ensure_default_policy, policy_in_force
from fundapp.fund.policies import clean_values, conversion_policy, values_json
from fundapp.portfolio.common import FEN, MAX_ID, ZERO, field_error, money_text, pct_text, refuse
from fundapp.portfolio.conversion import engine as calc
from fundapp.portfolio.grants.models import (
    OPEN_STATUSES,
    Grant,
    GrantDisbursement,
    GrantRefund,
    GrantStatus,
    MilestoneReview,
    Tranche,
    TrancheStatus,
)
from fundapp.reference.queries import lpr_rate_on
from fundapp.unit_of_work import lock


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
    grant = lock_grant(session, grant.id)
    if not ic_resolution_ref.strip():
        raise field_error("ic_resolution_ref",
                          _l("An override of the policy needs an IC resolution reference."))
    if grant.status not in OPEN_STATUSES:
        raise refuse("R12", _l("Only an open agreement can be changed."), status=grant.status)
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


def lock_grant(session: Session, grant_id: int) -> Grant:
    """Lock the grant aggregate (its tranches, reviews, disbursements, refunds, conversion) for
    the rest of the unit of work and read it afresh: every operation that checks the grant and
    then changes it calls this first, so concurrent requests on one grant run one after another.
    """
    grant = lock(session, Grant, grant_id) if 0 < grant_id <= MAX_ID else None
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
    not_after_today(signed_on, "signed_on")
    not_after_today(exit_filed_on, "exit_filed_on")
    # R10.a is a limit over all the fund's grants: the fund row is the aggregate to lock.
    fund_id = session.scalar(select(Fund.id).order_by(Fund.id).limit(1))
    if fund_id is not None:
        lock(session, Fund, fund_id)
    deal = lock(session, Deal, deal_id) if 0 < deal_id <= MAX_ID else None
    if deal is None:
        raise field_error("deal_id", _l("No such deal."))
    if deal.stage != DealStage.AGREEMENT_SIGNED:
        raise refuse("R11", _l("A grant agreement needs a deal at \"agreement signed\"."),
                     field="deal_id", stage=deal.stage.value,
                     who=_l("the deal's fund manager, who moves it on the board"),
                     link=("deals.deal", {"deal_id": deal.id}), link_label=_l("Open the deal"))
    if session.scalar(select(Grant.id).where(Grant.deal_id == deal.id)) is not None:
        raise AppError(_l("This deal already has a grant agreement."), status=409,
                       code="duplicate", details={"deal_id": [str(deal.id)]})
    ensure_default_policy(session)  # a fund set up before policies were created with it
    version = policy_in_force(session, signed_on)
    base = version.values
    override = _check_override(base, policy_override or {})
    if override and not override_ic_ref.strip():
        raise field_error("override_ic_ref",
                          _l("An override of the policy needs an IC resolution reference."))
    values = {**base, **override}
    budget = approved_budget_amount if approved_budget_amount is not None \
        else deal.approved_budget_amount
    if awarded_amount <= 0:
        raise field_error("awarded_amount", _l("Must be more than 0."))
    cap_abs = Decimal(values["grant_cap_abs"])
    cap_pct = Decimal(values["grant_cap_pct_of_budget"])
    if awarded_amount > cap_abs:
        raise refuse("R2.a", _l("The award %(award)s exceeds the cap of %(cap)s.",
                                award=money_text(awarded_amount), cap=money_text(cap_abs)),
                     field="awarded_amount")
    if awarded_amount > budget * cap_pct:
        raise refuse("R2.a", _l("The award %(award)s exceeds %(pct)s%% of the approved budget "
                                "%(budget)s.", award=money_text(awarded_amount),
                                pct=pct_text(cap_pct), budget=money_text(budget)),
                     field="awarded_amount")
    fund = session.scalar(select(Fund).order_by(Fund.id).limit(1))
    _check_single_company_limit(session, fund, deal.company_id, awarded_amount, values,
                                r10_ic_ref)
    if tranches:
        amounts = [Decimal(t["amount"]) for t in tranches]
        milestones = [str(t.get("milestone", "")) for t in tranches]
        if any(a <= 0 for a in amounts):
            raise field_error("tranches", _l("Every tranche must be more than 0."))
        if sum(amounts, ZERO) != awarded_amount:
            raise field_error("tranches", _l(
                "The tranches sum to %(total)s but the award is %(award)s (R2.b).",
                total=money_text(sum(amounts, ZERO)), award=money_text(awarded_amount)))
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
           happened_on=signed_on,
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
        raise refuse("R10.a", _l("All grants to this company would be %(total)s, above the "
                                 "single-company limit of %(limit)s; an IC resolution is needed.",
                                 total=money_text(total), limit=money_text(limit)),
                     field="r10_ic_ref", who=_l("the investment committee, at an IC meeting"),
                     link=("ic.meetings", {}), link_label=_l("IC meetings"))


def require_open(grant: Grant, rule: str = "R2.b") -> None:
    if grant.status not in OPEN_STATUSES:
        raise refuse(rule, _l("The agreement is %(status)s; nothing more can be paid or "
                              "changed.", status=grant.status.value), status=grant.status.value)


def _tranche(grant: Grant, position: int) -> Tranche:
    for tranche in grant.tranches:
        if tranche.position == position:
            return tranche
    raise field_error("tranche", _l("No tranche %(n)s on this agreement.", n=position))


def record_milestone_review(session: Session, grant: Grant, *, tranche: int, is_passed: bool,
                            reviewer: str, reviewed_on: date, evidence: str = "",
                            actor: str) -> MilestoneReview:
    """R2.b: a passed review lets the tranche go out; a failed one keeps it back."""
    grant = lock_grant(session, grant.id)
    require_open(grant)
    not_after_today(reviewed_on, "reviewed_on")
    row = _tranche(grant, tranche)
    if row.status != TrancheStatus.PENDING:
        raise refuse("R2.b", _l("Tranche %(n)s is already %(status)s.", n=row.position,
                                status=row.status.value), field="tranche")
    if reviewed_on < grant.signed_on:
        raise field_error("reviewed_on", _l("The review cannot precede the signing date."))
    review = MilestoneReview(tranche=row, is_passed=is_passed, reviewer=reviewer,
                             reviewed_on=reviewed_on, evidence=evidence, recorded_by=actor)
    session.add(review)
    session.flush()
    record(session, actor=actor, action="grant.milestone_reviewed", subject_type="grant",
           happened_on=reviewed_on,
           subject_id=grant.id, payload={"tranche": row.position, "is_passed": is_passed,
                                         "reviewer": reviewer, "reviewed_on": reviewed_on,
                                         "evidence": evidence, "clause": "R2.b"})
    return review


def disburse(session: Session, grant: Grant, *, tranche: int, paid_on: date,
             amount: Decimal | None = None, actor: str) -> GrantDisbursement:
    """Release (part of) a tranche, gated by R2.b."""
    grant = lock_grant(session, grant.id)
    require_open(grant)
    not_after_today(paid_on, "paid_on")
    row = _tranche(grant, tranche)
    if row.status != TrancheStatus.PENDING:
        raise refuse("R2.b", _l("Tranche %(n)s is %(status)s and cannot be paid.",
                                n=row.position, status=row.status.value), field="tranche")
    if paid_on < grant.signed_on:
        raise field_error("paid_on", _l("A payment cannot precede the signing date."))
    if row.position > 1:
        latest = row.reviews[-1] if row.reviews else None
        if latest is None or not latest.is_passed:
            raise refuse("R2.b", _l("Tranche %(n)s needs a passed milestone review first.",
                                    n=row.position), field="tranche",
                         who=_l("a fund manager, who records the milestone review"),
                         link=("portfolio.grant", {"grant_id": grant.id}),
                         link_label=_l("The grant's milestone reviews"))
        if paid_on < latest.reviewed_on:
            raise field_error("paid_on", _l("The payment cannot precede the passed review."))
    paid_on_tranche = sum((d.amount for d in grant.disbursements if d.tranche_id == row.id), ZERO)
    amount = row.amount - paid_on_tranche if amount is None else amount
    if amount <= 0:
        raise field_error("amount", _l("Must be more than 0."))
    if grant.disbursed_amount + amount > grant.awarded_amount:
        raise refuse("R2.b", _l("Paying %(amount)s would release %(total)s, more than the award "
                                "of %(award)s.", amount=money_text(amount),
                                total=money_text(grant.disbursed_amount + amount),
                                award=money_text(grant.awarded_amount)), field="amount")
    if paid_on_tranche + amount > row.amount:
        raise field_error("amount", _l("Tranche %(n)s has only %(left)s left to pay.",
                                       n=row.position,
                                       left=money_text(row.amount - paid_on_tranche)))
    payment = GrantDisbursement(grant=grant, tranche=row, amount=amount, paid_on=paid_on,
                                recorded_by=actor)
    session.add(payment)
    # The maintained total, added in SQL (atomic even without the lock); CHECK bounds it by the award.
    grant.disbursed_amount = Grant.disbursed_amount + amount
    if paid_on_tranche + amount == row.amount:
        row.status = TrancheStatus.RELEASED
    session.flush()
    record(session, actor=actor, action="grant.tranche_released", subject_type="grant",
           happened_on=paid_on,
           subject_id=grant.id, payload={"tranche": row.position, "amount": amount,
                                         "paid_on": paid_on, "clause": "R2.b",
                                         "disbursed_total": grant.disbursed_amount})
    return payment


def record_refund(session: Session, grant: Grant, *, amount: Decimal, refunded_on: date,
                  reason: str = "", actor: str) -> GrantRefund:
    """Money the company returns (unspent balance, R8.a); it reduces the converting amount (R4.a)."""
    grant = lock_grant(session, grant.id)
    not_after_today(refunded_on, "refunded_on")
    if grant.status == GrantStatus.CONVERTED:
        # What converted was fixed by the payments less refunds at the closing (R4.a).
        raise refuse("R4.a", _l("The grant was converted on %(day)s: a refund can no longer "
                                "change what converted.",
                                day=grant.conversion.converted_on.isoformat()),
                     field="refunded_on")
    if amount <= 0:
        raise field_error("amount", _l("Must be more than 0."))
    held = grant.disbursed_amount - grant.refunded_amount
    if amount > held:
        raise field_error("amount", _l("Only %(held)s has been paid and not refunded.",
                                       held=money_text(held)))
    if refunded_on < grant.signed_on:
        raise field_error("refunded_on", _l("A refund cannot precede the signing date."))
    refund = GrantRefund(grant=grant, amount=amount, refunded_on=refunded_on, reason=reason,
                         recorded_by=actor)
    session.add(refund)
    grant.refunded_amount = Grant.refunded_amount + amount
    session.flush()
    record(session, actor=actor, action="grant.refund_recorded", subject_type="grant",
           happened_on=refunded_on,
           subject_id=grant.id, payload={"amount": amount, "refunded_on": refunded_on,
                                         "reason": reason, "clause": "R4.a"})
    return refund


def accept_rd(session: Session, grant: Grant, *, accepted_on: date, reference: str,
              actor: str) -> None:
    """R2.c: the R&D tasks are accepted (验收); from then a round can qualify (R3.c)."""
    grant = lock_grant(session, grant.id)
    not_after_today(accepted_on, "accepted_on")
    if grant.status != GrantStatus.DISBURSING:
        raise refuse("R2.c", _l("Only an agreement that is disbursing can have its R&D accepted."),
                     status=grant.status.value)
    if accepted_on < grant.signed_on:
        raise field_error("accepted_on", _l("Acceptance cannot precede the signing date."))
    grant.rd_accepted_on = accepted_on
    grant.rd_acceptance_ref = reference
    grant.status = GrantStatus.RD_ACCEPTED
    record(session, actor=actor, action="grant.rd_accepted", subject_type="grant",
           happened_on=accepted_on,
           subject_id=grant.id, payload={"accepted_on": accepted_on, "reference": reference,
                                         "due_on": grant.rd_due_on, "clause": "R2.c",
                                         "late": accepted_on > grant.rd_due_on})


def cancel_pending(grant: Grant, status: TrancheStatus) -> list[int]:
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
    grant = lock_grant(session, grant.id)
    require_open(grant, "R8.c")
    not_after_today(breach_on, "breach_on")
    if not reason.strip():
        raise field_error("reason", _l("Say what the breach is."))
    if breach_on < grant.signed_on:
        raise field_error("breach_on", _l("A breach cannot precede the signing date."))
    rate = lpr_rate_on(session, repaid_on)
    if rate is None:
        raise refuse("R8.c", _l("No 1-year LPR is published on or before %(day)s; an admin "
                                "must enter it first.", day=repaid_on.isoformat()),
                     field="repaid_on", who=_l("an administrator"),
                     link=("reference.lpr", {}), link_label=_l("The LPR table"))
    values = grant_policy_values(grant)
    try:
        penalty = calc.penalty_interest([(d.paid_on, d.amount) for d in grant.disbursements],
                                        repaid_on, rate, Decimal(values["penalty_rate_multiple"]))
    except calc.ConversionError as exc:
        raise refuse(exc.clause, str(exc), field="repaid_on") from None
    suspended = cancel_pending(grant, TrancheStatus.SUSPENDED)
    grant.status = GrantStatus.IN_BREACH
    grant.breach_on = breach_on
    grant.breach_reason = reason
    grant.recovery_due_on = repaid_on
    grant.recovery_principal_amount = penalty.principal_amount
    grant.recovery_interest_amount = penalty.interest_amount
    record(session, actor=actor, action="grant.breach_declared", subject_type="grant",
           happened_on=breach_on,
           subject_id=grant.id, payload={"clause": "R8.c", "breach_on": breach_on,
                                         "reason": reason, "suspended_tranches": suspended,
                                         "penalty": penalty.to_dict()})
    return penalty


def close_with_tolerance(session: Session, grant: Grant, *, closed_on: date,
                         ic_resolution_ref: str, note: str = "", actor: str) -> None:
    """R8.b: technical failure despite due diligence, closed by IC decision (结项免责)."""
    grant = lock_grant(session, grant.id)
    require_open(grant, "R8.b")
    not_after_today(closed_on, "closed_on")
    if closed_on < grant.signed_on:
        raise field_error("closed_on", _l("The closing cannot precede the signing date."))
    if not ic_resolution_ref.strip():
        raise field_error("ic_resolution_ref", _l("A tolerance closure needs an IC resolution."))
    cancelled = cancel_pending(grant, TrancheStatus.CANCELLED)
    grant.status = GrantStatus.CLOSED_TOLERANCE
    grant.closed_on = closed_on
    grant.closure_ref = ic_resolution_ref.strip()
    grant.closure_note = note
    record(session, actor=actor, action="grant.closed_with_tolerance", subject_type="grant",
           happened_on=closed_on,
           subject_id=grant.id, payload={"clause": "R8.b", "closed_on": closed_on,
                                         "ic_resolution_ref": grant.closure_ref, "note": note,
                                         "cancelled_tranches": cancelled,
                                         "disbursed_amount": grant.disbursed_amount})


def close_expired_grants(session: Session, today: date, *, actor: str = "scheduler") -> list[int]:
    """R8.a: grants whose window and grace ended without conversion close as grants, once.

    Only those with accepted R&D close by themselves; the others wait for an IC decision (R8.b or
    R8.c). The status change is a conditional UPDATE, so two runs never close a grant twice.
    """
    due = session.execute(select(Grant.id, Grant.grace_end_on)
                          .where(Grant.status == GrantStatus.RD_ACCEPTED,
                                 Grant.grace_end_on < today)
                          .order_by(Grant.id)).all()
    closed = []
    for grant_id, grace_end_on in due:
        # The grant closes on the day after the window plus grace, however late the job runs.
        closed_on = grace_end_on + timedelta(days=1)
        changed = session.execute(update(Grant).where(Grant.id == grant_id,
                                                      Grant.status == GrantStatus.RD_ACCEPTED)
                                  .values(status=GrantStatus.CLOSED, closed_on=closed_on,
                                          closure_note="R8.a")).rowcount
        if not changed:
            continue
        grant = session.get(Grant, grant_id, populate_existing=True)
        assert grant is not None
        cancelled = cancel_pending(grant, TrancheStatus.CANCELLED)
        record(session, actor=actor, action="grant.closed_as_grant", subject_type="grant",
               happened_on=closed_on,
               subject_id=grant_id, payload={"clause": "R8.a", "closed_on": closed_on,
                                             "window_end_on": grant.window_end_on,
                                             "grace_end_on": grant.grace_end_on,
                                             "disbursed_amount": grant.disbursed_amount,
                                             "refunded_amount": grant.refunded_amount,
                                             "cancelled_tranches": cancelled})
        closed.append(grant_id)
    return closed


# --------------------------------------------------------------------------- corrections

GRANT_CORRECTION_FIELDS = ("agreement_no", "awarded_amount", "approved_budget_amount",
                           "signed_on", "holder_entity", "exit_filing_no", "exit_filed_on",
                           "alternative_conditions")


def _grant_snapshot(grant: Grant) -> dict[str, Any]:
    return {**{name: getattr(grant, name) for name in GRANT_CORRECTION_FIELDS},
            "tranches": [{"position": t.position, "amount": t.amount, "milestone": t.milestone}
                         for t in sorted(grant.tranches, key=lambda t: t.position)]}


def has_disbursement(grant: Grant) -> bool:
    """A payment stands on the grant (a reversed one, issue 12, no longer counts)."""
    return grant.disbursed_amount != ZERO or bool(grant.disbursements)


def _rescaled(amounts: Sequence[Decimal], old: Decimal, new: Decimal) -> list[Decimal]:
    """The schedule's shares kept for a corrected award: each rounded down to the fen, the last
    tranche takes the rest (as R2.b's default split does)."""
    scaled = [(a * new / old).quantize(FEN, rounding=ROUND_DOWN) for a in amounts[:-1]]
    return [*scaled, new - sum(scaled, ZERO)]


def correct_grant(session: Session, grant_id: int, *, actor: str, reason: str,
                  tranches: Sequence[Mapping[str, Any]] | None = None,
                  **changes: Any) -> Grant:
    """Correct a grant agreement as signed (issue 12): award, budget, dates and terms, only
    before its first disbursement; after it, a payment is corrected by a refund or a reversal.

    A corrected award keeps the tranche schedule's shares unless `tranches` (amount, milestone
    by position) gives the new schedule; the tranches always sum to the award (R2.b). One
    `grant.corrected` entry with the reason, before and after.
    """
    grant = lock_grant(session, grant_id)
    reason = require_reason(reason)
    require_open(grant, "R12")
    if has_disbursement(grant):
        raise refuse("R12", _l("The grant has a disbursement: correct it by a refund or "
                               "reversal."), field="awarded_amount")
    clean = {k: v for k, v in changes.items() if k in GRANT_CORRECTION_FIELDS}
    for key in ("agreement_no", "holder_entity", "exit_filing_no", "alternative_conditions"):
        if isinstance(clean.get(key), str):
            clean[key] = clean[key].strip()
    if "holder_entity" in clean and not clean["holder_entity"]:
        raise field_error("holder_entity", _l("Missing data for required field."))
    not_after_today(clean.get("signed_on"), "signed_on")
    not_after_today(clean.get("exit_filed_on"), "exit_filed_on")
    before = _grant_snapshot(grant)
    values = grant_policy_values(grant)
    award = clean.get("awarded_amount", grant.awarded_amount)
    budget = clean.get("approved_budget_amount", grant.approved_budget_amount)
    if award <= 0:
        raise field_error("awarded_amount", _l("Must be more than 0."))
    cap_abs = Decimal(values["grant_cap_abs"])
    cap_pct = Decimal(values["grant_cap_pct_of_budget"])
    if award > cap_abs:
        raise refuse("R2.a", _l("The award %(award)s exceeds the cap of %(cap)s.",
                                award=money_text(award), cap=money_text(cap_abs)),
                     field="awarded_amount")
    if award > budget * cap_pct:
        raise refuse("R2.a", _l("The award %(award)s exceeds %(pct)s%% of the approved budget "
                                "%(budget)s.", award=money_text(award), pct=pct_text(cap_pct),
                                budget=money_text(budget)), field="awarded_amount")
    fund = session.get(Fund, grant.fund_id) if grant.fund_id else None
    if award > grant.awarded_amount and fund is not None:
        others = sum(session.scalars(select(Grant.awarded_amount).where(
            Grant.company_id == grant.company_id, Grant.id != grant.id)).all(), ZERO)
        limit = fund.committed_amount * Decimal(values["max_single_company_pct"])
        if others + award > limit:
            raise refuse("R10.a", _l("All grants to this company would be %(total)s, above the "
                                     "single-company limit of %(limit)s; an IC resolution is "
                                     "needed.", total=money_text(others + award),
                                     limit=money_text(limit)), field="awarded_amount")
    rows = sorted(grant.tranches, key=lambda t: t.position)
    current = {t.position: (t.amount, t.milestone) for t in rows}
    if tranches is not None and any(
            current.get(int(t["position"])) != (Decimal(t["amount"]),
                                                str(t.get("milestone") or "").strip())
            for t in tranches):
        _apply_tranche_rows(grant, rows, tranches, award)
    elif award != grant.awarded_amount:
        for row, amount in zip(rows, _rescaled([t.amount for t in rows], grant.awarded_amount,
                                               award), strict=True):
            row.amount = amount
    for key, value in clean.items():
        setattr(grant, key, value)
    if "signed_on" in clean:
        _refresh_dates(grant)
    session.flush()
    record_correction(session, actor=actor, thing="grant", subject_type="grant",
                      subject_id=grant.id, reason=reason, before=before,
                      after=_grant_snapshot(grant))
    return grant


def _apply_tranche_rows(grant: Grant, rows: Sequence[Tranche], wanted: Sequence[Mapping[str, Any]],
                        award: Decimal) -> None:
    """Amounts and conditions of pending, unpaid tranches by position; the schedule still sums
    to the award (R2.b). A tranche paid (in part), released, cancelled or suspended is fixed."""
    by_position = {t.position: t for t in rows}
    paid = {d.tranche_id for d in grant.disbursements}
    problems: dict[str, list[str]] = {}
    for index, item in enumerate(wanted):
        row = by_position.get(int(item["position"]))
        if row is None:
            problems[f"tranches.{index}"] = [str(_l("No tranche %(n)s on this agreement.",
                                                    n=item["position"]))]
            continue
        amount = Decimal(item["amount"])
        milestone = str(item.get("milestone", row.milestone) or "").strip()
        if (amount, milestone) == (row.amount, row.milestone):
            continue
        if row.status != TrancheStatus.PENDING or row.id in paid:
            problems[f"tranches.{index}"] = [str(_l(
                "Tranche %(n)s is %(status)s or paid and cannot be corrected.", n=row.position,
                status=row.status.value))]
            continue
        if amount <= 0:
            problems[f"tranches.{index}"] = [str(_l("Every tranche must be more than 0."))]
            continue
        row.amount, row.milestone = amount, milestone
    if problems:
        raise ValidationFailed(_l("Some fields are not valid."), details=problems)
    total = sum((t.amount for t in rows), ZERO)
    if total != award:
        raise field_error("tranches", _l(
            "The tranches sum to %(total)s but the award is %(award)s (R2.b).",
            total=money_text(total), award=money_text(award)))


def correct_tranches(session: Session, grant_id: int, *, actor: str, reason: str,
                     tranches: Sequence[Mapping[str, Any]]) -> Grant:
    """Correct the tranche schedule (issue 12): amounts and conditions of tranches not yet paid,
    the sum still equal to the award (R2.b). The entry is `tranche_schedule.corrected` on the
    grant, with the reason and the schedule before and after."""
    grant = lock_grant(session, grant_id)
    reason = require_reason(reason)
    require_open(grant)
    before = _grant_snapshot(grant)["tranches"]
    _apply_tranche_rows(grant, sorted(grant.tranches, key=lambda t: t.position), tranches,
                        grant.awarded_amount)
    session.flush()
    record_correction(session, actor=actor, thing="tranche_schedule", subject_type="grant",
                      subject_id=grant.id, reason=reason, before={"tranches": before},
                      after={"tranches": _grant_snapshot(grant)["tranches"]})
    return grant
