"""Route registration that also feeds the OpenAPI document, and JSON input checking."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError

from fundapp.errors import AppError, ValidationFailed


@dataclass
class Operation:
    rule: str
    method: str
    endpoint: str
    summary: str
    request_schema: type[Schema] | None = None
    response_schema: type[Schema] | None = None
    many: bool = False
    anonymous: bool = False
    status: int = 200
    params: list[dict[str, Any]] = field(default_factory=list)


OPERATIONS: list[Operation] = []


def api_route(bp: Blueprint, rule: str, method: str, *, summary: str,
              body: type[Schema] | None = None, response: type[Schema] | None = None,
              many: bool = False, anonymous: bool = False, status: int = 200,
              params: list[dict[str, Any]] | None = None, endpoint: str | None = None
              ) -> Callable:
    """Register a view on the blueprint and describe it for /api/openapi.json."""

    def decorate(view: Callable) -> Callable:
        name = endpoint or view.__name__
        bp.add_url_rule(rule, name, view, methods=[method])
        OPERATIONS.append(Operation(bp.url_prefix + rule, method, f"{bp.name}.{name}",
                                    summary, body, response, many, anonymous, status,
                                    params or []))
        return view

    return decorate


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def load_json(schema: Schema) -> Any:
    """Parse and validate the request body; errors name each field in the user's language."""
    data = request.get_json(silent=True, force=True)
    if data is None:
        if request.get_data():
            raise AppError(_l("The request body is not valid JSON."), code="malformed_json")
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed(_l("The request body must be a JSON object."),
                               details={"_schema": [str(_l("Expected an object."))]})
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed(_l("Some fields are not valid."),
                               details=translate_messages(exc.messages)) from None


def translate_messages(messages: Any) -> Any:
    if isinstance(messages, dict):
        return {key: translate_messages(value) for key, value in messages.items()}
    if isinstance(messages, list):
        return [translate_messages(value) for value in messages]
    return _(messages) if isinstance(messages, str) else messages


# marshmallow's own messages, listed so that the catalogue carries their translations.
MARSHMALLOW_MESSAGES = [
    _l("Missing data for required field."),
    _l("Field may not be null."),
    _l("Unknown field."),
    _l("Invalid input type."),
    _l("Not a valid string."),
    _l("Not a valid email address."),
    _l("Not a valid integer."),
    _l("Not a valid number."),
    _l("Not a valid boolean."),
    _l("Not a valid date."),
    _l("Not a valid datetime."),
    _l("Must be one of: {choices}."),
    _l("Shorter than minimum length {min}."),
    _l("Longer than maximum length {max}."),
    _l("Length must be between {min} and {max}."),
    _l("Must be greater than or equal to {min}."),
]
