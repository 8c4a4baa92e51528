"""Every text an API route takes is bounded by its schema (the column's length), so an over-long
value is a 422 naming the field, never a database error."""

from marshmallow import fields, validate

from fundapp.api.core import OPERATIONS
from fundapp.app import create_app
from tests.conftest import make_config


def unbounded_strings(schema, prefix=""):
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        if isinstance(field, fields.Nested):
            nested = field.schema
            yield from unbounded_strings(nested, f"{prefix}{name}.")
            continue
        if isinstance(field, fields.List):
            field = field.inner
            if isinstance(field, fields.Nested):
                yield from unbounded_strings(field.schema, f"{prefix}{name}[].")
                continue
        if not isinstance(field, fields.String) or isinstance(field, fields.Email):
            continue
        described = getattr(field, "openapi_properties", {})  # a field that states its bound
        bounded = getattr(field, "max", None) is not None or bool(
            {"maxLength", "enum", "pattern"} & set(described)) or any(
            isinstance(v, validate.Length) and v.max is not None
            or isinstance(v, validate.OneOf | validate.Regexp) for v in field.validators)
        if not bounded:
            yield f"{prefix}{name}"


def test_every_text_field_of_every_request_body_has_a_length_limit():
    create_app(make_config("sqlite://"))  # registers every route
    problems = {}
    for operation in OPERATIONS:
        if operation.request_schema is None:
            continue
        found = list(unbounded_strings(operation.request_schema()))
        if found:
            problems[f"{operation.method} {operation.rule}"] = found
    assert problems == {}
