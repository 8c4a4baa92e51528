"""Schemas of the pipeline: input and output kept separate (no mass assignment).

The input schemas check what needs only the input, for the API (`load_json`), the web forms
(`load_form`) and each row of a sign-up sheet alike: amounts are decimal strings (R1), every text
is held to its column's length. What needs the database (a duplicate company, the rule book's
R2.a, R10.a and R11) stays in the operations, which take the validated data.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import (
    Schema,
    ValidationError,
    fields,
    missing,
    post_load,
    validate,
    validates_schema,
)

from fundapp.api.schemas import PageSchema
from fundapp.deals.models import MEMO_FIELDS, MEMO_MAX_CHARS, DealStage, LegalForm, RoadshowFormat
from fundapp.deals.operations import normalise_name, shanghai_today
from fundapp.deals.scoring import MAX_SCORE, MIN_SCORE
from fundapp.deals.sectors import SECTORS
from fundapp.deals.uscc import normalise_uscc, uscc_problem
from fundapp.fields import Day, Id, Money, Percent, Text
from fundapp.ui import format_money

USCC_MESSAGES = {
    "length": _l("A unified social credit code has 18 characters."),
    "characters": _l("A unified social credit code uses only digits and the letters "
                     "A-H, J-N, P-R, T, U, W-Y."),
    "check": _l("The check character (the 18th) does not match: the code is mistyped."),
}
# Sector labels in both languages lead to the code, as do the codes themselves.
SECTOR_BY_TEXT = {text.strip().lower(): code for code, (zh, en) in SECTORS.items()
                  for text in (code, zh, en)}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


# --------------------------------------------------------------------------------------------
# Fields of the pipeline


class Choice(fields.Field):
    """One of an enum's values, loaded as the enum member; `message` says what to choose."""

    def __init__(self, enum: type[Enum], *, message: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.enum, self.message = enum, message
        self.openapi_properties = {"type": "string", "enum": [m.value for m in enum]}

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else self.enum(value).value

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return self.enum(value)
        except (ValueError, TypeError):
            raise ValidationError(str(self.message)) from None


class CreditCode(fields.String):
    """A unified social credit code (GB 32100-2015), normalised; its check character checked."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.openapi_properties = {"type": "string", "maxLength": 18, "nullable": True,
                                   "description": "unified social credit code (GB 32100-2015)"}

    def _deserialize(self, value, attr, data, **kwargs):
        code = normalise_uscc(super()._deserialize(value, attr, data, **kwargs))
        if not code:
            return None
        problem = uscc_problem(code)
        if problem:
            raise ValidationError(str(USCC_MESSAGES[problem]))
        return code


class Sector(fields.String):
    """A sector code; a sign-up sheet may also name it in Chinese or English (`by_label`)."""

    def __init__(self, *, by_label: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.by_label = by_label
        self.openapi_properties = {"type": "string", "enum": list(SECTORS)}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        code = SECTOR_BY_TEXT.get(text.lower()) if self.by_label else text
        if code not in SECTORS:
            raise ValidationError(str(_l("Unknown sector: %(code)s.", code=text[:100])))
        return code


class ParValue(Percent):
    """A joint-stock company's par value per share (CNY, up to 4 places): a bounded decimal."""

    openapi_properties = {"type": "string", "format": "decimal", "example": "1.00",
                          "description": "CNY per share as a decimal string"}


def _not_future(day: date) -> None:
    if day > shanghai_today():
        raise ValidationError(str(_l("The founding date is in the future.")))


def _email(text: str) -> None:
    if text and not _EMAIL.match(text):
        raise ValidationError(str(_l("Enter a valid e-mail address.")))


# --------------------------------------------------------------------------------------------
# Companies


class FounderSchema(Schema):
    name = Text(100, required=True)
    title = Text(100)
    background = Text(20000)
    name_en = Text(100, metadata={"description": "the name in English documents (issue 15)"})
    title_en = Text(100)
    background_en = Text(20000)


class ContactSchema(Schema):
    name = Text(100, required=True)
    phone = Text(40)
    email = Text(320, validate=_email)


class CompanyCreateSchema(Schema):
    legal_name = Text(200, required=True)
    name_en = Text(200)
    uscc = CreditCode(load_default=None, allow_none=True)
    district = Text(100)
    legal_form = Choice(LegalForm, message=_l("Choose LLC or joint-stock company."),
                        load_default=LegalForm.LLC)
    registered_capital_amount = Money(positive=True, load_default=None, allow_none=True)
    share_count = Id(load_default=None, allow_none=True,
                     metadata={"description": "shares of a joint-stock company"})
    par_value_amount = ParValue(min=Decimal("0.0001"), max=Decimal(1000), places=4,
                                load_default=None, allow_none=True)
    sector = Sector(required=True, error_messages={"required": _l("Choose a sector.")})
    founded_on = Day(load_default=None, allow_none=True, validate=_not_future)
    website = Text(300)
    description = Text(20000)
    former_names = Text(2000, metadata={"description": "names registered before (曾用名), "
                                                     "one per line"})
    founders = fields.List(fields.Nested(FounderSchema), load_default=list)
    contacts = fields.List(fields.Nested(ContactSchema), load_default=list)


class CompanyUpdateSchema(CompanyCreateSchema):
    """The fields sent are changed, the others kept (load it with partial=True)."""


class CompanySchema(Schema):
    id = fields.Integer()
    legal_name = fields.String()
    name_en = fields.String()
    uscc = fields.String(allow_none=True)
    district = fields.String()
    legal_form = fields.Function(lambda c: c.legal_form.value)
    registered_capital_amount = fields.Decimal(as_string=True, allow_none=True)
    share_count = fields.Integer(allow_none=True)
    par_value_amount = fields.Decimal(as_string=True)
    sector = fields.String()
    founded_on = fields.Date(allow_none=True)
    website = fields.String()
    description = fields.String()
    former_names = fields.String()
    founders = fields.Function(lambda c: [{"name": f.name, "title": f.title,
                                           "name_en": f.name_en, "title_en": f.title_en}
                                          for f in c.founders])
    contacts = fields.Function(lambda c: [{"name": p.name, "phone": p.phone, "email": p.email}
                                          for p in c.contacts])
    created_at = fields.DateTime()


class CompanyRowSchema(Schema):
    id = fields.Integer()
    legal_name = fields.String()
    name_en = fields.String()
    uscc = fields.String(allow_none=True)
    sector = fields.String()
    district = fields.String()


class CompanyPageSchema(PageSchema):
    items = fields.List(fields.Nested(CompanyRowSchema))


# --------------------------------------------------------------------------------------------
# Deals


class DealCreateSchema(Schema):
    company_id = Id(required=True)
    project_name = Text(200, required=True)
    project_name_en = Text(200, metadata={"description": "the project's name in English "
                                                         "documents and pages (issue 15)"})
    requested_grant_amount = Money(positive=True, required=True)
    approved_budget_amount = Money(positive=True, required=True)
    project_summary = Text(20000)
    milestone_plan = Text(20000)
    manager_id = Id(load_default=None, allow_none=True)
    roadshow_id = Id(load_default=None, allow_none=True)
    opened_on = Day(load_default=None, allow_none=True,
                    metadata={"description": "day the application came in (default today; "
                                             "not after today); the stage history starts then"})


class DealRowSchema(Schema):
    id = fields.Integer()
    company_id = fields.Integer()
    company_name = fields.String()
    uscc = fields.String(allow_none=True)
    sector = fields.String()
    project_name = fields.String()
    project_name_en = fields.String()
    stage = fields.Function(lambda d: str(d["stage"].value if hasattr(d["stage"], "value")
                                          else d["stage"]))
    requested_grant_amount = fields.Decimal(as_string=True)
    approved_budget_amount = fields.Decimal(as_string=True)
    manager_id = fields.Integer(allow_none=True)
    manager_name = fields.String(allow_none=True)
    roadshow_id = fields.Integer(allow_none=True)
    roadshow_name = fields.String(allow_none=True)
    stage_entered_at = fields.DateTime()


class DealSchema(DealRowSchema):
    project_summary = fields.String()
    milestone_plan = fields.String()
    ic_decision_ref = fields.String()
    public_notice_started_on = fields.Date(allow_none=True)
    held_from_stage = fields.String(allow_none=True)
    expert_quorum = fields.Dict()
    memo = fields.Dict(metadata={"description": "the IC memo fields (DealMemoSchema)"})


MEMO_LINES = {
    "memo_dd_findings": "one finding a line: finding | source | open or closed",
    "memo_risks": "one risk a line: risk | likelihood | impact | mitigant",
}
DealMemoSchema = Schema.from_dict(
    {name: (Text(200) if name.startswith("memo_reviewed_by") else
            Text(MEMO_MAX_CHARS, metadata={"description": MEMO_LINES.get(
                name.removesuffix("_en"), "the IC memo's text" + (
                    " in English" if name.endswith("_en") else ""))}))
     for name in MEMO_FIELDS}, name="DealMemoSchema")
DealMemoSchema.__doc__ = """The IC memo fields of a deal; on the API send only those to change
(load it with partial=True)."""


class DealPageSchema(PageSchema):
    items = fields.List(fields.Nested(DealRowSchema))


class TransitionCreateSchema(Schema):
    to_stage = Choice(DealStage, message=_l("Unknown stage."), required=True)
    reason = Text(5000)
    expected_stage = Choice(DealStage, message=_l("Unknown stage."), load_default=None,
                            allow_none=True)
    # Issue 12: the day the move happened (default today): a notice's start, a signing's day.
    on = Day(load_default=None, allow_none=True,
             metadata={"description": "day the move happened (default today); not after today"})


class BackLinkSchema(Schema):
    """The page a form returns to (the board with its filters); checked before it is used."""

    back = fields.String(load_default="")


class TransitionSchema(Schema):
    from_stage = fields.Function(lambda c: c.from_stage.value if c.from_stage else None)
    to_stage = fields.Function(lambda c: c.to_stage.value)
    actor = fields.String()
    reason = fields.String()
    changed_at = fields.DateTime()


class TransitionListSchema(Schema):
    items = fields.List(fields.Nested(TransitionSchema))


class IcDecisionSchema(Schema):
    ic_decision_ref = Text(100, required=True,
                           metadata={"description": "reference of the IC resolution"})
    decided_on = Day(load_default=None, allow_none=True,
                     metadata={"description": "day the committee decided (default today)"})


class ExpertReviewCreateSchema(Schema):
    panel_member_id = Id(required=True)
    is_approved = fields.Boolean(load_default=False)
    comment = Text(5000)
    reviewed_on = Day(load_default=None, allow_none=True,
                      metadata={"description": "day of the review (default today)"})


# --------------------------------------------------------------------------------------------
# Roadshows and judging


class CriterionSchema(Schema):
    code = Text(40)
    label = Text(100, required=True)
    weight_pct = Percent(min=Decimal("0.01"), max=Decimal(100), places=2, required=True,
                         metadata={"description": "percent, e.g. \"20\""})


def check_criteria(criteria: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Codes given or made from the labels, each once; the weights add up to 100 (percent)."""
    if not criteria:
        raise ValidationError({"criteria": [str(_l("Give at least one criterion."))]})
    checked, codes, duplicates = [], set(), {}
    for index, item in enumerate(criteria):
        code = item.get("code") or re.sub(r"\W+", "_", item["label"].lower()).strip("_")
        if not _CODE.match(code):
            code = f"c{index + 1}"
        if code in codes:
            duplicates[index] = {"code": [str(_l("Each criterion appears once."))]}
        codes.add(code)
        checked.append({"code": code, "label": item["label"], "weight_pct": item["weight_pct"]})
    if duplicates:
        raise ValidationError({"criteria": duplicates})
    total = sum((c["weight_pct"] for c in checked), Decimal(0))
    if total != 100:
        raise ValidationError({"criteria": [str(_l(
            "The weights add up to %(total)s%%; they must add up to 100%%.",
            total=format_money(total)))]})
    return checked


class CriteriaSchema(Schema):
    criteria = fields.List(fields.Nested(CriterionSchema), load_default=list)

    @post_load
    def _checked(self, data, **kwargs):
        return {"criteria": check_criteria(data["criteria"])}


class PanelMemberCreateSchema(Schema):
    user_id = Id(load_default=None, allow_none=True)
    name = Text(200)
    affiliation = Text(200)
    name_en = Text(200, metadata={"description": "the expert's name in English documents"})
    affiliation_en = Text(200)

    @validates_schema
    def _someone(self, data, **kwargs):
        if not data.get("user_id") and not data.get("name"):
            raise ValidationError(str(_l("Choose a user or enter the expert's name.")), "name")


class SlotCreateSchema(Schema):
    company_id = Id(required=True, error_messages={"required": _l("Choose a company.")})
    position = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(
        min=1, max=10000, error=_l("A slot number is between 1 and 10000.")))


class RoadshowCreateSchema(Schema):
    name = Text(200, required=True)
    name_en = Text(200, metadata={"description": "the roadshow's name in English (issue 15)"})
    held_on = Day(required=True)
    venue = Text(200)
    venue_en = Text(200)
    organiser = Text(200)
    format = Choice(RoadshowFormat, message=_l("Choose online or offline."),
                    load_default=RoadshowFormat.OFFLINE)
    criteria = fields.List(fields.Nested(CriterionSchema), load_default=None,
                           metadata={"description": "default: the five criteria, 20% each"})
    panel = fields.List(fields.Nested(PanelMemberCreateSchema), load_default=list)
    company_ids = fields.List(Id(), load_default=list,
                              metadata={"description": "companies in slot order"})

    @post_load
    def _checked(self, data, **kwargs):
        if data.get("criteria"):
            data["criteria"] = check_criteria(data["criteria"])
        return data


class RoadshowFormSchema(Schema):
    """The new-roadshow page: the roadshow alone (criteria, panel and slots follow on its page)."""

    name = Text(200, required=True)
    # not sent: kept as recorded (a form or correction without the English twin keeps it)
    name_en = Text(200, load_default=missing)
    held_on = Day(required=True)
    venue = Text(200)
    venue_en = Text(200, load_default=missing)
    organiser = Text(200)
    format = Choice(RoadshowFormat, message=_l("Choose online or offline."),
                    load_default=RoadshowFormat.OFFLINE)


class RoadshowSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    name_en = fields.String()
    held_on = fields.Date()
    venue = fields.String()
    venue_en = fields.String()
    organiser = fields.String()
    format = fields.Function(lambda r: r.format.value)
    criteria = fields.Function(lambda r: [{"code": c.code, "label": c.label,
                                           "weight_pct": str(c.weight_pct)} for c in r.criteria])
    panel = fields.Function(lambda r: [{"id": m.id, "name": m.name, "user_id": m.user_id,
                                        "affiliation": m.affiliation, "name_en": m.name_en,
                                        "affiliation_en": m.affiliation_en} for m in r.panel])
    slots = fields.Function(lambda r: [{"position": s.position, "company_id": s.company_id,
                                        "company": s.company.legal_name} for s in r.slots])


class RoadshowPageSchema(PageSchema):
    items = fields.List(fields.Nested(RoadshowSchema))


def _score(value: Any) -> Decimal | None:
    """A score from MIN_SCORE to MAX_SCORE with at most 2 places, or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        score = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not score.is_finite() or not MIN_SCORE <= score <= MAX_SCORE or \
            score != score.quantize(Decimal("0.01")):
        return None
    return score


class ScoreSheetCreateSchema(Schema):
    panel_member_id = Id(required=True)
    company_id = Id(required=True)
    has_conflict = fields.Boolean(load_default=False)
    scores = fields.Dict(keys=Text(40), values=fields.Raw(allow_none=True), load_default=dict,
                         metadata={"description": "criterion code -> score 0-10 (string)"})
    comment = Text(5000)

    @post_load
    def _scores(self, data, **kwargs):
        """Each score a number from 0 to 10; blanks left out (the operation names the missing)."""
        scores, problems = {}, {}
        for code, value in data["scores"].items():
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            score = _score(value)
            if score is None:
                problems[f"scores.{code}"] = [str(_l("A score is a number from %(min)s to "
                                                     "%(max)s.", min=MIN_SCORE, max=MAX_SCORE))]
            scores[code] = score
        if problems and not data["has_conflict"]:
            raise ValidationError(problems)
        data["scores"] = {} if data["has_conflict"] else scores
        return data


class RankingRowSchema(Schema):
    rank = fields.Integer(allow_none=True)
    company_id = fields.Integer()
    company_name = fields.String()
    mean = fields.Decimal(as_string=True, allow_none=True)
    spread = fields.Decimal(as_string=True, allow_none=True)
    count = fields.Integer()
    conflicts = fields.Integer()
    is_disputed = fields.Boolean()


class RoadshowScoresSchema(Schema):
    roadshow_id = fields.Integer()
    criteria = fields.List(fields.Dict())
    ranking = fields.List(fields.Nested(RankingRowSchema))


# --------------------------------------------------------------------------------------------
# Sign-up sheets


class SheetDay(Day):
    """A day as sign-up sheets write it: 2023-01-05, 2023/1/5 or 2023.1.5."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, str):
            parts = value.strip().replace("/", "-").replace(".", "-").split("-")
            value = "-".join(part.zfill(2) for part in parts)
        return super()._deserialize(value, attr, data, **kwargs)


class SignupRowSchema(Schema):
    """One row of a sign-up sheet (报名表): a company, its project and its contact."""

    legal_name = Text(200, required=True)
    uscc = CreditCode(load_default=None, allow_none=True)
    name_en = Text(200)
    sector = Sector(by_label=True, required=True)
    district = Text(100)
    founded_on = SheetDay(load_default=None, allow_none=True, validate=_not_future,
                          error_messages={"invalid": _l("Enter a date as YYYY-MM-DD.")})
    project_name = Text(200, required=True)
    project_name_en = Text(200)
    requested_grant_amount = Money(positive=True, required=True)
    approved_budget_amount = Money(positive=True, required=True)
    contact_name = Text(100)
    contact_phone = Text(40)
    contact_email = Text(320, validate=_email)
    position = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(
        min=1, max=10000, error=_l("A slot number is between 1 and 10000.")),
        error_messages={"invalid": _l("A slot number is between 1 and 10000.")})

    @validates_schema
    def _grant_within_budget(self, data, **kwargs):
        grant, budget = data.get("requested_grant_amount"), data.get("approved_budget_amount")
        if grant is not None and budget is not None and grant > budget:
            raise ValidationError(str(_l(
                "The requested grant %(grant)s is larger than the project budget %(budget)s.",
                grant=format_money(grant), budget=format_money(budget))),
                "requested_grant_amount")

    @post_load
    def _normalised_name(self, data, **kwargs):
        data["normalised_name"] = normalise_name(data["legal_name"])
        return data


class ImportResultSchema(Schema):
    preview = fields.Boolean()
    rows = fields.Integer()
    companies_created = fields.Integer()
    companies_matched = fields.Integer()
    deals_created = fields.Integer()
    deals_existing = fields.Integer()
    problems = fields.List(fields.Dict())


# --------------------------------------------------------------------------------------------
# Corrections (issue 12): the same fields as when recorded, and a required reason


REASON_MAX = 2000


def _reason() -> fields.String:
    return Text(REASON_MAX, required=True, error_messages={
        "required": _l("Give the reason for this correction.")},
        metadata={"description": "why the recorded value was wrong (kept in the ledger)"})


class CompanyCorrectionSchema(CompanyCreateSchema):
    """A correction of a company (PATCH: the fields sent are corrected, the others kept)."""

    reason = _reason()


class DealCorrectionSchema(Schema):
    """A correction of a deal's application details; the stage moves on the board."""

    project_name = Text(200, required=True)
    project_name_en = Text(200, load_default=missing)  # not sent: kept as recorded
    requested_grant_amount = Money(positive=True, required=True)
    approved_budget_amount = Money(positive=True, required=True)
    project_summary = Text(20000)
    milestone_plan = Text(20000)
    manager_id = Id(load_default=None, allow_none=True)
    roadshow_id = Id(load_default=None, allow_none=True)
    reason = _reason()

    @validates_schema
    def _grant_within_budget(self, data, **kwargs):
        grant, budget = data.get("requested_grant_amount"), data.get("approved_budget_amount")
        if grant is not None and budget is not None and grant > budget:
            raise ValidationError(str(_l(
                "The requested grant %(grant)s is larger than the project budget %(budget)s.",
                grant=format_money(grant), budget=format_money(budget))),
                "requested_grant_amount")


class PanelCorrectionSchema(Schema):
    id = Id(required=True)
    name = Text(200, required=True)
    affiliation = Text(200)
    name_en = Text(200, load_default=missing)  # not sent: kept as recorded
    affiliation_en = Text(200, load_default=missing)


class SlotCorrectionSchema(Schema):
    company_id = Id(required=True)
    position = fields.Integer(required=True, validate=validate.Range(
        min=1, max=10000, error=_l("A slot number is between 1 and 10000.")))


class RoadshowCorrectionSchema(RoadshowFormSchema):
    """A correction of a roadshow: its details, its panel's names, its slots' order and (while
    no score is recorded) its criteria. Lists sent replace what is recorded."""

    panel = fields.List(fields.Nested(PanelCorrectionSchema), load_default=None)
    slots = fields.List(fields.Nested(SlotCorrectionSchema), load_default=None)
    criteria = fields.List(fields.Nested(CriterionSchema), load_default=None)
    reason = _reason()

    @post_load
    def _checked(self, data, **kwargs):
        if data.get("criteria") is not None:
            try:
                data["criteria"] = check_criteria(data["criteria"])
            except ValidationError as exc:
                raise ValidationError(exc.messages) from None
        return data
