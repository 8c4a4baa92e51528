"""Conversions (R3-R6, R3.f, R6.g): preview, the conversion itself under the grant's lock, the
alternative trigger and registration.

Every function changes the database with flush() only and writes its ledger entry in the same
transaction; the caller commits once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.dates import not_after_today
from fundapp.errors import AppError, RuleRefused, ValidationFailed
from fundapp.fields import day_out_of_range
from fundapp.fund.models import PolicyVersion
from fundapp.fund.policies import PARAMETERS, clean_values, conversion_policy
from fundapp.portfolio.common import FEN, ZERO, field_error, jsonable, money_text, refuse
from fundapp.portfolio.conversion import engine as calc
from fundapp.portfolio.conversion.models import (
    AlternativeTrigger,
    CapTable,
    CapTableRow,
    Conversion,
)
from fundapp.portfolio.grants.models import Grant, GrantDisbursement, GrantStatus, TrancheStatus
from fundapp.portfolio.grants.operations import (
    cancel_pending,
    grant_policy,
    grant_policy_values,
    lock_grant,
    require_open,
)
from fundapp.portfolio.holdings.models import Holding
from fundapp.portfolio.rounds.models import FinancingRound
from fundapp.portfolio.rounds.operations import (
    check_round_input,
    clause_message,
    get_round,
    pure_grant,
    pure_round,
    qualifying_check,
    round_input,
)


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
    grant = lock_grant(session, grant.id)
    require_open(grant, "R3.f")
    for field, day in (("met_on", met_on), ("base_on", base_on), ("filed_on", filed_on)):
        not_after_today(day, field)
    if not (grant.alternative_conditions or "").strip():
        raise refuse("R3.f", _l("The agreement has no agreed alternative conversion "
                                "conditions."))
    if grant.alternative_trigger is not None:
        raise refuse("R3.f", _l("An alternative condition has already been recorded as met."))
    if not condition.strip():
        raise field_error("condition", _l("Name the agreed condition that was met."))
    if not reference.strip():
        raise field_error("reference", _l("Give the evidence that the condition was met."))
    if not filing_no.strip():
        raise field_error("filing_no", _l("An appraisal needs its filing number."))
    if met_on < grant.signed_on:
        raise field_error("met_on", _l("The condition cannot be met before the signing date."))
    if filed_on < base_on:
        raise field_error("filed_on", _l("Filing cannot precede the base date."))
    if appraised_value_amount <= 0:
        raise field_error("appraised_value_amount", _l("Must be more than 0."))
    if units_outstanding is None:
        table = current_cap_table(session, grant.company_id)
        if table is None:
            raise field_error("units_outstanding", _l("Give the units outstanding: the company "
                                                      "has no cap table."))
        units_outstanding = sum((r.units for r in table.rows), ZERO)
    if units_outstanding <= 0:
        raise field_error("units_outstanding", _l("Must be more than 0."))
    months = _appraisal_validity(grant)
    valid_until = calc.add_months(base_on, months)
    if met_on > valid_until:
        raise refuse("R9.a", _l("The appraisal is older than %(months)s months from its base "
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
           happened_on=met_on,
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


def _appraisal_preview(session: Session, grant: Grant,
                       policy: calc.ConversionPolicy | None = None) -> Preview:
    trigger = grant.alternative_trigger
    if trigger is None:
        raise refuse("R3.f", _l("No agreed alternative condition has been recorded as met."),
                     field="basis")
    table = current_cap_table(session, grant.company_id)
    rows = [(r.holder, r.units) for r in table.rows] if table is not None else None
    if rows is not None and sum((u for _, u in rows), ZERO) != trigger.units_outstanding:
        rows = None  # another moment's table: the pre-conversion holders are unknown
    try:
        result = calc.compute_appraisal_conversion(
            pure_grant(grant), _pure_appraisal(grant, trigger), policy or grant_policy(grant),
            rows,
            met_on=trigger.met_on, condition=trigger.condition,
            validity_months=_appraisal_validity(grant), fund_holder=grant.holder_entity)
    except (calc.ConversionError, ValueError) as exc:
        raise refuse(getattr(exc, "clause", "R3.f"), str(exc)) from None
    return Preview(grant, result, None, rows is not None)


def current_cap_table(session: Session, company_id: int) -> CapTable | None:
    # A table written by a conversion later reversed (issue 12) is no longer the current one.
    return session.scalar(select(CapTable).where(CapTable.company_id == company_id,
                                                 CapTable.reversed_at.is_(None))
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


def _scenario(session: Session, grant: Grant, round_id: int | None,
              round_data: Mapping[str, Any] | None,
              holders_before: Sequence[Mapping[str, Any]] | None
              ) -> tuple[calc.FinancingRound, list[tuple[str, Decimal]] | None]:
    """The pure round of a recorded or hypothetical round, and the holders before it."""
    if round_id is not None:
        row = get_round(session, round_id)
        if row.company_id != grant.company_id:
            raise field_error("round_id", _l("The round is not of this grant's company."))
        data = round_input(row)
    elif round_data is not None:
        check_round_input(grant.company, round_data)
        data = dict(round_data)
    else:
        raise field_error("round_id", _l("Choose a recorded round or describe one."))
    spec = pure_round(grant.company, data)
    return spec, _pre_round_table(session, grant, spec, round_id, holders_before)


def preview_conversion(session: Session, grant: Grant, *, round_id: int | None = None,
                       round_data: Mapping[str, Any] | None = None,
                       holders_before: Sequence[Mapping[str, Any]] | None = None,
                       basis: str = "round",
                       policy: calc.ConversionPolicy | None = None) -> Preview:
    """R4-R6 for a recorded or a hypothetical round, or (R3.f) the filed appraisal; changes
    nothing. ``policy`` (a what-if) replaces the grant's pinned policy."""
    if basis == "appraisal":
        return _appraisal_preview(session, grant, policy)
    spec, table = _scenario(session, grant, round_id, round_data, holders_before)
    try:
        result = calc.compute_conversion(pure_grant(grant), spec, policy or grant_policy(grant),
                                         table, fund_holder=grant.holder_entity)
    except calc.NotQualifyingError as exc:
        failed = exc.result.failed_clauses
        raise refuse(failed[0].clause, _l("The round is not a qualifying financing: %(why)s",
                                          why="; ".join(clause_message(c) for c in failed)),
                     clauses=exc.result.to_dict()["clauses"],
                     field="closed_on" if failed[0].clause == "R3.b" else None) from None
    except calc.ConversionError as exc:
        raise refuse(exc.clause, str(exc)) from None
    return Preview(grant, result, round_id, table is not None)


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


