"""Reversals (issue 12): a fact that money already depends on is corrected by a reversing
record, never by an edit or a deletion.

- A conversion is reversed only with the IC resolution that decided it: the grant's state, the
  tranches the conversion cancelled (R4.b) and the payments it made at closing (R4.a) are
  restored, the holding and cap table it wrote are marked reversed (they stay, shown struck
  through), and one ledger entry ``conversion.reversed`` records the before and after. The grant
  can then be converted again.
- A disbursement recorded wrongly (not a refund by the company: that is ``record_refund``) is
  reversed: the payment stays, marked reversed, its tranche is undisbursed again and its typed
  cash flow (read from the payment) no longer counts.

``plan_*`` say what a reversal would do, or what blocks it, and change nothing (the confirmation
pages show them); ``reverse_*`` lock the aggregate, plan again and write. Both only flush.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.compliance.models import LedgerEntry
from fundapp.dates import not_after_today
from fundapp.errors import AppError, NotFound
from fundapp.portfolio.common import MAX_ID, ZERO, field_error, money_text, refuse
from fundapp.portfolio.conversion.models import CapTable, Conversion
from fundapp.portfolio.exits.models import Exit, ExitInstalment
from fundapp.portfolio.grants.models import (
    Grant,
    GrantDisbursement,
    GrantStatus,
    TrancheStatus,
)
from fundapp.portfolio.grants.operations import lock_grant
from fundapp.portfolio.holdings.models import (
    Appraisal,
    CashFlow,
    Holding,
    HoldingStatus,
    MarkStatus,
    ValuationMark,
)
from fundapp.portfolio.holdings.operations import lock_holding

RULE = "R12"  # evidence and audit: corrections are reversing records, never edits


def get_conversion(session: Session, conversion_id: int) -> Conversion:
    row = session.get(Conversion, conversion_id) if 0 < conversion_id <= MAX_ID else None
    if row is None:
        raise NotFound(_l("No such conversion."))
    return row


def get_disbursement(session: Session, disbursement_id: int) -> GrantDisbursement:
    row = (session.get(GrantDisbursement, disbursement_id)
           if 0 < disbursement_id <= MAX_ID else None)
    if row is None:
        raise NotFound(_l("No such disbursement."))
    return row


def _already_reversed(what: Any, reversed_on: date | None) -> AppError:
    return AppError(_l("This %(what)s was already reversed on %(day)s.", what=what,
                       day=reversed_on.isoformat() if reversed_on else "?"),
                    status=409, code="already_reversed", details={"rule": RULE})


def _check_day(on: date, earliest: date, what: Any) -> None:
    not_after_today(on, "on")
    if on < earliest:
        raise field_error("on", _l("A reversal cannot precede the %(what)s (%(day)s).",
                                   what=what, day=earliest.isoformat()))


# --------------------------------------------------------------------------- conversions


@dataclass
class ConversionReversalPlan:
    """What reversing a conversion would do (or the reasons it cannot be done yet)."""

    conversion: Conversion
    grant: Grant
    holding: Holding | None
    cap_table: CapTable | None
    status_after: GrantStatus
    restored_tranches: list[int] = field(default_factory=list)
    closing_payments: list[GrantDisbursement] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)

    @property
    def reopens_remainder(self) -> bool:
        return self.grant.closure_note == "R6.d"


def _converted_entry(session: Session, conversion: Conversion) -> dict[str, Any]:
    """The payload of the ledger entry that recorded the conversion (what it cancelled and paid)."""
    for payload in session.scalars(
            select(LedgerEntry.payload)
            .where(LedgerEntry.action == "grant.converted", LedgerEntry.subject_type == "grant",
                   LedgerEntry.subject_id == str(conversion.grant_id))
            .order_by(LedgerEntry.seq.desc())):
        data = json.loads(payload)
        if data.get("conversion_id") == conversion.id:
            return data
    return {}


def _blockers(session: Session, conversion: Conversion, holding: Holding | None,
              cap_table: CapTable | None) -> list[str]:
    """What depends on the conversion's holding or cap table since: each named, with its day."""
    found: list[str] = []
    if holding is not None:
        exits = session.execute(select(Exit.kind, Exit.transfer_on)
                                .where(Exit.holding_id == holding.id)
                                .order_by(Exit.transfer_on, Exit.id)).all()
        for kind, on in exits:
            found.append(str(_l("an exit (%(kind)s) on %(day)s", kind=kind.value,
                                day=on.isoformat())))
        instalments = session.scalar(select(func.count()).select_from(ExitInstalment)
                                     .join(Exit).where(Exit.holding_id == holding.id)) or 0
        if instalments:
            found.append(str(_l("%(n)s instalment(s) of a deferred exit price", n=instalments)))
        for kind, on in session.execute(select(CashFlow.kind, CashFlow.on)
                                        .where(CashFlow.holding_id == holding.id)
                                        .order_by(CashFlow.on, CashFlow.id)):
            found.append(str(_l("a cash flow (%(kind)s) on %(day)s", kind=kind.value,
                                day=on.isoformat())))
        for on in session.scalars(select(ValuationMark.measured_on)
                                  .where(ValuationMark.holding_id == holding.id,
                                         ValuationMark.status == MarkStatus.FINAL)
                                  .order_by(ValuationMark.measured_on)):
            found.append(str(_l("a final valuation mark measured on %(day)s",
                                day=on.isoformat())))
        for on in session.scalars(select(Appraisal.base_on)
                                  .where(Appraisal.holding_id == holding.id)
                                  .order_by(Appraisal.base_on)):
            found.append(str(_l("a filed appraisal with base date %(day)s", day=on.isoformat())))
        if holding.status != HoldingStatus.ACTIVE:
            found.append(str(_l("the holding is %(status)s", status=holding.status.value)))
    if cap_table is not None:
        for as_of, source in session.execute(
                select(CapTable.as_of, CapTable.source)
                .where(CapTable.company_id == cap_table.company_id, CapTable.id > cap_table.id,
                       CapTable.reversed_at.is_(None))
                .order_by(CapTable.as_of, CapTable.id)):
            found.append(str(_l("a later cap table (%(source)s) as of %(day)s", source=source,
                                day=as_of.isoformat())))
    return found


