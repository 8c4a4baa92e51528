"""The page of a holding: its marks, appraisals, exits and cash flows, and the forms for them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from fundapp.errors import AppError
from fundapp.extensions import db
from fundapp.portfolio.exits.models import Exit, ExitKind
from fundapp.portfolio.exits.operations import record_exit, record_exit_balance
from fundapp.portfolio.exits.schemas import BalanceCreateSchema, ExitCreateSchema
from fundapp.portfolio.holdings.models import (
    Appraisal,
    CashFlow,
    FlowKind,
    MarkMethod,
    ValuationMark,
)
from fundapp.portfolio.holdings.operations import (
    finalise_mark,
    get_holding,
    get_mark,
    record_appraisal,
    record_follow_on,
    record_income,
    record_mark,
)
from fundapp.portfolio.holdings.schemas import (
    AppraisalCreateSchema,
    CashFlowCreateSchema,
    MarkCreateSchema,
)
from fundapp.portfolio.performance.summary import performance_summary, shanghai_today
from fundapp.portfolio.web import blank_to_none, bp, errors_of, load_form

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


def _holding_page(holding_id: int, errors: dict[str, Any] | None = None,
                  form: dict | None = None, action: str = "", status: int = 200):
    holding = get_holding(db.session, holding_id)
    as_of = shanghai_today()
    summary = performance_summary(db.session, as_of, detail=False)
    row = next((h for h in summary["holdings"] if h["holding_id"] == holding.id), None)
    marks = db.session.scalars(select(ValuationMark).where(ValuationMark.holding_id == holding.id)
                               .order_by(ValuationMark.measured_on.desc(),
                                         ValuationMark.id.desc())).all()
    flows = db.session.scalars(select(CashFlow).where(CashFlow.holding_id == holding.id)
                               .order_by(CashFlow.on, CashFlow.id)).all()
    exits = db.session.scalars(select(Exit).where(Exit.holding_id == holding.id)
                               .order_by(Exit.transfer_on, Exit.id)).all()
    appraisals = db.session.scalars(select(Appraisal).where(Appraisal.holding_id == holding.id)
                                    .order_by(Appraisal.filed_on.desc())).all()
    return render_template("portfolio/holding.html", holding=holding, row=row, marks=marks,
                           flows=flows, exits=exits, appraisals=appraisals,
                           mark_methods=MARK_METHODS, exit_kinds=EXIT_KINDS,
                           flow_kinds=FLOW_KINDS, errors=errors or {}, form=form or {},
                           action=action, as_of=as_of), status


@bp.get("/portfolio/holdings/<int:holding_id>")
def holding(holding_id: int):
    return _holding_page(holding_id)


HOLDING_ACTIONS = {
    "mark": (MarkCreateSchema, _l("Draft mark saved; another person must finalise it.")),
    "finalise": (None, _l("Mark finalised.")),
    "appraisal": (AppraisalCreateSchema, _l("Appraisal recorded.")),
    "exit": (ExitCreateSchema, _l("Exit recorded.")),
    "balance": (BalanceCreateSchema, _l("Balance recorded.")),
    "flow": (CashFlowCreateSchema, _l("Cash flow recorded.")),
}


@bp.post("/portfolio/holdings/<int:holding_id>/<any(mark, finalise, appraisal, exit, balance, "
         "flow):action>")
def holding_action(holding_id: int, action: str):
    schema_cls, done = HOLDING_ACTIONS[action]
    form = request.form.to_dict()
    raw = blank_to_none({k: v.strip() for k, v in form.items() if k != "csrf_token"})
    holding_row = get_holding(db.session, holding_id)
    data, errors = ({}, {}) if schema_cls is None else load_form(
        schema_cls(), {k: v for k, v in raw.items() if k not in ("mark_id", "exit_id")})
    if data is not None and not errors:
        try:
            actor = g.user.email
            if action == "mark":
                record_mark(db.session, holding_row, measured_on=data["measured_on"],
                            method=MarkMethod(data["method"]),
                            value_per_unit=data["value_per_unit"], inputs=data["inputs"],
                            note=data["note"], actor=actor)
            elif action == "finalise":
                mark = get_mark(db.session, int(raw.get("mark_id", "0") or 0))
                if mark.holding_id != holding_row.id:
                    abort(404)
                finalise_mark(db.session, mark, actor=actor)
            elif action == "appraisal":
                record_appraisal(db.session, holding_row, actor=actor, **data)
            elif action == "exit":
                kind = ExitKind(data.pop("kind"))
                record_exit(db.session, holding_row, kind=kind, actor=actor, **data)
            elif action == "balance":
                row = db.session.get(Exit, int(raw.get("exit_id", "0") or 0))
                if row is None or row.holding_id != holding_row.id:
                    abort(404)
                record_exit_balance(db.session, row, paid_on=data["paid_on"], actor=actor)
            else:
                kind = FlowKind(data["kind"])
                if kind == FlowKind.FOLLOW_ON:
                    record_follow_on(db.session, on=data["on"], amount=data["amount"],
                                     units=data["units"] or Decimal("0"),
                                     holding_id=holding_row.id,
                                     reference=data["reference"], actor=actor)
                else:
                    record_income(db.session, kind=kind, on=data["on"],
                                  amount=data["amount"], holding_id=holding_row.id,
                                  reference=data["reference"], note=data["note"],
                                  actor=actor)
        except AppError as exc:
            db.session.rollback()
            errors = errors_of(exc)
        else:
            db.session.commit()
            flash(str(done), "success")
            return redirect(url_for("portfolio.holding", holding_id=holding_id))
    return _holding_page(holding_id, errors, form, action, 422 if errors else 200)