def plan_conversion(session: Session, grant: Grant, *, round_id: int | None = None,
                    basis: str = "round", ic_resolution_ref: str = ""
                    ) -> tuple[Preview, FinancingRound | None]:
    """Every check of a conversion (R3-R6) and its calculation sheet; changes nothing. The
    conversion form's confirmation step shows it, ``convert_grant`` then writes it."""
    if grant.status == GrantStatus.CONVERTED or grant.conversion is not None:
        raise AppError(_l("This grant has already been converted."), status=409,
                       code="already_converted", details={"rule": "R4"})
    require_open(grant, "R3")
    row: FinancingRound | None = None
    if basis == "appraisal":
        preview = _appraisal_preview(session, grant)
    else:
        if round_id is None:
            raise field_error("round_id", _l("Choose a round."))
        row = get_round(session, round_id)
        if row.company_id != grant.company_id:
            raise field_error("round_id", _l("The round is not of this grant's company."))
        earlier = _earlier_qualifying_round(session, grant, row)
        if earlier is not None:
            raise refuse("R3", _l("An earlier round (closed %(day)s) is the qualifying "
                                  "financing.", day=earlier.closed_on.isoformat()),
                         round_id=earlier.id)
        preview = preview_conversion(session, grant, round_id=row.id)
    result = preview.result
    if result.converting_amount <= 0:
        raise refuse("R4", _l("Nothing has been paid out under this agreement (converting amount "
                              "%(amount)s): there is nothing to convert.",
                              amount=money_text(result.converting_amount)))
    if result.needs_ic_resolution and not ic_resolution_ref.strip():
        why = (_l("The fund would become the largest holder") if result.becomes_largest_holder
               else _l("Without the cap table before the round the fund may become the largest "
                       "holder"))
        raise refuse("R6.e", _l("%(why)s: the conversion needs an IC resolution reference.",
                                why=why), field="ic_resolution_ref",
                     who=_l("the investment committee, at an IC meeting"),
                     link=("ic.meetings", {}), link_label=_l("IC meetings"))
    return preview, row