def plan_conversion_reversal(session: Session, conversion: Conversion
                             ) -> ConversionReversalPlan:
    """What reversing the conversion restores and removes; ``blockers`` name what depends on it
    since (an exit, a buy-back's instalments, cash flows, final marks...). Changes nothing."""
    if conversion.reversed_at is not None:
        raise _already_reversed(_l("conversion"), conversion.reversed_on)
    grant = conversion.grant
    holding = session.scalar(select(Holding).where(Holding.conversion_id == conversion.id))
    cap_table = session.scalar(select(CapTable).where(CapTable.conversion_id == conversion.id,
                                                      CapTable.reversed_at.is_(None))
                               .order_by(CapTable.id.desc()).limit(1))
    entry = _converted_entry(session, conversion)
    cancelled = set(entry.get("cancelled_tranches_r4b") or [])
    if not entry:  # no entry found (never in practice): every cancelled tranche was R4.b's
        cancelled = {t.position for t in grant.tranches if t.status == TrancheStatus.CANCELLED}
    restored = sorted(t.position for t in grant.tranches
                      if t.position in cancelled and t.status == TrancheStatus.CANCELLED)
    payments: list[GrantDisbursement] = []
    for paid in entry.get("paid_at_closing_r4a") or []:
        for payment in reversed(grant.disbursements):
            if (payment.tranche.position == paid.get("tranche")
                    and payment.amount == Decimal(str(paid.get("amount")))
                    and payment.paid_on == conversion.converted_on
                    and payment not in payments):
                payments.append(payment)
                break
    status_after = (GrantStatus.RD_ACCEPTED if grant.rd_accepted_on is not None
                    else GrantStatus.DISBURSING)
    return ConversionReversalPlan(
        conversion=conversion, grant=grant, holding=holding, cap_table=cap_table,
        status_after=status_after, restored_tranches=restored, closing_payments=payments,
        blockers=_blockers(session, conversion, holding, cap_table))


def _grant_state(grant: Grant) -> dict[str, Any]:
    return {"status": grant.status.value, "closed_on": grant.closed_on,
            "closure_note": grant.closure_note, "disbursed_amount": grant.disbursed_amount,
            "tranches": {t.position: t.status.value for t in grant.tranches}}


