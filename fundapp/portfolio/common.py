"""What the portfolio's operations share: refusals, figures in messages, id bounds, dates."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from fundapp.dates import shanghai_today as local_today  # noqa: F401  (today in Shanghai)
from fundapp.deals.models import Company
from fundapp.errors import NotFound, RuleRefused, ValidationFailed
from fundapp.fields import MAX_ID  # noqa: F401  (ids beyond an INTEGER name nothing)
from fundapp.portfolio.conversion import engine as calc

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def refuse(rule: str, message: Any, **details: Any) -> RuleRefused:
    return RuleRefused(rule, message, **details)


def field_error(field: str, message: Any) -> ValidationFailed:
    return ValidationFailed(_l("Some fields are not valid."), details={field: [str(message)]})


def money_text(amount: Decimal) -> str:
    return f"{amount.quantize(FEN):,}"


def pct_text(fraction: Decimal) -> str:
    return format((fraction * 100).normalize(), "f")


def jsonable(value: Any) -> Any:
    return calc._jsonable(value)  # the pure module's one JSON form


def get_company(session: Session, company_id: int) -> Company:
    company = session.get(Company, company_id) if 0 < company_id <= MAX_ID else None
    if company is None:
        raise NotFound(_l("No such company."))
    return company
