"""What the portfolio's pages and API routes share: the pages' blueprint, a form read through a
schema, a refusal as form messages, the acting user and date arguments of the query string.

Each sub-package's views module registers its pages on `bp`; fundapp.portfolio.views imports them
all, so the blueprint it gives is complete.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, g, request
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError

from fundapp.api.core import translate_messages
from fundapp.errors import AppError, RuleRefused, ValidationFailed

bp = Blueprint("portfolio", __name__)

AS_OF_PARAM = {"name": "as_of", "in": "query", "schema": {"type": "string", "format": "date"},
               "description": "Figures as of this date (default today); not in the future."}


def load_form(schema: Schema, data: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    try:
        return schema.load(data), {}
    except ValidationError as exc:
        return None, translate_messages(exc.messages)


def errors_of(exc: AppError) -> dict[str, Any]:
    """Field errors for the form, and the clause for a refusal (shown above the form)."""
    if isinstance(exc, ValidationFailed):
        return dict(exc.details)
    if isinstance(exc, RuleRefused):
        field = exc.details.get("field") or "_rule"
        return {field: [f"{exc.details['rule']}: {exc.message}"], "_rule": [
            f"{exc.details['rule']}: {exc.message}"]}
    return {"_rule": [str(exc.message)]}


def blank_to_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in ("", None)}


def current_actor() -> str:
    return g.user.email


def date_arg(name: str, default: date | None = None) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(_l("Some fields are not valid."), details={
            name: [str(_l("Not a valid date."))]}) from None


def as_of_arg() -> date:
    """The as_of argument (default today): a field error when it is in the future."""
    from fundapp.portfolio.performance.summary import check_as_of

    return check_as_of(date_arg("as_of"))