def reverse_conversion(session: Session, conversion_id: int, *, ic_reference: str, reason: str,
                       on: date, actor: str) -> Conversion:
    """Reverse a conversion by the IC resolution ``ic_reference`` (issue 12): marks it reversed,
    restores the grant, its cancelled tranches and the payments made at closing, marks the
    holding and cap table reversed; refused while anything depends on the holding since."""
    found = get_conversion(session, conversion_id)
    grant = lock_grant(session, found.grant_id)
    conversion = get_conversion(session, conversion_id)  # read again under the lock
    if conversion.reversed_at is not None:
        raise _already_reversed(_l("conversion"), conversion.reversed_on)
    holding_id = session.scalar(select(Holding.id).where(Holding.conversion_id == conversion.id))
    if holding_id is not None:
        lock_holding(session, holding_id)
    if not ic_reference.strip():
        raise field_error("ic_reference", _l("A conversion is reversed only by an IC "
                                             "resolution: give its reference."))
    if not reason.strip():
        raise field_error("reason", _l("Say why the conversion is reversed."))
    _check_day(on, conversion.converted_on, _l("conversion"))
    plan = plan_conversion_reversal(session, conversion)
    if plan.blockers:
        raise refuse(RULE, _l("The conversion cannot be reversed: the holding has been used "
                              "since (%(blockers)s). Reverse or correct those first.",
                              blockers="; ".join(plan.blockers)), blockers=plan.blockers)
    grant = plan.grant
    before = _grant_state(grant)
    holding = plan.holding
    holding_before = ({"id": holding.id, "status": holding.status.value, "units": holding.units,
                       "cost_amount": holding.cost_amount} if holding is not None else None)
    now = datetime.now(UTC)
    reversed_payments = []
    for payment in plan.closing_payments:
        _reverse_payment(grant, payment, reason=str(_l("paid at closing by conversion %(id)s, "
                                                       "now reversed", id=conversion.id)),
                         on=on, actor=actor, now=now)
        reversed_payments.append({"disbursement_id": payment.id,
                                  "tranche": payment.tranche.position, "amount": payment.amount})
    for tranche in grant.tranches:
        if tranche.position in plan.restored_tranches:
            tranche.status = TrancheStatus.PENDING
    grant.status = plan.status_after
    if plan.reopens_remainder:
        grant.closed_on = None
        grant.closure_note = ""
    if holding is not None:
        holding.status = HoldingStatus.REVERSED
        holding.closed_on = on
        holding.units = ZERO
        holding.cost_amount = ZERO
    if plan.cap_table is not None:
        plan.cap_table.reversed_at = now
    conversion.reversed_at = now
    conversion.reversed_on = on
    conversion.reversed_by = actor
    conversion.reversal_reason = reason.strip()
    conversion.reversal_ic_reference = ic_reference.strip()
    session.flush()
    session.expire(grant, ["conversion", "disbursements", "conversions", "all_disbursements"])
    grant = session.get(Grant, grant.id)
    assert grant is not None
    after = _grant_state(grant)
    record(session, actor=actor, action="conversion.reversed", subject_type="grant",
           subject_id=grant.id, happened_on=on, payload={
               "clause": RULE, "conversion_id": conversion.id,
               "converted_on": conversion.converted_on, "reversed_on": on,
               "ic_reference": conversion.reversal_ic_reference,
               "reason": conversion.reversal_reason,
               "before": {"grant": before, "holding": holding_before,
                          "cap_table_id": plan.cap_table.id if plan.cap_table else None,
                          "fund_units": conversion.fund_units,
                          "converted_amount": conversion.converted_amount},
               "after": {"grant": after,
                         "holding": ({"id": holding.id, "status": holding.status.value,
                                      "units": holding.units,
                                      "cost_amount": holding.cost_amount}
                                     if holding is not None else None),
                         "cap_table_reversed": plan.cap_table is not None},
               "restored_tranches_r4b": plan.restored_tranches,
               "reversed_payments_r4a": reversed_payments})
    return conversion


# --------------------------------------------------------------------------- disbursements


