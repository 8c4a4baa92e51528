"""Input and output schemas of exits, for the API and the holding page's exit forms alike."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from fundapp.fields import Day, Id, Money, Text, Units


class ExitCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(
        ["buyback", "exchange", "trade_sale", "ipo_sale", "liquidation"]))
    transfer_on = Day(required=True)
    units = Units(required=True)
    price_amount = Money(required=True)
    buyer = Text(max=200)  # exits.buyer String(200)
    is_company_buyer = fields.Boolean(load_default=False)
    # A price above 10x the last final mark is refused unless confirmed (a sanity limit).
    confirm_unusual_price = fields.Boolean(load_default=False)
    # R9 (exchange)
    appraisal_id = Id(load_default=None)
    reserve_price_amount = Money(load_default=None)
    disclosure_start_on = Day(load_default=None)
    disclosure_end_on = Day(load_default=None)
    is_relisting = fields.Boolean(load_default=False)
    relisting_approval_ref = Text(max=100)
    down_payment_amount = Money(load_default=None)  # R9.d (exchange) or a buy-back's
    balance_due_on = Day(load_default=None)  # a balance paid in one instalment, no interest
    # A balance paid in instalments: an annuity at the 1-year LPR in force on the transfer date
    # (or the policy's instalment_rate), instalment k due k x instalment_months after the transfer.
    instalments = fields.Integer(load_default=1, validate=validate.Range(min=1, max=12))
    instalment_months = fields.Integer(load_default=None,
                                       validate=validate.OneOf([1, 3, 6, 12]))


class InstalmentSchema(Schema):
    number = fields.Integer()
    due_on = fields.Date()
    principal_amount = fields.Decimal(as_string=True)
    interest_amount = fields.Decimal(as_string=True)
    total_amount = fields.Decimal(as_string=True)
    paid_on = fields.Date(allow_none=True)
    paid_amount = fields.Decimal(as_string=True, allow_none=True)


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
    instalments = fields.List(fields.Nested(InstalmentSchema))
    details = fields.Function(lambda e: e.details)


class BalanceCreateSchema(Schema):
    paid_on = Day(required=True)


class BalanceFormSchema(BalanceCreateSchema):
    """The holding page's balance form names the exit."""

    exit_id = Id(required=True)


class InstalmentPaymentSchema(Schema):
    paid_on = Day(required=True)


class InstalmentFormSchema(InstalmentPaymentSchema):
    """The holding page's payment form of one instalment names the exit and the instalment."""

    exit_id = Id(required=True)
    number = fields.Integer(required=True, validate=validate.Range(min=1, max=12))
