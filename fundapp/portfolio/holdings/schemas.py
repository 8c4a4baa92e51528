"""Input and output schemas of valuation marks, appraisals and cash flows.

The input schemas serve the API (`load_json`) and the holding page's forms (`load_form`) alike:
amounts, units and values per unit are decimal strings, every text is held to its column's
length. What needs the database (the holding's dates and units, four eyes) stays in the
operations.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from fundapp.fields import MAX_AMOUNT, Day, Id, Money, Percent, Text, Units
from fundapp.portfolio.holdings.valuation import DCF_MAX_YEARS

MARK_METHODS = ["recent_round", "multiples", "dcf", "net_assets", "quoted", "write_off"]
FLOW_KINDS = ["follow_on", "dividend", "recovery", "fee"]


class PerUnit(Percent):
    """A value per unit in CNY (0 for a write-off), as a decimal string with at most 6 places."""

    openapi_properties = {"type": "string", "format": "decimal", "example": "20.000000",
                          "description": "CNY per unit as a decimal string, at most 6 places"}

    def __init__(self, **kwargs) -> None:
        super().__init__(min=-MAX_AMOUNT, max=MAX_AMOUNT, places=6, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        number = super()._deserialize(value, attr, data, **kwargs)
        if number < 0:
            raise ValidationError(str(_l("Must not be negative.")))
        return number


class SignedMoney(Percent):
    """CNY with at most 2 places that may be negative (a year's forecast loss, net cash)."""

    openapi_properties = {"type": "string", "format": "decimal",
                          "pattern": r"^-?\d{1,13}(\.\d{1,2})?$", "example": "-250000.00",
                          "description": "CNY as a decimal string with at most 2 places; may be "
                                         "negative"}

    def __init__(self, **kwargs) -> None:
        super().__init__(min=-MAX_AMOUNT, max=MAX_AMOUNT, places=2, **kwargs)


class DiscountRate(Percent):
    """A discount rate per year as a decimal fraction: more than 0, less than 1 (0.10 = 10%)."""

    openapi_properties = {"type": "string", "format": "decimal", "example": "0.10",
                          "description": "per year, a decimal fraction above 0 and below 1 "
                                         "(0.10 is 10%), at most 6 places"}

    def __init__(self, **kwargs) -> None:
        super().__init__(min=Decimal(0), max=Decimal(1), places=6, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        rate = super()._deserialize(value, attr, data, **kwargs)
        if not 0 < rate < 1:
            raise ValidationError(str(_l("The discount rate must be above zero and below one "
                                         "hundred per cent.")))
        return rate


def years_problem(count: int) -> str | None:
    if count < 1:
        return str(_l("Enter at least one year's forecast cash flow."))
    if count > DCF_MAX_YEARS:
        return str(_l("Enter at most 30 years of forecast cash flows."))
    return None


class DcfInputsSchema(Schema):
    """The inputs of a DCF mark (method "dcf"); the value per unit is computed from them."""

    cash_flows = fields.List(SignedMoney(), required=True, metadata={
        "description": "forecast cash flows to equity of years 1..N (1 to 30 of them), CNY "
                       "decimal strings"})
    discount_rate = DiscountRate(required=True)
    terminal_value = Money(load_default=Decimal("0.00"), metadata={
        "description": "value at the end of year N, discounted with year N's cash flow"})
    net_debt = SignedMoney(load_default=Decimal("0.00"), metadata={
        "description": "subtracted from the present value (negative for net cash)"})
    units_outstanding = Units(required=True, metadata={
        "description": "the company's units (shares or registered capital) outstanding"})

    @validates_schema
    def _years(self, data, **kwargs):
        problem = years_problem(len(data.get("cash_flows", [None])))
        if problem:
            raise ValidationError({"cash_flows": [problem]})


class MarkInputs(fields.Dict):
    """A mark's inputs: for method "dcf" the DcfInputs object (checked by MarkCreateSchema);
    for the other methods a free object kept with the mark."""

    openapi_properties = {
        "type": "object", "additionalProperties": True,
        "description": 'For method "dcf": cash_flows (list of CNY decimal strings, years 1..N, '
                       "1 to 30), discount_rate (a fraction above 0 and below 1, e.g. \"0.10\"), "
                       "terminal_value (CNY, default 0), net_debt (CNY, default 0), "
                       "units_outstanding (the company's units, > 0). The value per unit is then "
                       "numpy_financial.npv(discount_rate, [0, cf1, ..., cfN + terminal_value]) "
                       "minus net_debt, at least 0, divided by units_outstanding (half-up, 6 "
                       "places); the stored inputs also carry the present values and the equity "
                       "value. For the other methods: free key/value notes.",
        "example": {"cash_flows": ["1000000.00", "1200000.00", "1500000.00"],
                    "discount_rate": "0.10", "terminal_value": "10000000.00",
                    "net_debt": "500000.00", "units_outstanding": "2000000.00"},
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(keys=fields.String(), **kwargs)


class MarkCreateSchema(Schema):
    measured_on = Day(required=True)
    method = fields.String(required=True, validate=validate.OneOf(MARK_METHODS))
    # Required for every method but "dcf", whose value per unit is computed from `inputs`.
    value_per_unit = PerUnit(load_default=None, metadata={
        "description": 'required, except for method "dcf" (computed from inputs)'})
    inputs = MarkInputs(load_default=dict)
    note = Text(max=2000)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _value_or_inputs(self, data, original, **kwargs):
        method = data.get("method")
        if method == "dcf":
            problems = self.dcf_problems(data, original)
            if problems:
                raise ValidationError(problems)
        elif method is not None and original.get("value_per_unit") in (None, ""):
            raise ValidationError({"value_per_unit": [str(_l("Missing data for required "
                                                                 "field."))]})

    @post_load
    def _dcf_inputs(self, data, **kwargs):
        if data["method"] == "dcf":
            data["inputs"] = self.dcf_inputs(data)
        return data

    def dcf_problems(self, data: dict[str, Any], original: Any) -> dict[str, Any]:
        if not isinstance(data.get("inputs"), dict):
            return {}  # the field's own message says so
        try:
            DcfInputsSchema().load(data["inputs"])
        except ValidationError as exc:
            return {"inputs": exc.messages}
        return {}

    def dcf_inputs(self, data: dict[str, Any]) -> dict[str, Any]:
        return DcfInputsSchema().load(data["inputs"])


class MarkFormSchema(MarkCreateSchema):
    """The holding page's mark form: the DCF inputs are flat fields, read only for method
    "dcf": the discount rate in per cent (like the LPR form), the forecast cash flows one amount
    per line of a text area."""

    discount_rate_pct = Text(max=40)
    cash_flows = Text(max=2000)
    terminal_value = Text(max=40)
    net_debt = Text(max=40)
    units_outstanding = Text(max=40)

    def _read(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        inputs: dict[str, Any] = {}
        problems: dict[str, list[str]] = {}

        def read(name: str, field: fields.Field, required: bool = False) -> Any:
            text = data.get(name, "")
            if not text:
                if required:
                    problems[name] = [str(_l("Missing data for required field."))]
                return None
            try:
                return field.deserialize(text)
            except ValidationError as exc:
                problems[name] = [str(m) for m in exc.messages]
                return None

        lines = [line.strip() for line in data.get("cash_flows", "").splitlines()
                 if line.strip()]
        flows = []
        for number, line in enumerate(lines, start=1):
            try:
                flows.append(SignedMoney().deserialize(line))
            except ValidationError as exc:
                problems.setdefault("cash_flows", []).append(str(_l(
                    "Line %(n)s (%(text)s): %(problem)s", n=number, text=line[:40],
                    problem=exc.messages[0])))
        if "cash_flows" not in problems:
            problem = years_problem(len(flows))
            if problem:
                problems["cash_flows"] = [problem]
        inputs["cash_flows"] = flows
        percent = read("discount_rate_pct", Percent(min=Decimal(0), max=Decimal(100), places=4),
                       required=True)
        if percent is not None and not 0 < percent < 100:
            problems["discount_rate_pct"] = [str(_l(
                "The discount rate must be above zero and below one hundred per cent."))]
        inputs["discount_rate"] = None if percent is None else percent / 100
        inputs["terminal_value"] = read("terminal_value", Money()) or Decimal("0.00")
        inputs["net_debt"] = read("net_debt", SignedMoney()) or Decimal("0.00")
        inputs["units_outstanding"] = read("units_outstanding", Units(), required=True)
        return inputs, problems

    def dcf_problems(self, data: dict[str, Any], original: Any) -> dict[str, Any]:
        return self._read(data)[1]

    def dcf_inputs(self, data: dict[str, Any]) -> dict[str, Any]:
        return self._read(data)[0]


class MarkFinaliseFormSchema(Schema):
    """The holding page's finalise button names the draft mark."""

    mark_id = Id(required=True)


class MarkSchema(Schema):
    id = fields.Integer()
    holding_id = fields.Integer()
    measured_on = fields.Date()
    method = fields.Function(lambda m: m.method.value)
    value_per_unit = fields.Decimal(as_string=True)
    inputs = fields.Function(lambda m: m.inputs)
    status = fields.Function(lambda m: m.status.value)
    author = fields.String()
    approver = fields.String()
    finalised_on = fields.Date(allow_none=True)
    note = fields.String()


class AppraisalCreateSchema(Schema):
    base_on = Day(required=True)
    units = Units(required=True)
    value_amount = Money(required=True)
    filing_no = Text(max=100, required=True)  # appraisals.filing_no String(100)
    filed_on = Day(required=True)
    appraiser = Text(max=200)  # appraisals.appraiser String(200)


class AppraisalSchema(Schema):
    id = fields.Integer()
    holding_id = fields.Integer()
    base_on = fields.Date()
    units = fields.Decimal(as_string=True)
    value_amount = fields.Decimal(as_string=True)
    filing_no = fields.String()
    filed_on = fields.Date()


class CashFlowCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(FLOW_KINDS))
    on = Day(required=True)
    amount = Money(required=True, positive=True)
    units = Units(load_default=None)
    holding_id = Id(load_default=None)
    company_id = Id(load_default=None)
    grant_id = Id(load_default=None)
    reference = Text(max=200)  # cash_flows.reference String(200)
    note = Text(max=2000)

    @validates_schema
    def _units_of_a_follow_on(self, data, **kwargs):
        if data.get("kind") == "follow_on" and data.get("units") is None:
            raise ValidationError({"units": [str(_l("Missing data for required field."))]})


class CashFlowSchema(Schema):
    id = fields.Integer()
    kind = fields.Function(lambda f: f.kind.value)
    on = fields.Date()
    amount = fields.Decimal(as_string=True)
    holding_id = fields.Integer(allow_none=True)
    company_id = fields.Integer(allow_none=True)
    grant_id = fields.Integer(allow_none=True)
    exit_id = fields.Integer(allow_none=True)
    units_delta = fields.Decimal(as_string=True)
    reference = fields.String()



# ---- corrections (issue 12)


def _reason() -> fields.String:
    return Text(max=2000, required=True, error_messages={
        "required": _l("Give the reason for this correction.")},
        metadata={"description": "why the recorded value was wrong (kept in the ledger)"})


class MarkCorrectionSchema(MarkCreateSchema):
    """A draft mark corrected: the whole mark as it should have been drafted, and the reason."""

    reason = _reason()


class MarkCorrectionFormSchema(MarkFormSchema):
    """The draft mark's correction page: the mark form's fields and the reason."""

    reason = _reason()
