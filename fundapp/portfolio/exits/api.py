"""API routes of exits, on the shared API blueprint.

An exit, an exit's balance and each instalment of it create money (proceeds) and change equity: both are idempotent, so
a retried POST with the same Idempotency-Key answers the first exit instead of selling twice.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.extensions import db
from fundapp.portfolio.exits import operations as ops
from fundapp.portfolio.exits.models import Exit, ExitKind
from fundapp.portfolio.exits.schemas import (
    BalanceCreateSchema,
    ExitCreateSchema,
    ExitSchema,
    InstalmentPaymentSchema,
    InstalmentSchema,
)
from fundapp.portfolio.fields import ItemsSchema
from fundapp.portfolio.holdings.operations import get_holding
from fundapp.portfolio.web import current_actor


@api_route(bp, "/v1/exits", "GET", summary="Exits", response=ItemsSchema)
def list_exits():
    rows = db.session.scalars(select(Exit).options(selectinload(Exit.instalments))
                              .order_by(Exit.transfer_on, Exit.id))
    return {"items": ExitSchema(many=True).dump(rows)}


@api_route(bp, "/v1/holdings/<int:holding_id>/exits", "POST",
           summary="Record an exit (buy-back R7, exchange R9, trade sale, IPO sale, liquidation)",
           body=ExitCreateSchema, response=ExitSchema, status=201, idempotent=True)
def create_exit(holding_id: int):
    data = load_json(ExitCreateSchema())
    holding = get_holding(db.session, holding_id)
    kind = ExitKind(data.pop("kind"))
    row = ops.record_exit(db.session, holding, kind=kind, actor=current_actor(), **data)
    return ExitSchema().dump(row), 201


@api_route(bp, "/v1/exits/<int:exit_id>/balance", "POST",
           summary="Record the balance payment of an exit (R9.d)", body=BalanceCreateSchema,
           response=ExitSchema, idempotent=True)
def create_exit_balance(exit_id: int):
    data = load_json(BalanceCreateSchema())
    row = ops.get_exit(db.session, exit_id)
    ops.record_exit_balance(db.session, row, paid_on=data["paid_on"], actor=current_actor())
    return ExitSchema().dump(row)


@api_route(bp, "/v1/exits/<int:exit_id>/instalments", "GET",
           summary="The instalment schedule of an exit's deferred balance", response=ItemsSchema)
def list_exit_instalments(exit_id: int):
    row = ops.get_exit(db.session, exit_id)
    return {"items": InstalmentSchema(many=True).dump(row.instalments)}


@api_route(bp, "/v1/exits/<int:exit_id>/instalments/<int:number>/payment", "POST",
           summary="Record the payment of one instalment of an exit's balance (principal and "
                   "interest, a distribution)", body=InstalmentPaymentSchema,
           response=InstalmentSchema, idempotent=True)
def create_instalment_payment(exit_id: int, number: int):
    data = load_json(InstalmentPaymentSchema())
    row = ops.get_exit(db.session, exit_id)
    line = ops.record_instalment_payment(db.session, row, number, paid_on=data["paid_on"],
                                         actor=current_actor())
    return InstalmentSchema().dump(line)
