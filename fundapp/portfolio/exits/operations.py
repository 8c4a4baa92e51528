"""Exits (R7, R9): a team buy-back at or above its floor price, an exchange sale, a trade or IPO
sale, a liquidation, and the deferred balance of an exchange sale or a buy-back, paid in one or
more instalments (fundapp.portfolio.exits.schedule). The proceeds become cash flows.

Every function changes the database with flush() only and writes its ledger entry in the same
transaction; the caller commits once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.dates import not_after_today
from fundapp.errors import AppError, NotFound
from fundapp.fund.operations import policy_in_force
from fundapp.portfolio.common import (
    FEN,
    MAX_ID,
    field_error,
    jsonable,
    money_text,
    refuse,
)
from fundapp.portfolio.conversion import engine as calc
from fundapp.portfolio.exits import schedule as sched
from fundapp.portfolio.exits.models import Exit, ExitInstalment, ExitKind
from fundapp.portfolio.grants.models import Grant
from fundapp.portfolio.grants.operations import grant_policy_values
from fundapp.portfolio.holdings import valuation
from fundapp.portfolio.holdings.models import (
    Appraisal,
    FlowKind,
    Holding,
    HoldingStatus,
    MarkStatus,
    ValuationMark,
)
from fundapp.portfolio.holdings.operations import add_cash_flow, latest_appraisal, lock_holding
from fundapp.reference.queries import lpr_rate_on

SANITY_MULTIPLE = 10  # an exit price above 10x the last final mark needs a confirmation
BALANCE_MONTHS = 12  # R9.d: the deferred balance is paid within a year (buy-backs alike)


def get_exit(session: Session, exit_id: int) -> Exit:
    row = session.get(Exit, exit_id) if 0 < exit_id <= MAX_ID else None
    if row is None:
        raise NotFound(_l("No such exit."))
    return row


def _check_units(holding: Holding, units: Decimal) -> None:
    if units <= 0:
        raise field_error("units", _l("Must be more than 0."))
    if units > holding.units:
        raise field_error("units", _l("The exit is of %(units)s units but only %(held)s are "
                                      "held.", units=units, held=holding.units))


def _close_exit(session: Session, holding: Holding, exit_row: Exit, *, received: Decimal,
                received_on: date, actor: str, kind: FlowKind) -> None:
    # Subtracted in SQL: atomic even without the lock, and CHECK (units >= 0) refuses an oversale.
    holding.units = Holding.units - exit_row.units
    holding.cost_amount = Holding.cost_amount - exit_row.cost_amount
    session.flush()
    if holding.units == 0:
        holding.status = (HoldingStatus.WRITTEN_OFF if exit_row.kind == ExitKind.LIQUIDATION
                          else HoldingStatus.EXITED)
        holding.closed_on = exit_row.transfer_on
        exit_row.is_closing = True
    add_cash_flow(session, kind=kind, on=received_on, amount=received, actor=actor, holding=holding,
                  exit_row=exit_row, units_delta=-exit_row.units, cost_delta=-exit_row.cost_amount,
                  reference=f"exit {exit_row.id}")


@dataclass
class ExitPlan:
    """What an exit would do, every check passed: the confirmation step shows it."""

    holding: Holding
    cost: Decimal
    down_payment: Decimal
    balance: Decimal
    balance_due_on: date | None
    lines: list[sched.Line]
    flow_kind: FlowKind
    details: dict[str, Any]


def plan_exit(session: Session, holding: Holding, *, kind: ExitKind, transfer_on: date,
              units: Decimal, price_amount: Decimal, **terms: Any) -> ExitPlan:
    """Every check of an exit (R7/R9, units, dates, terms) and what it yields; changes
    nothing."""
    _check_units(holding, units)
    if holding.status != HoldingStatus.ACTIVE:
        raise refuse("R12", _l("The holding is closed."), field="holding_id")
    if transfer_on < holding.acquired_on:
        raise field_error("transfer_on", _l("The holding did not exist before %(day)s.",
                                            day=holding.acquired_on.isoformat()))
    not_after_today(transfer_on, "transfer_on")
    if price_amount < 0:
        raise field_error("price_amount", _l("Must not be negative."))
    cost = valuation.pro_rata(holding.cost_amount, units, holding.units)
    details: dict[str, Any] = {"units_before": holding.units, "cost_before": holding.cost_amount}
    down_payment = price_amount
    balance_due_on = None
    flow_kind = FlowKind.EXIT_PROCEEDS
    count, months, last_due = _instalment_terms(kind, transfer_on, terms)
    if kind == ExitKind.BUYBACK:
        details.update(_check_buyback(session, holding, transfer_on=transfer_on, units=units,
                                      price=price_amount,
                                      is_company=bool(terms.get("is_company_buyer"))))
        flow_kind = FlowKind.BUYBACK_PROCEEDS
        down_payment, balance_due_on = _check_buyback_terms(
            transfer_on, price_amount, terms.get("down_payment_amount"),
            last_due or terms.get("balance_due_on"))
    elif kind == ExitKind.EXCHANGE:
        check = _check_exchange(session, holding, transfer_on=transfer_on, units=units,
                                price=price_amount,
                                terms={**terms, "balance_due_on": last_due or terms.get(
                                    "balance_due_on")})
        details["r9"] = check.to_dict()
        down_payment = check.down_payment_amount
        balance_due_on = check.balance_due_on
    elif kind == ExitKind.LIQUIDATION and units != holding.units:
        raise field_error("units", _l("A liquidation disposes of every unit held."))
    balance = price_amount - down_payment
    if balance == 0 and (count > 1 or months is not None):
        raise field_error("instalments", _l("There is no balance to pay in instalments: the "
                                            "down payment is the whole price."))
    lines: list[sched.Line] = []
    if balance:
        if balance_due_on is None or balance_due_on <= transfer_on:
            raise field_error("balance_due_on", _l("The balance must be due after the "
                                                   "transfer date."))
        if months is None:  # one balance on a date of its own, without interest (as before)
            lines = [sched.Line(1, balance_due_on, balance, Decimal("0.00"))]
        else:
            rate, source = _instalment_rate(session, holding, transfer_on)
            lines = sched.build_schedule(balance, rate, count, months, transfer_on)
            details["schedule"] = {"instalments": count, "months": months,
                                   "annual_rate": rate, "rate_source": source}
        details.setdefault("schedule", {"instalments": 1, "months": None,
                                        "annual_rate": Decimal("0"),
                                        "rate_source": "none: one payment without interest"})
        details["schedule"]["lines"] = [
            {"number": line.number, "due_on": line.due_on, "principal_amount": line.principal,
             "interest_amount": line.interest, "total_amount": line.total} for line in lines]
    if kind in (ExitKind.TRADE_SALE, ExitKind.IPO_SALE) and price_amount == 0:
        raise field_error("price_amount", _l("Must be more than 0."))
    details.update(_check_price_against_mark(session, holding, transfer_on=transfer_on,
                                             units=units, price=price_amount,
                                             confirmed=bool(terms.get("confirm_unusual_price"))))
    return ExitPlan(holding, cost, down_payment, balance, balance_due_on, lines, flow_kind,
                    details)


def record_exit(session: Session, holding: Holding, *, kind: ExitKind, transfer_on: date,
                units: Decimal, price_amount: Decimal, buyer: str = "", actor: str,
                **terms: Any) -> Exit:
    """Sell (part of) a holding: R7 for a buy-back, R9 for an exchange sale; trade sale, IPO
    sale and liquidation record the price. The proceeds become a cash flow; the holding shrinks
    or closes. The whole check sheet goes to the ledger."""
    holding = lock_holding(session, holding.id)
    plan = plan_exit(session, holding, kind=kind, transfer_on=transfer_on, units=units,
                     price_amount=price_amount, **terms)
    cost, details, lines = plan.cost, plan.details, plan.lines
    down_payment, balance, balance_due_on = plan.down_payment, plan.balance, plan.balance_due_on
    flow_kind = plan.flow_kind
    exit_row = Exit(holding_id=holding.id, kind=kind, transfer_on=transfer_on, units=units,
                    price_amount=price_amount, cost_amount=cost, buyer=buyer,
                    balance_amount=balance, balance_due_on=balance_due_on if balance else None,
                    details_json=json.dumps(jsonable(details), ensure_ascii=False),
                    recorded_by=actor)
    exit_row.instalments = [
        ExitInstalment(number=line.number, due_on=line.due_on, principal_amount=line.principal,
                       interest_amount=line.interest, recorded_by=actor) for line in lines]
    session.add(exit_row)
    session.flush()
    record(session, actor=actor, action=f"exit.{kind.value}", subject_type="exit",
           happened_on=transfer_on,
           subject_id=exit_row.id, payload={"holding_id": holding.id, "transfer_on": transfer_on,
                                            "units": units, "price_amount": price_amount,
                                            "cost_amount": cost, "buyer": buyer,
                                            "details": details})
    # The units leave at the transfer whatever was paid (a down payment is always more than 0
    # when there is a balance, so every exit closes here).
    _close_exit(session, holding, exit_row, received=down_payment, received_on=transfer_on,
                actor=actor, kind=flow_kind)
    return exit_row


def _instalment_terms(kind: ExitKind, transfer_on: date,
                      terms: Mapping[str, Any]) -> tuple[int, int | None, date | None]:
    """(instalments, months between them or None, the last due date of a schedule or None).

    Without `instalment_months` the balance is one payment due on `balance_due_on`; with it the
    balance is an annuity of `instalments` payments, instalment k due k × months after the
    transfer. The last due date is at most a year after the transfer (R9.d; buy-backs alike)."""
    count = int(terms.get("instalments") or 1)
    months = int(terms["instalment_months"]) if terms.get("instalment_months") else None
    if not 1 <= count <= sched.MAX_INSTALMENTS:
        raise field_error("instalments", _l("Must be from 1 to %(n)s.", n=sched.MAX_INSTALMENTS))
    if months is not None and months not in sched.FREQUENCIES:
        raise field_error("instalment_months", _l("Must be one of: 1, 3, 6, 12."))
    if count > 1 and months is None:
        raise field_error("instalment_months", _l("Give the months between instalments."))
    if months is None:
        return count, None, None
    if kind not in (ExitKind.BUYBACK, ExitKind.EXCHANGE):
        raise field_error("instalments", _l("Only a buy-back or an exchange sale may be paid in "
                                            "instalments."))
    if terms.get("balance_due_on"):
        raise field_error("balance_due_on", _l(
            "Leave the balance due date empty when the balance is paid in instalments: the due "
            "dates follow from the transfer date."))
    last_due = sched.due_dates(transfer_on, count, months)[-1]
    limit = calc.add_months(transfer_on, BALANCE_MONTHS)
    if last_due > limit:
        message = _l("The last instalment would be due on %(day)s, more than a year after the "
                     "transfer (%(limit)s).", day=last_due.isoformat(), limit=limit.isoformat())
        if kind == ExitKind.EXCHANGE:
            raise refuse("R9.d", message, field="instalments")
        raise field_error("instalments", message)
    return count, months, last_due


def _check_buyback_terms(transfer_on: date, price: Decimal, down_payment: Decimal | None,
                         due_on: date | None) -> tuple[Decimal, date | None]:
    """A buy-back is paid in full, or with a down payment and the rest within a year (the
    deadline R9.d sets for an exchange sale; no minimum down payment is set for a buy-back)."""
    if down_payment is None or down_payment == price:
        return price, None
    if down_payment <= 0:
        raise field_error("down_payment_amount", _l("Must be more than 0."))
    if down_payment > price:
        raise field_error("down_payment_amount", _l("The down payment exceeds the price."))
    if due_on is None:
        raise field_error("balance_due_on", _l("Give the date the balance is due, or the "
                                               "instalments."))
    limit = calc.add_months(transfer_on, BALANCE_MONTHS)
    if due_on > limit:
        raise field_error("balance_due_on", _l("The balance must be paid within a year of the "
                                               "transfer (by %(day)s).", day=limit.isoformat()))
    return down_payment, due_on


def _instalment_rate(session: Session, holding: Holding,
                     transfer_on: date) -> tuple[Decimal, str]:
    """The schedule's annual rate: the policy's `instalment_rate` when it sets one, else the
    1-year LPR in force on the transfer date (R1)."""
    values = (grant_policy_values(session.get(Grant, holding.grant_id)) if holding.grant_id
              else policy_in_force(session, transfer_on).values)
    chosen = values.get("instalment_rate")
    if chosen is not None:
        return Decimal(str(chosen)), "policy instalment_rate"
    rate = lpr_rate_on(session, transfer_on)
    if rate is None:
        raise field_error("transfer_on", _l("No 1-year LPR is published on or before %(day)s; an "
                                            "admin must enter it first.",
                                            day=transfer_on.isoformat()))
    return rate, "1-year LPR in force on the transfer date"


def get_instalment(session: Session, exit_row: Exit, number: int) -> ExitInstalment:
    line = session.scalar(select(ExitInstalment).where(
        ExitInstalment.exit_id == exit_row.id, ExitInstalment.number == number)
    ) if 0 < number <= MAX_ID else None
    if line is None:
        raise NotFound(_l("No such instalment."))
    return line


def record_instalment_payment(session: Session, exit_row: Exit, number: int, *, paid_on: date,
                              actor: str, reference: str = "") -> ExitInstalment:
    """Instalment `number` of the exit's balance arrives: principal and interest of that line,
    exactly, as one distribution. Any unpaid instalment may be paid (not only the next one);
    once every one is paid the exit's balance is settled."""
    holding = lock_holding(session, exit_row.holding_id)  # expires what was read: read afresh
    line = get_instalment(session, exit_row, number)
    if line.paid_on is not None:
        raise AppError(_l("Instalment %(n)s of this exit was paid on %(day)s.", n=number,
                          day=line.paid_on.isoformat()), status=409, code="settled")
    if paid_on < exit_row.transfer_on:
        raise field_error("paid_on", _l("The payment cannot precede the transfer."))
    not_after_today(paid_on, "paid_on")
    amount = line.principal_amount + line.interest_amount
    line.paid_on, line.paid_amount = paid_on, amount
    session.flush()
    kind = (FlowKind.BUYBACK_PROCEEDS if exit_row.kind == ExitKind.BUYBACK
            else FlowKind.EXIT_PROCEEDS)
    flow = add_cash_flow(session, kind=kind, on=paid_on, amount=amount, actor=actor,
                         holding=holding, exit_row=exit_row,
                         reference=reference or f"exit {exit_row.id} instalment {number}")
    paid = [other.paid_on for other in exit_row.instalments]
    if all(day is not None for day in paid):
        exit_row.balance_paid_on = max(day for day in paid if day is not None)
    record(session, actor=actor, action="exit.instalment_paid", subject_type="exit",
           happened_on=paid_on,
           subject_id=exit_row.id, payload={
               "holding_id": exit_row.holding_id, "number": number, "due_on": line.due_on,
               "paid_on": paid_on, "principal_amount": line.principal_amount,
               "interest_amount": line.interest_amount, "paid_amount": amount,
               "cash_flow_id": flow.id, "balance_settled": exit_row.balance_paid_on is not None})
    session.flush()
    return line


