"""The OpenAPI 3 document, built from the routes registered with api_route()."""

from __future__ import annotations

from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from fundapp.api.core import OPERATIONS, openapi_path
from fundapp.fields import MAX_ID, openapi_field

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "details"],
                             "properties": {"code": {"type": "string"},
                                            "message": {"type": "string"},
                                            "details": {"type": "object"}}}},
}


@cache
def build_spec() -> dict[str, Any]:
    plugin = MarshmallowPlugin()
    spec = APISpec(title="fundapp API", version="1", openapi_version="3.0.3",
                   plugins=[plugin],
                   info={"description": "JSON API of fundapp, the grant-plus-investment fund "
                                        "system. Errors use one envelope: "
                                        '{"error": {"code", "message", "details"}}.'})
    plugin.converter.add_attribute_function(openapi_field)
    spec.components.schema("Error", ERROR_SCHEMA)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        operation: dict[str, Any] = {"summary": op.summary, "operationId": op.endpoint,
                                     "responses": {}}
        params = list(op.params)
        for name in _path_params(op.rule):
            params.append({"name": name, "in": "path", "required": True,
                           "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}})
        if params:
            operation["parameters"] = params
        if op.request_schema is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": op.request_schema}}}
        ok: dict[str, Any] = {"description": "OK"}
        if op.response_schema is not None:
            ok["content"] = {"application/json": {"schema": op.response_schema}}
        operation["responses"][str(op.status)] = ok
        for status in ("401", "403", "422") if not op.anonymous else ("422",):
            operation["responses"][status] = {"description": "Error", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        if not op.anonymous:
            operation["security"] = [{"bearer": []}]
        paths.setdefault(openapi_path(op.rule), {})[op.method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _path_params(rule: str) -> list[str]:
    import re

    return re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", rule)
