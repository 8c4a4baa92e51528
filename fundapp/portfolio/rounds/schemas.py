"""Input and output schemas of financing rounds (kept separate).

The pages' round form (also the what-if preview's) posts numbered investor and holder rows; its
form schema gathers them into the API's shape before the API's fields check them.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from fundapp.fields import Day, Money, Text, Units
from fundapp.portfolio.rounds.models import RoundKind

ROWS = 5  # investor and holder rows on the round form


class InvestorInSchema(Schema):
    name = Text(200, required=True)
    cash_amount = Money(required=True, positive=True)
    is_independent = fields.Boolean(required=True)


class HolderInSchema(Schema):
    holder = Text(200, required=True)
    units = Units(required=True)


class RoundCreateSchema(Schema):
    name = Text(200)
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in RoundKind]))
    closed_on = Day(required=True)
    definitive_agreement_signed_on = Day(load_default=None)
    pre_money_valuation_amount = Money(required=True, positive=True)
    units_before = Units(required=True)
    investors = fields.List(fields.Nested(InvestorInSchema), required=True,
                            validate=validate.Length(min=1, max=50))
    lead = Text(200, load_default=None)
    holders_before = fields.List(fields.Nested(HolderInSchema), load_default=None)

    @validates_schema
    def _units(self, data, **kwargs):
        units = data.get("units_before")
        if units is not None and units <= 0:
            raise ValidationError(str(_l("Units before the round must be more than 0.")),
                                  "units_before")
        names = [i["name"] for i in data.get("investors") or []]
        if data.get("lead") and names and data["lead"] not in names:
            raise ValidationError(str(_l("The lead investor must be one of the investors.")),
                                  "lead")


class RoundFormSchema(RoundCreateSchema, Schema.from_dict({
        **{f"investor_{n}_{column}": fields.String(load_only=True)
           for n in range(1, ROWS + 1) for column in ("name", "cash")},
        **{f"investor_{n}_independent": fields.Boolean(load_only=True)
           for n in range(1, ROWS + 1)},
        **{f"holder_{n}_{column}": fields.String(load_only=True)
           for n in range(1, ROWS + 1) for column in ("name", "units")}})):
    """The round form: investor_<n>_name, _cash, _independent (a checkbox), lead = the lead's row
    number; holder_<n>_name, _units. A row counts when it has a name."""

    @pre_load
    def _rows(self, data, **kwargs):
        data = dict(data)
        lead_row = data.pop("lead", None)
        investors, holders = [], []
        for n in range(1, ROWS + 1):
            name = data.pop(f"investor_{n}_name", "")
            cash = data.pop(f"investor_{n}_cash", None)
            independent = data.pop(f"investor_{n}_independent", False)
            if name:
                row = {"name": name, "is_independent": independent}
                if cash is not None:
                    row["cash_amount"] = cash
                investors.append(row)
                if lead_row == str(n):
                    data["lead"] = name
            holder = data.pop(f"holder_{n}_name", "")
            units = data.pop(f"holder_{n}_units", None)
            if holder:
                holders.append({"holder": holder, **({"units": units} if units is not None
                                                     else {})})
        data["investors"] = investors
        if holders:
            data["holders_before"] = holders
        return data


class InvestorSchema(Schema):
    name = fields.String()
    cash_amount = Money()
    is_independent = fields.Boolean()
    is_lead = fields.Boolean()


class DocumentSchema(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    sha256 = fields.String()
    uploaded_by = fields.String()
    created_at = fields.DateTime()


class RoundCheckSchema(Schema):
    grant_id = fields.Integer()
    is_qualifying = fields.Boolean()
    clauses = fields.Function(lambda c: c.clauses)


class RoundListSchema(Schema):
    items = fields.List(fields.Nested(lambda: RoundSchema()))


class RoundSchema(Schema):
    id = fields.Integer()
    company_id = fields.Integer()
    name = fields.String()
    kind = fields.Function(lambda r: r.kind.value)
    closed_on = fields.Date()
    definitive_agreement_signed_on = fields.Date()
    pre_money_valuation_amount = Money()
    units_before = fields.Decimal(as_string=True)
    new_money_amount = Money()
    investors = fields.List(fields.Nested(InvestorSchema))
    documents = fields.List(fields.Nested(DocumentSchema))
    checks = fields.List(fields.Nested(RoundCheckSchema))
    recorded_by = fields.String()


# --------------------------------------------------------------------------- corrections (issue 12)

CORRECTION_ROWS = 20  # investor rows on the round's correction page


class RoundCorrectionSchema(Schema):
    """A round as reported, corrected while no conversion uses it (PATCH: the fields sent;
    investors sent replace the investors)."""

    name = Text(200)
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in RoundKind]))
    closed_on = Day(required=True)
    definitive_agreement_signed_on = Day(load_default=None, allow_none=True)
    pre_money_valuation_amount = Money(required=True, positive=True)
    units_before = Units(required=True)
    investors = fields.List(fields.Nested(InvestorInSchema), required=True,
                            validate=validate.Length(min=1, max=50))
    lead = Text(200, load_default=None, allow_none=True)
    reason = Text(2000, required=True, error_messages={
        "required": _l("Give the reason for this correction.")})


class RoundCorrectionFormSchema(RoundCorrectionSchema, Schema.from_dict({
        **{f"investor_{n}_{column}": fields.String(load_only=True)
           for n in range(1, CORRECTION_ROWS + 1) for column in ("name", "cash")},
        **{f"investor_{n}_independent": fields.Boolean(load_only=True)
           for n in range(1, CORRECTION_ROWS + 1)}})):
    """The correction page: numbered investor rows as on the round form."""

    @pre_load
    def _rows(self, data, **kwargs):
        data = dict(data)
        lead_row = data.pop("lead", None)
        investors = []
        for n in range(1, CORRECTION_ROWS + 1):
            name = data.pop(f"investor_{n}_name", "")
            cash = data.pop(f"investor_{n}_cash", None)
            independent = data.pop(f"investor_{n}_independent", False)
            if name:
                row = {"name": name, "is_independent": independent}
                if cash is not None:
                    row["cash_amount"] = cash
                investors.append(row)
                if lead_row == str(n):
                    data["lead"] = name
        data["investors"] = investors
        return data
