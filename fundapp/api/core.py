"""Route registration that also feeds the OpenAPI document, and JSON input checking."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint
from marshmallow import Schema

from fundapp.inputs import load_json, translate_messages  # noqa: F401  (the API uses these)


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
    idempotent: bool = False


OPERATIONS: list[Operation] = []

IDEMPOTENCY_HEADER = {"name": "Idempotency-Key", "in": "header", "required": False,
                      "schema": {"type": "string", "maxLength": 200},
                      "description": "Repeats with the same key replay the first answer."}


def api_route(bp: Blueprint, rule: str, method: str, *, summary: str,
              body: type[Schema] | None = None, response: type[Schema] | None = None,
              many: bool = False, anonymous: bool = False, status: int = 200,
              params: list[dict[str, Any]] | None = None, endpoint: str | None = None,
              idempotent: bool = False) -> Callable:
    """Register a view on the blueprint and describe it for /api/openapi.json.

    `idempotent`: repeats with the same Idempotency-Key header replay the first answer (the unit
    of work stores it); use it for every POST that creates money or equity.
    """

    def decorate(view: Callable) -> Callable:
        name = endpoint or view.__name__
        view.idempotent = idempotent  # type: ignore[attr-defined]
        bp.add_url_rule(rule, name, view, methods=[method])
        extra = [IDEMPOTENCY_HEADER] if idempotent else []
        OPERATIONS.append(Operation(bp.url_prefix + rule, method, f"{bp.name}.{name}",
                                    summary, body, response, many, anonymous, status,
                                    (params or []) + extra, idempotent))
        return view

    return decorate


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)
