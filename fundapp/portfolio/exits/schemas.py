"""Input and output schemas of exits."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundapp.portfolio.fields import Day, Id, MoneyField, UnitsField


class ExitCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(
        ["buyback", "exchange", "trade_sale", "ipo_sale", "liquidation"]))
    transfer_on = Day(required=True)
    units = UnitsField(required=True)
    price_amount = MoneyField(required=True)
    buyer = fields.String(load_default="", validate=validate.Length(max=200))
    is_company_buyer = fields.Boolean(load_default=False)
    # R9 (exchange)
    appraisal_id = Id(load_default=None)
    reserve_price_amount = MoneyField(load_default=None)
    disclosure_start_on = Day(load_default=None)
    disclosure_end_on = Day(load_default=None)
    is_relisting = fields.Boolean(load_default=False)
    relisting_approval_ref = fields.String(load_default="", validate=validate.Length(max=100))
    down_payment_amount = MoneyField(load_default=None)
    balance_due_on = Day(load_default=None)


class ExitSchema(Schema):
    id = fields.Integer()
    holding_id = fields.Integer()
    kind = fields.Function(lambda e: e.kind.value)
    transfer_on = fields.Date()
    units = fields.Decimal(as_string=True)
    price_amount = fields.Decimal(as_string=True)
    cost_amount = fields.Decimal(as_string=True)
    balance_amount = fields.Decimal(as_string=True)
    balance_due_on = fields.Date(allow_none=True)
    balance_paid_on = fields.Date(allow_none=True)
    buyer = fields.String()
    is_closing = fields.Boolean()
    details = fields.Function(lambda e: e.details)


class BalanceCreateSchema(Schema):
    paid_on = Day(required=True)