def record_exit_balance(session: Session, exit_row: Exit, *, paid_on: date, actor: str) -> None:
    """R9.d: the balance of an exit paid in one instalment arrives (within a year of the
    transfer). A balance in several instalments is paid instalment by instalment."""
    lock_holding(session, exit_row.holding_id)  # expires what was read: the exit is read afresh
    lines = exit_row.instalments
    if not exit_row.balance_amount or all(line.paid_on is not None for line in lines):
        raise AppError(_l("Nothing is outstanding on this exit."), status=409, code="settled")
    if len(lines) > 1:
        raise AppError(_l("This balance is paid in %(n)s instalments: record each payment with "
                          "its instalment's form.", n=len(lines)), status=409,
                       code="instalments", details={"field": "paid_on"})
    if paid_on < exit_row.transfer_on:
        raise field_error("paid_on", _l("The balance cannot precede the transfer."))
    record_instalment_payment(session, exit_row, lines[0].number, paid_on=paid_on, actor=actor,
                              reference=f"exit {exit_row.id} balance (R9.d)")


def _check_price_against_mark(session: Session, holding: Holding, *, transfer_on: date,
                              units: Decimal, price: Decimal, confirmed: bool) -> dict[str, Any]:
    """A sanity limit: a price above SANITY_MULTIPLE times the units' value at the last final
    mark is more often a typing slip than a windfall, so it needs an explicit confirmation."""
    mark = session.scalar(select(ValuationMark).where(
        ValuationMark.holding_id == holding.id, ValuationMark.status == MarkStatus.FINAL,
        ValuationMark.measured_on <= transfer_on)
        .order_by(ValuationMark.measured_on.desc(), ValuationMark.id.desc()).limit(1))
    if mark is None or mark.value_per_unit <= 0:
        return {}
    marked = (units * mark.value_per_unit).quantize(FEN)
    if price > marked * SANITY_MULTIPLE and not confirmed:
        raise AppError(_l("The price %(price)s is more than %(n)s times the value of these units "
                          "at the last final mark (%(value)s on %(day)s). Check the figure, or "
                          "confirm that the price is right.", price=money_text(price),
                          n=SANITY_MULTIPLE, value=money_text(marked),
                          day=mark.measured_on.isoformat()),
                       status=409, code="needs_confirmation",
                       details={"field": "price_amount", "confirm_with": "confirm_unusual_price",
                                "last_mark_value_amount": str(marked)})
    return {"last_mark": {"mark_id": mark.id, "measured_on": mark.measured_on,
                          "value_amount": marked},
            "unusual_price_confirmed": price > marked * SANITY_MULTIPLE}