def convert_grant(session: Session, grant_id: int, *, round_id: int | None = None,
                  basis: str = "round", ic_resolution_ref: str = "",
                  keep_undisbursed_ref: str = "", actor: str) -> Conversion:
    """Convert a grant at a qualifying round (R3-R6), or (R3.f, ``basis="appraisal"``) at the
    filed appraisal of a met alternative condition, in the caller's one transaction."""
    grant = lock_grant(session, grant_id)
    preview, row = plan_conversion(session, grant, round_id=round_id, basis=basis,
                                   ic_resolution_ref=ic_resolution_ref)
    result = preview.result
    # The closing date, or (R3.f) the date the agreed condition was met.
    converted_on = result.financing_round.closed_on
    row_id = row.id if row is not None else None
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
                grant.disbursed_amount = Grant.disbursed_amount + payment.amount
                tranche.status = TrancheStatus.RELEASED
                added_payments.append({"tranche": tranche.position, "amount": payment.amount})
    cancelled = [] if keep_undisbursed_ref.strip() else cancel_pending(grant,
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
    # The unique grant_id is the database's guarantee of "exactly once"; a violation is answered
    # as already_converted (refuse_on_constraint in conversion/api.py).
    session.flush()
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
    if result.remaining_grant_amount > 0:
        # R6.d: the part above the stake cap stays a grant and closes as one (R8.a treatment,
        # not repaid) on the conversion date.
        grant.closed_on = converted_on
        grant.closure_note = "R6.d"
    session.flush()
    record(session, actor=actor, action="grant.converted", subject_type="grant",
           happened_on=converted_on,
           subject_id=grant.id, payload={
               "conversion_id": conversion.id, "round_id": row_id, "basis": result.basis,
               "policy_version": grant.policy_version.version,
               "policy_override": grant.policy_override,
               "inputs": {"grant": jsonable(pure_grant(grant)),
                          "round": round_input(row) if row is not None else None,
                          "appraisal": jsonable(result.appraisal),
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
    if result.remaining_grant_amount > 0:
        record(session, actor=actor, action="grant.remainder_closed", subject_type="grant",
               happened_on=converted_on,
               subject_id=grant.id, payload={
                   "clause": "R6.d", "treatment": "R8.a", "closed_on": converted_on,
                   "amount": result.remaining_grant_amount, "conversion_id": conversion.id,
                   "converting_amount": result.converting_amount,
                   "converted_amount": result.converted_amount})
    return conversion


def record_registration(session: Session, grant: Grant, *, registered_on: date,
                        actor: str) -> None:
    """R6.g: the company registered the change; late registration is a breach candidate."""
    grant = lock_grant(session, grant.id)
    not_after_today(registered_on, "registered_on")
    conversion = grant.conversion
    if conversion is None:
        raise refuse("R6.g", _l("The grant has not been converted."))
    if registered_on < conversion.converted_on:
        raise field_error("registered_on", _l("Registration cannot precede the conversion."))
    conversion.registered_on = registered_on
    late = registered_on > conversion.registration_due_on
    record(session, actor=actor, action="grant.registration_recorded", subject_type="grant",
           happened_on=registered_on,
           subject_id=grant.id, payload={"clause": "R6.g", "registered_on": registered_on,
                                         "due_on": conversion.registration_due_on,
                                         "breach_candidate": late})


def registration_overdue(grant: Grant, today: date) -> bool:
    conversion = grant.conversion
    return bool(conversion and conversion.registered_on is None
                and today > conversion.registration_due_on)


# --------------------------------------------------------------------------- sensitivity, what-if


_LIST_SPLIT = re.compile(r"[,;，；、\s]+")


def axis_texts(values: Sequence[str] | str | None) -> list[str]:
    """The entries of an axis typed as "a, b, c" (or given as repeated arguments)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [part for value in values for part in _LIST_SPLIT.split(value.strip()) if part]


def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() and abs(number) < 10**15 else None


def _share(text: str) -> Decimal | None:
    """ "20%" -> 0.20 and "0.20" -> 0.20; None when it is not a number."""
    percent = text.endswith("%")
    number = _number(text[:-1].strip() if percent else text)
    if number is None:
        return None
    return number / 100 if percent else number


def _pre_money_axis(texts: Sequence[str], base: Decimal) -> list[Decimal]:
    """Amounts in CNY, or "150%" of the scenario's pre-money (to the fen, half-up)."""
    values = []
    for text in texts:
        if text.endswith("%"):
            number = _number(text[:-1].strip())
            amount = (None if number is None
                      else (base * number / 100).quantize(FEN, rounding=ROUND_HALF_UP))
        else:
            amount = _number(text)
        if amount is None:
            raise field_error("pre_money", _l("“%(text)s” is not an amount (e.g. 80000000.00) "
                                              "or a share of the pre-money (e.g. 150%%).",
                                              text=text))
        if amount <= 0 or amount != amount.quantize(FEN):
            raise field_error("pre_money", _l("“%(text)s”: a pre-money valuation must be more "
                                              "than 0, with at most 2 decimal places.",
                                              text=text))
        values.append(amount)
    return values


def _discount_axis(texts: Sequence[str]) -> list[Decimal]:
    values = []
    for text in texts:
        rate = _share(text)
        if rate is None or not 0 <= rate < 1:
            raise field_error("discount", _l("“%(text)s” is not a discount from 0%% to below "
                                             "100%% (e.g. 20%% or 0.20).", text=text))
        values.append(rate)
    return values


def _date_axis(texts: Sequence[str]) -> list[date]:
    days = []
    for text in texts:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                raise ValueError(text)
            day = date.fromisoformat(text)
        except ValueError:
            raise field_error("closing_on", _l("“%(text)s” is not a date (YYYY-MM-DD).",
                                               text=text)) from None
        problem = day_out_of_range(day)
        if problem:
            raise field_error("closing_on", problem)
        days.append(day)
    return days


def _limit(field: str, values: Sequence[Any], most: int) -> None:
    if len(set(values)) > most:
        raise field_error(field, _l("At most %(most)s values (%(count)s given).", most=most,
                                    count=len(set(values))))


def conversion_sensitivity(session: Session, grant: Grant, *, round_id: int | None = None,
                           round_data: Mapping[str, Any] | None = None,
                           holders_before: Sequence[Mapping[str, Any]] | None = None,
                           pre_money: Sequence[str] = (), discount: Sequence[str] = (),
                           closing_on: Sequence[str] = (),
                           policy: calc.ConversionPolicy | None = None) -> calc.SensitivityGrid:
    """The fund's units and stake over pre-money x discount (x closing date) for a recorded or
    hypothetical round under the grant's policy; each cell is the engine's full R3-R6 run, a
    refused cell names its clause. Empty axes take the engine's defaults; changes nothing."""
    # The axes first: a typing slip is named even when the round cannot be read.
    pre_texts, discount_texts, date_texts = (axis_texts(pre_money), axis_texts(discount),
                                             axis_texts(closing_on))
    rates = _discount_axis(discount_texts)
    days = _date_axis(date_texts)
    _limit("discount", rates, calc.MAX_DISCOUNTS)
    _limit("closing_on", days, calc.MAX_CLOSING_DATES)
    spec, table = _scenario(session, grant, round_id, round_data, holders_before)
    values = _pre_money_axis(pre_texts, spec.pre_money_valuation)
    _limit("pre_money", values, calc.MAX_PRE_MONEY_VALUES)
    try:
        return calc.sensitivity_grid(pure_grant(grant), spec, policy or grant_policy(grant),
                                     table, pre_money_values=values, discounts=rates,
                                     closing_dates=days, fund_holder=grant.holder_entity)
    except calc.SensitivityError as exc:  # pragma: no cover - the checks above come first
        raise field_error(exc.field, str(exc)) from None


# The policy parameters a what-if may change by hand (the others: choose another version).
WHAT_IF_PARAMETERS = ("discount", "valuation_cap", "max_stake", "pre_money_includes_conversion",
                      "conversion_window_months", "grace_days")
_FALSE_WORDS = frozenset({"0", "off", "false", "no", "n"})
_TRUE_WORDS = frozenset({"1", "on", "true", "yes", "y"})
_NO_CAP_WORDS = frozenset({"none", "null", "no cap", "无", "不设"})


WHAT_IF_LABELS = {"discount": _l("discount"), "valuation_cap": _l("valuation cap"),
                  "max_stake": _l("stake cap"),
                  "pre_money_includes_conversion": _l("pre-money includes the grant"),
                  "conversion_window_months": _l("window in months"),
                  "grace_days": _l("grace in days")}


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(_l("Yes") if value else _l("No"))
    return str(value)


@dataclass
class WhatIfPolicy:
    """Another version of the policy, and/or drafted values, for a preview beside the pinned
    one. ``name`` says which version and what was changed; nothing is stored."""

    policy: calc.ConversionPolicy
    version: str  # the version whose values it starts from
    version_id: int
    changes: dict[str, Any]  # the drafted parameters, in their stored form
    name: str


def what_if_texts(source: Mapping[str, Any]) -> dict[str, Any]:
    """``what_if_<parameter>`` entries of a query string or JSON body, in the policy's types
    (texts to numbers, whole numbers, yes/no, "none" for no valuation cap); blanks are left out.
    Every bad entry is named."""
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name in WHAT_IF_PARAMETERS:
        raw = source.get(f"what_if_{name}")
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        text = raw.strip().lower() if isinstance(raw, str) else raw
        key = f"what_if_{name}"
        if name == "pre_money_includes_conversion":
            if isinstance(text, bool):
                values[name] = text
            elif text in _TRUE_WORDS or text in _FALSE_WORDS:
                values[name] = text in _TRUE_WORDS
            else:
                errors[key] = [str(_l("Must be yes or no."))]
        elif name in ("conversion_window_months", "grace_days"):
            if isinstance(text, int) and not isinstance(text, bool):
                values[name] = text
            elif isinstance(text, str) and text.isdigit() and len(text) <= 4:
                values[name] = int(text)
            else:
                errors[key] = [str(_l("Must be a whole number from 0 to 9999."))]
        elif name == "valuation_cap" and text in _NO_CAP_WORDS:
            values[name] = None
        elif not isinstance(text, str):
            errors[key] = [str(_l("Enter a decimal number as text, e.g. \"0.30\"."))]
        else:
            number = _share(text) if name != "valuation_cap" else _number(text)
            if number is None:
                errors[key] = [str(_l("Not a valid number."))]
            else:
                values[name] = format(number, "f")
    if errors:
        raise ValidationFailed(_l("Some fields are not valid."), details=errors)
    return values


def what_if_policy(session: Session, grant: Grant, *, policy_version_id: int | None = None,
                   changes: Mapping[str, Any] | None = None) -> WhatIfPolicy | None:
    """The policy of a what-if: another version's values (or the pinned version's) with the
    agreement's own override, then the drafted ``changes``, checked as a new version would be
    (``clean_values``). None when neither a version nor a change is given."""
    changes = dict(changes or {})
    if policy_version_id is None and not changes:
        return None
    if policy_version_id is not None:
        version = session.get(PolicyVersion, policy_version_id)
        if version is None:
            raise field_error("policy_version_id", _l("There is no such policy version."))
    else:
        version = grant.policy_version
    clean, errors = clean_values({**version.values, **grant.policy_override, **changes})
    if errors:
        details = {(f"what_if_{k}" if k in WHAT_IF_PARAMETERS else "policy_version_id"): v
                   for k, v in errors.items()}
        raise ValidationFailed(_l("Some policy values are not valid."), details=details)
    stored = {k: clean[k] for k in changes}
    name = version.version
    if stored:
        # Each change by its name and clause, "discount (R5.c) = 0.2", never the raw key.
        name = str(_l("%(version)s with changes: %(changes)s", version=version.version,
                      changes=", ".join(f"{WHAT_IF_LABELS[k]} ({PARAMETERS[k][1]}) = "
                                        f"{_shown(v)}" for k, v in stored.items())))
    return WhatIfPolicy(policy=conversion_policy(clean), version=version.version,
                        version_id=version.id, changes=stored, name=name)


def pinned_policy_name(grant: Grant) -> str:
    name = grant.policy_version.version
    if grant.policy_override:
        name = str(_l("%(version)s with the agreement's override", version=name))
    return name


@dataclass
class Side:
    """One column of a policy comparison: the sheet, or the refusal that replaced it."""

    name: str
    result: calc.ConversionResult | None
    clause: str | None = None
    reason: str = ""


def preview_side(session: Session, grant: Grant, name: str,
                 policy: calc.ConversionPolicy | None, **scenario: Any) -> Side:
    """A preview that answers a rule's refusal as a column of the comparison, not an error
    (bad input still raises)."""
    try:
        return Side(name, preview_conversion(session, grant, policy=policy, **scenario).result)
    except RuleRefused as exc:
        return Side(name, None, exc.details.get("rule"), str(exc.message))
