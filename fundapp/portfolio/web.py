"""What the portfolio's pages and API routes share: the pages' blueprint, a form's operation run
as an `attempt` that names the rule book's clause, the acting user and date arguments of the
query string.

Each sub-package's views module registers its pages on `bp`; fundapp.portfolio.views imports them
all, so the blueprint it gives is complete.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import TypeVar

from flask import Blueprint, g, request
from flask_babel import lazy_gettext as _l

from fundapp.errors import AppError, ValidationFailed
from fundapp.fields import day_out_of_range
from fundapp.unit_of_work import attempt

T = TypeVar("T")

bp = Blueprint("portfolio", __name__)

AS_OF_PARAM = {"name": "as_of", "in": "query", "schema": {"type": "string", "format": "date"},
               "description": "Figures as of this date (default today); not in the future."}


def attempt_naming_the_clause(action: Callable[[], T]
                              ) -> tuple[T | None, dict[str, list[str]], AppError | None]:
    """`attempt` that also hands back the refusal itself, for its status or details (the failed
    clauses of a preview)."""
    refused: list[AppError] = []

    def run() -> T:
        try:
            return action()
        except AppError as exc:
            refused.append(exc)
            raise

    result, errors = attempt(run)
    return result, errors, refused[0] if refused else None


def current_actor() -> str:
    return g.user.email


def date_arg(name: str, default: date | None = None) -> date | None:
    """A YYYY-MM-DD query argument between FIRST_DAY and LAST_DAY (1900-2200), else a 422 naming
    it: days such as 0001-01-01 or 9999-12-31 would overflow the calendar's sums."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError(raw)  # fromisoformat also reads 20260401 and week dates
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(_l("Some fields are not valid."), details={
            name: [str(_l("Not a valid date."))]}) from None
    problem = day_out_of_range(day)
    if problem:
        raise ValidationFailed(_l("Some fields are not valid."), details={name: [problem]})
    return day


def as_of_arg() -> date:
    """The as_of argument (default today): a field error when it is in the future."""
    from fundapp.portfolio.performance.summary import check_as_of

    return check_as_of(date_arg("as_of"))