def _check_buyback(session: Session, holding: Holding, *, transfer_on: date, units: Decimal,
                   price: Decimal, is_company: bool) -> dict[str, Any]:
    grant = session.get(Grant, holding.grant_id) if holding.grant_id else None
    if grant is None or grant.conversion is None:
        raise refuse("R7.a", _l("A team buy-back applies to units from a converted grant."),
                     field="holding_id")
    values = grant_policy_values(grant)
    conversion = grant.conversion
    window_end = calc.add_months(conversion.converted_on, 12 * int(values["buyback_window_years"]))
    if transfer_on > window_end:
        raise refuse("R7.a", _l("The buy-back window ended on %(day)s.",
                                day=window_end.isoformat()), field="transfer_on")
    rate = lpr_rate_on(session, transfer_on)
    if rate is None:
        raise refuse("R7.b", _l("No 1-year LPR is published on or before %(day)s; an admin "
                                "must enter it first.", day=transfer_on.isoformat()),
                     field="transfer_on", who=_l("an administrator"),
                     link=("reference.lpr", {}), link_label=_l("The LPR table"))
    # Principal pro rata: the converted amount of the units sold (R7.b).
    initial_units = holding.initial_units or conversion.fund_units
    principal = valuation.pro_rata(conversion.converted_amount, units, initial_units)
    cap = values.get("return_cap")
    floor = calc.floor_price_buyback(principal, conversion.converted_on, transfer_on, rate,
                                     int(values["t1_years"]),
                                     None if cap is None else Decimal(str(cap)))
    if price < floor.amount:
        raise refuse("R7.b", _l("The price %(price)s is below the floor price %(floor)s.",
                                price=money_text(price), floor=money_text(floor.amount)),
                     field="price_amount", floor_amount=str(floor.amount))
    if floor.cap_amount is not None and price > floor.cap_amount:
        raise refuse("R7.c", _l("The price %(price)s exceeds the return cap %(cap)s.",
                                price=money_text(price), cap=money_text(floor.cap_amount)),
                     field="price_amount")
    gate: dict[str, Any] = {"state_asset": holding.is_state_asset}
    if holding.is_state_asset:
        appraisal = latest_appraisal(session, holding, transfer_on)
        if appraisal is not None:
            appraised = valuation.pro_rata(appraisal.value_amount, units, appraisal.units)
            gate.update(appraisal_id=appraisal.id, appraised_amount=appraised)
            if price < appraised:
                if not (grant.exit_filing_no and grant.exit_filed_on
                        and grant.exit_filed_on <= conversion.converted_on):
                    raise refuse("R7.d", _l(
                        "The price is below the filed appraisal %(value)s and the exit terms "
                        "were not filed before investing: sell through the exchange (R9).",
                        value=money_text(appraised)), field="price_amount")
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
            raise field_error("appraisal_id", _l("No such appraisal of this holding."))
    start, end = terms.get("disclosure_start_on"), terms.get("disclosure_end_on")
    if start is None or end is None:
        raise field_error("disclosure_end_on", _l("Give the disclosure period."))
    if end < start:
        raise field_error("disclosure_end_on", _l("The disclosure cannot end before it starts."))
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
        raise refuse(exc.rule, exc.message, field=exc.field) from None
