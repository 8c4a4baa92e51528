"""The page of a holding: its marks, appraisals, exits and cash flows, and the forms for them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from fundapp.compliance.book_cache import cached
from fundapp.extensions import db
from fundapp.inputs import load_form
from fundapp.portfolio.common import pct_text
from fundapp.portfolio.conversion.models import CapTable, Conversion
from fundapp.portfolio.exits.models import Exit, ExitKind
from fundapp.portfolio.exits.operations import (
    get_exit,
    plan_exit,
    record_exit,
    record_exit_balance,
    record_instalment_payment,
)
from fundapp.portfolio.exits.schemas import (
    BalanceFormSchema,
    ExitCreateSchema,
    InstalmentFormSchema,
)
from fundapp.portfolio.holdings.models import (
    Appraisal,
    CashFlow,
    FlowKind,
    Holding,
    HoldingStatus,
    MarkMethod,
    MarkStatus,
    ValuationMark,
)
from fundapp.portfolio.holdings.operations import (
    finalise_mark,
    get_holding,
    get_mark,
    record_appraisal,
    record_cash_flow,
    record_mark,
)
from fundapp.portfolio.holdings.schemas import (
    AppraisalCreateSchema,
    CashFlowCreateSchema,
    MarkFinaliseFormSchema,
    MarkFormSchema,
)
from fundapp.portfolio.performance.summary import holding_rows, shanghai_today
from fundapp.portfolio.web import attempt_naming_the_clause, bp, current_actor
from fundapp.ui import format_money

MARK_METHODS = {
    MarkMethod.RECENT_ROUND: _l("Price of a recent round"),
    MarkMethod.MULTIPLES: _l("Multiples"),
    MarkMethod.DCF: _l("Discounted cash flow"),
    MarkMethod.NET_ASSETS: _l("Net assets"),
    MarkMethod.QUOTED: _l("Quoted price"),
    MarkMethod.WRITE_OFF: _l("Write-off"),
}
EXIT_KINDS = {
    ExitKind.BUYBACK: _l("Team buy-back (R7)"),
    ExitKind.EXCHANGE: _l("Property-rights exchange (R9)"),
    ExitKind.TRADE_SALE: _l("Trade sale"),
    ExitKind.IPO_SALE: _l("IPO sale"),
    ExitKind.LIQUIDATION: _l("Liquidation"),
}
# An instalment of an exit's deferred balance: paid, or due (overdue once its due date passed).
INSTALMENT_STATUSES = {"due": _l("To be paid"), "paid": _l("Paid"), "overdue": _l("Overdue")}
INSTALMENT_FREQUENCIES = {1: _l("Monthly"), 3: _l("Quarterly"), 6: _l("Half-yearly"),
                          12: _l("Yearly")}
HOLDING_STATUSES = {
    HoldingStatus.ACTIVE: _l("Active"),
    HoldingStatus.EXITED: _l("Exited"),
    HoldingStatus.WRITTEN_OFF: _l("Written off"),
    HoldingStatus.REVERSED: _l("Reversed"),
}
MARK_STATUSES = {MarkStatus.DRAFT: _l("Draft"), MarkStatus.FINAL: _l("Final")}
FLOW_KINDS = {
    FlowKind.GRANT_DISBURSEMENT: _l("Grant disbursement"),
    FlowKind.REFUND: _l("Refund"),
    FlowKind.FOLLOW_ON: _l("Follow-on investment"),
    FlowKind.BUYBACK_PROCEEDS: _l("Buy-back proceeds"),
    FlowKind.EXIT_PROCEEDS: _l("Exit proceeds"),
    FlowKind.DIVIDEND: _l("Dividend"),
    FlowKind.RECOVERY: _l("Recovery"),
    FlowKind.FEE: _l("Fee"),
}


def dcf_shown(mark: ValuationMark) -> dict[str, Any] | None:
    """A DCF mark's stored computation as the page shows it: one row per year (cash flow,
    discount factor, present value), the terminal value, net debt, equity value, units and value
    per unit; None for the other methods (or inputs that are not a DCF's)."""
    if mark.method != MarkMethod.DCF:
        return None
    given = mark.inputs
    try:
        flows = [Decimal(v) for v in given["cash_flows"]]
        factors = [Decimal(v) for v in given.get("discount_factors", [])]
        present = [Decimal(v) for v in given.get("present_values", [])]
        rate = Decimal(given["discount_rate"])
        shown = {key: Decimal(given[key]) if given.get(key) is not None else None
                 for key in ("terminal_value", "terminal_present_value", "present_value",
                             "net_debt", "equity_value", "units_outstanding")}
    except (KeyError, TypeError, InvalidOperation):
        return None
    years = [{"year": n, "cash_flow": cf,
              "discount_factor": factors[n - 1] if n <= len(factors) else None,
              "present_value": present[n - 1] if n <= len(present) else None}
             for n, cf in enumerate(flows, start=1)]
    return {"years": years, "last_year": len(flows), "rate_pct": pct_text(rate),
            "value_per_unit": mark.value_per_unit, **shown}


def _units_outstanding(holding: Holding) -> Decimal | None:
    """The company's units in its latest cap table: the DCF form's starting value."""
    table = db.session.scalar(select(CapTable).where(CapTable.company_id == holding.company_id,
                                                     CapTable.reversed_at.is_(None))
                              .order_by(CapTable.as_of.desc(), CapTable.id.desc()).limit(1))
    if table is None or not table.rows:
        return None
    return sum((row.units for row in table.rows), Decimal("0.00"))


def _holding_page(holding_id: int, errors: dict[str, list[str]] | None = None,
                  form: Any = None, action: str = "", status: int = 200):
    holding = get_holding(db.session, holding_id)
    as_of = shanghai_today()
    # This holding's row only, from its own flows and marks (not the whole fund: issue 14),
    # computed once per book version and day (compliance/book_cache.py).
    row = cached(db.session, "holding_row", (holding.id, as_of),
                 lambda: next(iter(holding_rows(db.session, as_of, [holding.id])), None))
    marks = db.session.scalars(select(ValuationMark).where(ValuationMark.holding_id == holding.id)
                               .order_by(ValuationMark.measured_on.desc(),
                                         ValuationMark.id.desc())).all()
    flows = db.session.scalars(select(CashFlow).where(CashFlow.holding_id == holding.id)
                               .order_by(CashFlow.on, CashFlow.id)).all()
    exits = db.session.scalars(select(Exit).where(Exit.holding_id == holding.id)
                               .options(selectinload(Exit.instalments))
                               .order_by(Exit.transfer_on, Exit.id)).all()
    appraisals = db.session.scalars(select(Appraisal).where(Appraisal.holding_id == holding.id)
                                    .order_by(Appraisal.filed_on.desc())).all()
    return render_template("portfolio/holding.html", holding=holding, row=row, marks=marks,
                           flows=flows, exits=exits, appraisals=appraisals,
                           mark_methods=MARK_METHODS, exit_kinds=EXIT_KINDS,
                           instalment_statuses=INSTALMENT_STATUSES,
                           instalment_frequencies=INSTALMENT_FREQUENCIES,
                           holding_statuses=HOLDING_STATUSES, mark_statuses=MARK_STATUSES,
                           flow_kinds=FLOW_KINDS, errors=errors or {}, form=form or {},
                           action=action, as_of=as_of,
                           dcf={m.id: dcf_shown(m) for m in marks},
                           units_outstanding=_units_outstanding(holding),
                           # issue 12: the conversion this holding came from, if reversed
                           reversal=(db.session.get(Conversion, holding.conversion_id)
                                     if holding.status == HoldingStatus.REVERSED
                                     and holding.conversion_id else None)), status


@bp.get("/portfolio/holdings/<int:holding_id>")
def holding(holding_id: int):
    if request.args.get("back") == "exit":  # from the exit's confirmation step, values kept
        return _holding_page(holding_id, form=request.args, action="exit")
    return _holding_page(holding_id)


HOLDING_DONE = {
    "mark": _l("Draft mark saved; another person must finalise it."),
    "finalise": _l("Mark finalised."),
    "appraisal": _l("Appraisal recorded."),
    "exit": _l("Exit recorded."),
    "balance": _l("Balance recorded."),
    "instalment": _l("Instalment payment recorded."),
    "flow": _l("Cash flow recorded."),
}


def _holding_operation(holding_row: Holding, action: str) -> Any:
    """Read the action's form through its API schema and run its operation."""
    actor = current_actor()
    if action == "mark":
        data = load_form(MarkFormSchema())
        return record_mark(db.session, holding_row, measured_on=data["measured_on"],
                           method=MarkMethod(data["method"]),
                           value_per_unit=data["value_per_unit"], inputs=data["inputs"],
                           note=data["note"], actor=actor)
    if action == "finalise":
        mark = get_mark(db.session, load_form(MarkFinaliseFormSchema())["mark_id"])
        if mark.holding_id != holding_row.id:
            abort(404)
        return finalise_mark(db.session, mark, actor=actor)
    if action == "appraisal":
        return record_appraisal(db.session, holding_row, actor=actor,
                                **load_form(AppraisalCreateSchema()))
    if action == "exit":
        data = load_form(ExitCreateSchema())
        return record_exit(db.session, holding_row, kind=ExitKind(data.pop("kind")),
                           actor=actor, **data)
    if action == "balance":
        data = load_form(BalanceFormSchema())
        exit_row = get_exit(db.session, data["exit_id"])
        if exit_row.holding_id != holding_row.id:
            abort(404)
        return record_exit_balance(db.session, exit_row, paid_on=data["paid_on"], actor=actor)
    if action == "instalment":
        data = load_form(InstalmentFormSchema())
        exit_row = get_exit(db.session, data["exit_id"])
        if exit_row.holding_id != holding_row.id:
            abort(404)
        return record_instalment_payment(db.session, exit_row, data["number"],
                                         paid_on=data["paid_on"], actor=actor)
    data = load_form(CashFlowCreateSchema())
    # The holding page records flows of this holding only.
    data.update(kind=FlowKind(data["kind"]), holding_id=holding_row.id, company_id=None,
                grant_id=None)
    return record_cash_flow(db.session, actor=actor, **data)


EXIT_FIELDS = ("kind", "transfer_on", "units", "price_amount", "buyer", "appraisal_id",
               "reserve_price_amount", "disclosure_start_on", "disclosure_end_on",
               "down_payment_amount", "balance_due_on", "instalments", "instalment_months",
               "confirm_unusual_price")


def _exit_sheet(holding_row: Holding) -> dict[str, Any]:
    """The confirmation page of an exit: every check run, what it yields; nothing written."""
    data = load_form(ExitCreateSchema())
    kind = ExitKind(data.pop("kind"))
    data.pop("buyer", None)
    plan = plan_exit(db.session, holding_row, kind=kind, **data)
    price, units = data["price_amount"], data["units"]
    rows = [(_l("Kind"), EXIT_KINDS[kind]), (_l("Transfer date"), data["transfer_on"].isoformat()),
            (_l("Units sold"), format_money(units)),
            (_l("Units left"), format_money(plan.holding.units - units)),
            (_l("Proceeds"), format_money(price)),
            (_l("Down payment"), format_money(plan.down_payment)),
            (_l("Balance"), format_money(plan.balance)),
            (_l("Cost of the units sold"), format_money(plan.cost)),
            (_l("Gain"), format_money(price - plan.cost))]
    if plan.balance_due_on is not None and plan.balance:
        rows.append((_l("Balance due"), plan.balance_due_on.isoformat()))
    checks = []
    r7 = plan.details.get("r7")
    if r7:
        checks.append((_l("Floor price (R7.b)"), format_money(Decimal(str(r7["amount"])))))
        if r7.get("cap_amount") is not None:
            checks.append((_l("Return cap (R7.c)"), format_money(Decimal(str(r7["cap_amount"])))))
    gate = plan.details.get("r7d") or {}
    if gate.get("appraised_amount") is not None:
        checks.append((_l("Filed appraisal of these units (R7.d)"),
                       format_money(gate["appraised_amount"])))
    if "r9" in plan.details:
        checks.append((_l("Exchange sale (R9)"), _l("Appraisal, reserve price, disclosure and "
                                                    "payment terms checked")))
    sections = [{"title": _l("What the exit does"), "rows": rows}]
    if checks:
        sections.append({"title": _l("Checks passed"), "rows": checks})
    if plan.lines:
        sections.append({"title": _l("Balance schedule"), "table": {
            "head": [_l("Number"), _l("Due"), _l("Principal"), _l("Interest"), _l("Total")],
            "rows": [[line.number, line.due_on.isoformat(), format_money(line.principal),
                      format_money(line.interest), format_money(line.total)]
                     for line in plan.lines]}})
    typed = [(n, request.form[n]) for n in EXIT_FIELDS if request.form.get(n, "") != ""]
    return {"title": _l("Confirm the exit"),
            "intro": _l("The units leave the holding at the transfer date and the proceeds are "
                        "recorded; this cannot be undone."),
            "sections": sections, "confirm_label": _l("Confirm the exit"), "hidden": typed,
            "action_url": url_for("portfolio.holding_action", holding_id=holding_row.id,
                                  action="exit"),
            "back_url": url_for("portfolio.holding", holding_id=holding_row.id, back="exit",
                                **dict(typed)) + "#exit"}


@bp.post("/portfolio/holdings/<int:holding_id>/<any(mark, finalise, appraisal, exit, balance, "
         "instalment, flow):action>")
def holding_action(holding_id: int, action: str):
    """An exit is first checked and shown (without ``confirmed=1``), written once confirmed."""
    holding_row = get_holding(db.session, holding_id)
    preview = action == "exit" and request.form.get("confirmed") != "1"
    done, errors, _refusal = attempt_naming_the_clause(
        (lambda: _exit_sheet(holding_row)) if preview
        else (lambda: _holding_operation(holding_row, action)))
    if preview and not errors:
        return render_template("confirm.html", **done)
    if not errors:
        flash(str(HOLDING_DONE[action]), "success")
        return redirect(url_for("portfolio.holding", holding_id=holding_id))
    # What was typed goes back into the form, next to its messages.
    return _holding_page(holding_id, errors, request.form, action, 422)


# ---- corrections (issue 12)


def _mark_values(mark: ValuationMark) -> dict[str, str]:
    values = {"measured_on": str(mark.measured_on), "method": mark.method.value,
              "value_per_unit": "" if mark.method == MarkMethod.DCF else str(mark.value_per_unit),
              "note": mark.note}
    if mark.method == MarkMethod.DCF:
        given = mark.inputs
        try:
            values["discount_rate_pct"] = pct_text(Decimal(given["discount_rate"]))
        except (KeyError, TypeError, InvalidOperation):
            values["discount_rate_pct"] = ""
        values["cash_flows"] = "\n".join(str(v) for v in given.get("cash_flows", []))
        for key in ("terminal_value", "net_debt", "units_outstanding"):
            values[key] = "" if given.get(key) is None else str(given[key])
    return values


@bp.route("/portfolio/marks/<int:mark_id>/edit", methods=["GET", "POST"])
def edit_mark(mark_id: int):
    """Correct a draft valuation mark with a reason (issue 12); a final mark is not corrected."""
    from flask_babel import gettext as _

    from fundapp.portfolio.holdings import operations as ops
    from fundapp.portfolio.holdings.schemas import MarkCorrectionFormSchema

    mark = ops.get_mark(db.session, mark_id)
    holding_id = mark.holding_id
    errors: dict[str, list[str]] = {}
    values: Any = _mark_values(mark)
    if request.method == "POST":
        def correct():
            data = load_form(MarkCorrectionFormSchema())
            return ops.correct_mark(db.session, mark_id, measured_on=data["measured_on"],
                                    method=data["method"],
                                    value_per_unit=data["value_per_unit"],
                                    inputs=data["inputs"], note=data["note"],
                                    actor=current_actor(), reason=data["reason"])

        _saved, errors, refusal = attempt_naming_the_clause(correct)
        if not errors:
            flash(_("Correction saved."), "success")
            return redirect(url_for("portfolio.holding", holding_id=holding_id))
        values = request.form
    elif mark.status == MarkStatus.FINAL:
        errors = {"_form": [_("A final mark is not corrected: record a new mark.")]}
    fields = [{"name": "measured_on", "label": _("Measurement date"), "kind": "date",
               "required": True},
              {"name": "method", "label": _("Method"), "kind": "select",
               "options": [(k.value, label) for k, label in MARK_METHODS.items()]},
              {"name": "value_per_unit", "label": _("Value per unit"), "kind": "money",
               "hint": _("Leave blank for a discounted cash flow: it is computed.")},
              {"name": "discount_rate_pct", "label": _("Discount rate"),
               "kind": "money", "hint": _("Per cent per year, e.g. 10.")},
              {"name": "cash_flows", "label": _("Forecast cash flows to equity, one amount per "
                                                "line (year 1, year 2, …)"),
               "kind": "textarea"},
              {"name": "terminal_value", "label": _("Terminal value at the last year"),
               "kind": "money"},
              {"name": "net_debt", "label": _("Net debt (negative for net cash)"),
               "kind": "money"},
              {"name": "units_outstanding", "label": _("Company units outstanding"),
               "kind": "money"},
              {"name": "note", "label": _("Note"), "kind": "textarea"}]
    return render_template("corrections/form.html", values=values, errors=errors,
                           title=_("Correct draft valuation mark"),
                           intro=_("Only a draft mark is corrected; a final mark stays as it "
                                   "was approved."),
                           fields=fields, row_groups=[],
                           cancel_url=url_for("portfolio.holding", holding_id=holding_id)), \
        (refusal.status if refusal else 422) if errors and request.method == "POST" else 200
