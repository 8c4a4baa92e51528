"""Holdings (issue 5): follow-on investments, income, valuation marks and filed appraisals.

Cash flows (design): grant disbursements and refunds are the rows of grant_disbursements and
grant_refunds (issue 4) and are read from there as typed flows of kind grant_disbursement and
refund; they are never copied, so a flow cannot disagree with the payment it describes. Every
other money movement is one cash_flows row (follow_on, buyback_proceeds, exit_proceeds,
dividend, recovery, fee) with a positive amount (the kind gives the sign), its date, and a link
to its source: the holding, the exit, the grant (a recovery) or nothing (a fund-level fee).
Each row is written with its ledger entry in the same transaction. A flow that changes the
holding carries that change (units_delta, cost_delta_amount), so the units and cost held on
any past date are the holding's initial ones plus the changes dated on or before it.

Every function changes the database with flush() only; the caller commits once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.dates import not_after_today
from fundapp.errors import AppError, NotFound
from fundapp.portfolio.common import (
    MAX_ID,
    ZERO,
    field_error,
    get_company,
    local_today,
    refuse,
)
from fundapp.portfolio.exits.models import Exit
from fundapp.portfolio.grants.operations import get_grant
from fundapp.portfolio.holdings import valuation
from fundapp.portfolio.holdings.models import (
    Appraisal,
    CashFlow,
    FlowKind,
    Holding,
    HoldingOrigin,
    HoldingStatus,
    MarkMethod,
    MarkStatus,
    ValuationMark,
)
from fundapp.unit_of_work import lock


def get_holding(session: Session, holding_id: int) -> Holding:
    holding = session.get(Holding, holding_id) if 0 < holding_id <= MAX_ID else None
    if holding is None:
        raise NotFound(_l("No such holding."))
    return holding


def lock_holding(session: Session, holding_id: int) -> Holding:
    """Lock the holding aggregate (units, cost, marks, appraisals, exits) for the rest of the unit
    of work and read it afresh, before checking it and changing it."""
    holding = lock(session, Holding, holding_id) if 0 < holding_id <= MAX_ID else None
    if holding is None:
        raise NotFound(_l("No such holding."))
    return holding


def add_cash_flow(session: Session, *, kind: FlowKind, on: date, amount: Decimal, actor: str,
                  holding: Holding | None = None, grant_id: int | None = None,
                  company_id: int | None = None, exit_row: Exit | None = None,
                  units_delta: Decimal = ZERO, cost_delta: Decimal = ZERO, reference: str = "",
                  note: str = "") -> CashFlow:
    if amount < 0 or (amount == 0 and kind != FlowKind.EXIT_PROCEEDS):
        raise field_error("amount", _l("Must be more than 0."))
    flow = CashFlow(
        kind=kind, on=on, amount=amount, holding_id=holding.id if holding else None,
        company_id=company_id if company_id is not None else (holding.company_id if holding
                                                              else None),
        grant_id=grant_id, exit_id=exit_row.id if exit_row else None, units_delta=units_delta,
        cost_delta_amount=cost_delta, reference=reference, note=note, recorded_by=actor)
    session.add(flow)
    session.flush()
    record(session, actor=actor, action=f"cash_flow.{kind.value}", subject_type="cash_flow",
           happened_on=on,
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
    not_after_today(on, "on")
    if units <= 0:
        raise field_error("units", _l("Must be more than 0."))
    if holding_id is not None:
        holding = lock_holding(session, holding_id)
        if on < holding.acquired_on:
            raise field_error("on", _l("The holding was acquired on %(day)s.",
                                       day=holding.acquired_on.isoformat()))
        if holding.status != HoldingStatus.ACTIVE:
            raise refuse("R12", _l("The holding is closed."), field="holding_id")
        holding.units += units
        holding.cost_amount += amount
        return add_cash_flow(session, kind=FlowKind.FOLLOW_ON, on=on, amount=amount, actor=actor,
                             holding=holding, units_delta=units, cost_delta=amount,
                             reference=reference)
    if company_id is None:
        raise field_error("holding_id", _l("Name the holding or the company."))
    company = get_company(session, company_id)
    holding = Holding(company_id=company.id, holder_entity=holder_entity or "platform",
                      units=units, cost_amount=amount, initial_units=ZERO,
                      initial_cost_amount=ZERO, acquired_on=on, origin=HoldingOrigin.DIRECT,
                      status=HoldingStatus.ACTIVE)
    session.add(holding)
    session.flush()
    return add_cash_flow(session, kind=FlowKind.FOLLOW_ON, on=on, amount=amount, actor=actor,
                         holding=holding, units_delta=units, cost_delta=amount, reference=reference)


def record_income(session: Session, *, kind: FlowKind, on: date, amount: Decimal, actor: str,
                  holding_id: int | None = None, grant_id: int | None = None,
                  reference: str = "", note: str = "") -> CashFlow:
    """A dividend (holding), a recovery (grant in breach, R8.c) or a fee (fund)."""
    not_after_today(on, "on")
    if kind == FlowKind.DIVIDEND:
        if holding_id is None:
            raise field_error("holding_id", _l("A dividend belongs to a holding."))
        holding = get_holding(session, holding_id)
        if on < holding.acquired_on:
            raise field_error("on", _l("The holding was acquired on %(day)s.",
                                       day=holding.acquired_on.isoformat()))
        return add_cash_flow(session, kind=kind, on=on, amount=amount, actor=actor, holding=holding,
                             reference=reference, note=note)
    if kind == FlowKind.RECOVERY:
        if grant_id is None:
            raise field_error("grant_id", _l("A recovery belongs to a grant agreement."))
        grant = get_grant(session, grant_id)
        if on < grant.signed_on:
            raise field_error("on", _l("A recovery cannot precede the signing date."))
        return add_cash_flow(session, kind=kind, on=on, amount=amount, actor=actor,
                             grant_id=grant.id, company_id=grant.company_id, reference=reference,
                             note=note)
    if kind == FlowKind.FEE:
        return add_cash_flow(session, kind=kind, on=on, amount=amount, actor=actor,
                             reference=reference, note=note)
    raise field_error("kind", _l("Record this kind through its own operation."))


def record_cash_flow(session: Session, *, kind: FlowKind, on: date, amount: Decimal, actor: str,
                     units: Decimal | None = None, holding_id: int | None = None,
                     company_id: int | None = None, grant_id: int | None = None,
                     reference: str = "", note: str = "") -> CashFlow:
    """A cash flow as the API and the holding page post it: a follow-on investment (units
    required), or a dividend, recovery or fee."""
    if kind == FlowKind.FOLLOW_ON:
        if units is None:
            raise field_error("units", _l("Missing data for required field."))
        return record_follow_on(session, on=on, amount=amount, units=units, actor=actor,
                                holding_id=holding_id, company_id=company_id, reference=reference)
    return record_income(session, kind=kind, on=on, amount=amount, actor=actor,
                         holding_id=holding_id, grant_id=grant_id, reference=reference, note=note)


# ---- valuation marks


def dcf_of(inputs: Mapping[str, Any] | None) -> valuation.DcfValue:
    """The DCF figures of a mark's inputs (cash_flows, discount_rate as a fraction,
    terminal_value, net_debt, units_outstanding); a field error names the input at fault."""
    given = dict(inputs or {})
    flows = given.get("cash_flows") or []
    if isinstance(flows, str | bytes) or not isinstance(flows, list | tuple):
        raise field_error("cash_flows", _l("Enter at least one year's forecast cash flow."))
    try:
        return valuation.dcf_value(
            cash_flows=list(flows), discount_rate=given.get("discount_rate"),
            units_outstanding=given.get("units_outstanding"),
            terminal_value=given.get("terminal_value") or ZERO,
            net_debt=given.get("net_debt") or ZERO)
    except valuation.InputProblem as problem:
        raise field_error(problem.field, gettext(problem.message)) from None


def record_mark(session: Session, holding: Holding, *, measured_on: date, method: MarkMethod,
                value_per_unit: Decimal | None = None, inputs: Mapping[str, Any] | None = None,
                note: str = "", actor: str) -> ValuationMark:
    """A draft mark; it counts only once another person finalises it.

    A DCF mark's value per unit is computed from its inputs (valuation.dcf_value), and the
    inputs are stored with every figure of the computation (decimals as strings); a value per
    unit given with it must be that computed value."""
    holding = lock_holding(session, holding.id)
    value_per_unit, inputs = _checked_mark(holding, measured_on=measured_on, method=method,
                                           value_per_unit=value_per_unit, inputs=inputs)
    mark = ValuationMark(holding_id=holding.id, measured_on=measured_on, method=method,
                         inputs_json=json.dumps(dict(inputs or {}), ensure_ascii=False,
                                                default=str, sort_keys=True),
                         value_per_unit=value_per_unit, status=MarkStatus.DRAFT, note=note,
                         author=actor)
    session.add(mark)
    session.flush()
    record(session, actor=actor, action="mark.drafted", subject_type="valuation_mark",
           happened_on=measured_on,
           subject_id=mark.id, payload={"holding_id": holding.id, "measured_on": measured_on,
                                        "method": method.value, "inputs": mark.inputs,
                                        "value_per_unit": value_per_unit, "note": note})
    return mark


def _checked_mark(holding: Holding, *, measured_on: date, method: MarkMethod,
                  value_per_unit: Decimal | None, inputs: Mapping[str, Any] | None
                  ) -> tuple[Decimal, Mapping[str, Any] | None]:
    """A mark's day, value per unit and inputs checked (a DCF's value computed from them)."""
    if measured_on < holding.acquired_on:
        raise field_error("measured_on", _l(
            "The holding did not exist before %(day)s.", day=holding.acquired_on.isoformat()))
    not_after_today(measured_on, "measured_on")
    if method == MarkMethod.DCF:
        dcf = dcf_of(inputs)
        if value_per_unit is not None and value_per_unit != dcf.value_per_unit:
            raise field_error("value_per_unit", _l(
                "A DCF mark's value per unit is computed from its inputs (%(value)s); leave "
                "it blank.", value=dcf.value_per_unit))
        value_per_unit = dcf.value_per_unit
        inputs = dcf.to_inputs()
    if value_per_unit is None:
        raise field_error("value_per_unit", _l("Missing data for required field."))
    if value_per_unit < 0:
        raise field_error("value_per_unit", _l("Must not be negative."))
    if method == MarkMethod.WRITE_OFF and value_per_unit != 0:
        raise field_error("value_per_unit", _l("A write-off values the units at 0."))
    return value_per_unit, inputs


def get_mark(session: Session, mark_id: int) -> ValuationMark:
    mark = session.get(ValuationMark, mark_id) if 0 < mark_id <= MAX_ID else None
    if mark is None:
        raise NotFound(_l("No such valuation mark."))
    return mark


def finalise_mark(session: Session, mark: ValuationMark, *, actor: str) -> ValuationMark:
    """Four eyes: the author cannot finalise their own mark; a final mark is never changed."""
    lock_holding(session, mark.holding_id)  # expires what was read: the mark is read afresh
    if mark.status == MarkStatus.FINAL:
        raise AppError(_l("This mark is already final."), status=409, code="already_final")
    if mark.author == actor:
        raise refuse("four_eyes", _l("A mark is finalised by someone other than its author."),
                     field="approver", who=_l("a second fund manager, not the mark's author"),
                     link=("portfolio.holding", {"holding_id": mark.holding_id}),
                     link_label=_l("The mark to finalise, on the holding's page"))
    mark.status = MarkStatus.FINAL
    mark.approver = actor
    mark.finalised_on = local_today()
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
    holding = lock_holding(session, holding.id)
    not_after_today(base_on, "base_on")
    not_after_today(filed_on, "filed_on")
    if not filing_no.strip():
        raise field_error("filing_no", _l("An appraisal needs its filing number."))
    if units <= 0 or units > holding.units:
        raise field_error("units", _l("The holding has %(units)s units.", units=holding.units))
    if filed_on < base_on:
        raise field_error("filed_on", _l("Filing cannot precede the base date."))
    row = Appraisal(holding_id=holding.id, base_on=base_on, units=units,
                    value_amount=value_amount, filing_no=filing_no.strip(), filed_on=filed_on,
                    appraiser=appraiser, recorded_by=actor)
    session.add(row)
    session.flush()
    record(session, actor=actor, action="appraisal.filed", subject_type="appraisal",
           happened_on=base_on,
           subject_id=row.id, payload={"holding_id": holding.id, "base_on": base_on,
                                       "units": units, "value_amount": value_amount,
                                       "filing_no": row.filing_no, "filed_on": filed_on,
                                       "appraiser": appraiser, "clause": "R9.a"})
    return row


def latest_appraisal(session: Session, holding: Holding, on: date) -> Appraisal | None:
    return session.scalar(select(Appraisal).where(Appraisal.holding_id == holding.id,
                                                  Appraisal.filed_on <= on)
                          .order_by(Appraisal.filed_on.desc(), Appraisal.id.desc()).limit(1))


def _mark_snapshot(mark: ValuationMark) -> dict[str, Any]:
    return {"measured_on": mark.measured_on, "method": mark.method,
            "value_per_unit": mark.value_per_unit, "inputs": mark.inputs, "note": mark.note}


def correct_mark(session: Session, mark_id: int, *, measured_on: date, method: MarkMethod | str,
                 value_per_unit: Decimal | None = None, inputs: Mapping[str, Any] | None = None,
                 note: str = "", actor: str, reason: str) -> ValuationMark:
    """Correct a draft valuation mark with a reason (issue 12: `mark.corrected`); a final mark
    is never changed: a new mark supersedes it."""
    from fundapp.compliance.corrections import record_correction, require_reason

    mark = get_mark(session, mark_id)
    holding = lock_holding(session, mark.holding_id)  # expires what was read: read afresh
    reason = require_reason(reason)
    if mark.status == MarkStatus.FINAL:
        raise AppError(_l("A final mark is not corrected: record a new mark."), status=409,
                       code="mark_final")
    method = MarkMethod(method)
    value_per_unit, inputs = _checked_mark(holding, measured_on=measured_on, method=method,
                                           value_per_unit=value_per_unit, inputs=inputs)
    before = _mark_snapshot(mark)
    mark.measured_on, mark.method, mark.value_per_unit = measured_on, method, value_per_unit
    mark.inputs_json = json.dumps(dict(inputs or {}), ensure_ascii=False, default=str,
                                  sort_keys=True)
    mark.note = (note or "").strip()
    session.flush()
    session.refresh(mark)  # the value as stored (6 places), as `before` was read
    record_correction(session, actor=actor, thing="mark", subject_type="valuation_mark",
                      subject_id=mark.id, reason=reason, before=before,
                      after=_mark_snapshot(mark), holding_id=holding.id)
    return mark