@dataclass
class DisbursementReversalPlan:
    disbursement: GrantDisbursement
    grant: Grant
    tranche_status_after: TrancheStatus
    disbursed_after: Decimal
    blockers: list[str] = field(default_factory=list)


def plan_disbursement_reversal(session: Session, payment: GrantDisbursement
                               ) -> DisbursementReversalPlan:
    """What reversing a payment recorded wrongly would do, or what blocks it. Changes nothing."""
    if payment.reversed_at is not None:
        raise _already_reversed(_l("disbursement"), payment.reversed_on)
    grant = payment.grant
    blockers = []
    if grant.conversion is not None:
        blockers.append(str(_l("the grant was converted on %(day)s and the conversion used this "
                               "payment: reverse the conversion first",
                               day=grant.conversion.converted_on.isoformat())))
    if grant.status == GrantStatus.IN_BREACH:
        blockers.append(str(_l("the recovery of the breach declared on %(day)s was computed "
                               "from the payments",
                               day=grant.breach_on.isoformat() if grant.breach_on else "?")))
    disbursed_after = grant.disbursed_amount - payment.amount
    if grant.refunded_amount > disbursed_after:
        blockers.append(str(_l("the refunds (%(refunded)s) would exceed what stays paid "
                               "(%(paid)s)", refunded=money_text(grant.refunded_amount),
                               paid=money_text(disbursed_after))))
    tranche_after = (TrancheStatus.PENDING
                     if grant.status in (GrantStatus.DISBURSING, GrantStatus.RD_ACCEPTED)
                     else TrancheStatus.CANCELLED)
    return DisbursementReversalPlan(disbursement=payment, grant=grant,
                                    tranche_status_after=tranche_after,
                                    disbursed_after=disbursed_after, blockers=blockers)


def _reverse_payment(grant: Grant, payment: GrantDisbursement, *, reason: str, on: date,
                     actor: str, now: datetime,
                     tranche_after: TrancheStatus = TrancheStatus.PENDING) -> None:
    payment.reversed_at = now
    payment.reversed_on = on
    payment.reversed_by = actor
    payment.reversal_reason = reason
    # The maintained total, changed in SQL; CHECK keeps it >= 0 and >= the refunds.
    grant.disbursed_amount = Grant.disbursed_amount - payment.amount
    if payment.tranche.status == TrancheStatus.RELEASED:
        payment.tranche.status = tranche_after


def reverse_disbursement(session: Session, disbursement_id: int, *, reason: str, on: date,
                         actor: str) -> GrantDisbursement:
    """Reverse a payment recorded wrongly (issue 12): it stays, marked reversed; its tranche is
    undisbursed again and it no longer counts. Refused while a conversion used it."""
    found = get_disbursement(session, disbursement_id)
    lock_grant(session, found.grant_id)
    payment = get_disbursement(session, disbursement_id)
    if not reason.strip():
        raise field_error("reason", _l("Say why the payment is reversed."))
    _check_day(on, payment.paid_on, _l("payment"))
    plan = plan_disbursement_reversal(session, payment)
    if plan.blockers:
        raise refuse(RULE, _l("The payment cannot be reversed: %(blockers)s.",
                              blockers="; ".join(plan.blockers)), blockers=plan.blockers)
    grant = plan.grant
    before = {"disbursed_amount": grant.disbursed_amount,
              "tranche_status": payment.tranche.status.value}
    _reverse_payment(grant, payment, reason=reason.strip(), on=on, actor=actor,
                     now=datetime.now(UTC), tranche_after=plan.tranche_status_after)
    session.flush()
    session.expire(grant, ["disbursements", "all_disbursements", "disbursed_amount"])
    record(session, actor=actor, action="grant.disbursement_reversed", subject_type="grant",
           subject_id=grant.id, happened_on=on, payload={
               "clause": RULE, "disbursement_id": payment.id,
               "tranche": payment.tranche.position, "amount": payment.amount,
               "paid_on": payment.paid_on, "reversed_on": on, "reason": payment.reversal_reason,
               "before": before,
               "after": {"disbursed_amount": grant.disbursed_amount,
                         "tranche_status": payment.tranche.status.value}})
    return payment
