"""The one input layer: marshmallow schemas check JSON bodies and HTML forms alike.

A thin adapter of our own rather than webargs: the forms here post flat fields, repeated fields
for lists and a few row groups (founders, contacts, criteria), and the only translation needed is
"blank means missing"; webargs would add a dependency for about thirty lines. Errors are raised as
ValidationFailed with each field's messages in the user's language; `fundapp.unit_of_work.attempt`
hands them to the form, the API answers them as a 422 envelope.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, ValidationError, fields
from werkzeug.datastructures import MultiDict

from fundapp.errors import AppError, ValidationFailed

TRUE_WORDS = frozenset({"1", "on", "true", "yes", "y"})

# Hostile input is refused before anything parses or stores it: JSON nested deeper than this
# (Python's parser recurses, so 100,000 levels would end in a RecursionError), JSON bodies larger
# than this (uploads have their own, larger limit: MAX_CONTENT_LENGTH), and text with characters
# no person types: NUL (PostgreSQL refuses it), other C0 controls but tab and line breaks
# (XLSX exports and PDFs refuse them) and lone surrogates (not encodable as UTF-8).
MAX_JSON_DEPTH = 32
MAX_JSON_BYTES = 1024 * 1024
MAX_INTEGER = 2**63 - 1  # what a BIGINT holds; ids and counts are bounded further by their fields
BAD_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")
_HUGE_WHOLE_NUMBER = re.compile(r"^\s*[+-]?0*[1-9]\d{18,}\s*$")


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests arrays and objects deeper than `limit`, read without parsing it
    (brackets inside strings do not count)."""
    depth = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def check_json_body() -> None:
    """before_request: a JSON body too large or nested too deeply is refused before any code
    (the idempotency check, a view) parses it."""
    if not request.is_json or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise _too_large()
    raw = request.get_data(cache=True)
    if len(raw) > MAX_JSON_BYTES:
        raise _too_large()
    if json_too_deep(raw):
        raise _too_deep()
    hostile = hostile_values(request.get_json(silent=True))  # cached for the view
    if hostile:
        raise ValidationFailed(_l("Some fields are not valid."), details=hostile)


def check_query_text() -> None:
    """before_request: query arguments and the Idempotency-Key header carry no control
    characters (a NUL in a ledger filter would reach the database), and no whole number of
    more than 18 digits (an id of 2**70 would overflow SQLite's INTEGER). A URL that names
    nothing (an unknown path, an id beyond MAX_ID) is answered 404 by the router instead."""
    if request.routing_exception is not None:
        return
    problems: dict[str, list[str]] = {}
    for key, value in request.args.items(multi=True):
        if BAD_CHARACTERS.search(key) or BAD_CHARACTERS.search(value):
            problems[key] = [str(_l("Remove the control characters from this text."))]
        elif _HUGE_WHOLE_NUMBER.match(value):
            problems[key] = [str(_l("This number is too large."))]
    key = request.headers.get("Idempotency-Key", "")
    if BAD_CHARACTERS.search(key):
        problems["Idempotency-Key"] = [str(_l("Remove the control characters from this text."))]
    if problems:
        raise ValidationFailed(_l("Some fields are not valid."),
                               details={_printable(k): v for k, v in problems.items()})


def _too_large() -> AppError:
    return AppError(_l("The request body is too large (at most %(size)s KB of JSON).",
                       size=MAX_JSON_BYTES // 1024), status=413, code="payload_too_large")


def _too_deep() -> ValidationFailed:
    return ValidationFailed(_l("The request body is nested too deeply (at most %(depth)s "
                               "levels).", depth=MAX_JSON_DEPTH),
                            details={"_schema": [str(_l("Nested too deeply."))]})


def _printable(text: str) -> str:
    return BAD_CHARACTERS.sub("\ufffd", text)[:100]


def hostile_values(value: Any) -> Any:
    """The messages for what no field should ever read, in marshmallow's shape of errors (by
    key, by list index), or None: text with control characters or lone surrogates, numbers that
    are not finite or beyond a BIGINT."""
    if isinstance(value, str):
        if BAD_CHARACTERS.search(value):
            return [str(_l("Remove the control characters from this text."))]
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return [str(_l("This number is too large."))] if abs(value) > MAX_INTEGER else None
    if isinstance(value, float):
        if not math.isfinite(value):
            return [str(_l("Enter a number, such as 1500000.00."))]
        return [str(_l("This number is too large."))] if abs(value) > MAX_INTEGER else None
    errors: dict[Any, Any] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and BAD_CHARACTERS.search(key):
                errors[_printable(key)] = [str(_l("Remove the control characters from this "
                                                  "text."))]
                continue
            found = hostile_values(item)
            if found:
                errors[key] = found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = hostile_values(item)
            if found:
                errors[index] = found
    return errors or None


def load(schema: Schema, data: Mapping[str, Any]) -> Any:
    """Validate plain data with a schema; every problem is reported at once, by field."""
    hostile = hostile_values(data)
    if hostile:
        raise ValidationFailed(_l("Some fields are not valid."), details=hostile)
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed(_l("Some fields are not valid."),
                               details=translate_messages(exc.messages)) from None
    except RecursionError:
        raise _too_deep() from None


def load_json(schema: Schema) -> Any:
    """Parse and validate the request's JSON body."""
    raw = request.get_data(cache=True)
    if len(raw) > MAX_JSON_BYTES:
        raise _too_large()
    if json_too_deep(raw):  # also when the body came without a JSON content type
        raise _too_deep()
    data = request.get_json(silent=True, force=True)
    if data is None:
        if request.get_data():
            raise AppError(_l("The request body is not valid JSON."), code="malformed_json")
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed(_l("The request body must be a JSON object."),
                               details={"_schema": [str(_l("Expected an object."))]})
    return load(schema, data)


def load_form(schema: Schema, form: MultiDict | None = None, **extra: Any) -> Any:
    """Validate a posted HTML form with the same schema the API uses.

    Blank inputs count as missing (so defaults apply and required fields say so), repeated inputs
    fill List fields, an unticked checkbox is False, and fields the schema does not know
    (csrf_token, back links) are ignored. `extra` adds values the view built (row groups).
    """
    form = request.form if form is None else form
    data: dict[str, Any] = {}
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        key = field.data_key or name
        if key in extra:
            data[key] = extra[key]
        elif isinstance(field, fields.List):
            values = [v.strip() for v in form.getlist(key) if v.strip()]
            if values or key in form:
                data[key] = values
        elif isinstance(field, fields.Boolean):
            data[key] = form.get(key, "").strip().lower() in TRUE_WORDS
        else:
            value = form.get(key)
            if value is not None and value.strip():
                data[key] = value.strip()
    schema.unknown = EXCLUDE
    return load(schema, data)


def form_rows(form: MultiDict | None, **columns: str) -> list[dict[str, str]]:
    """Rows posted as parallel repeated inputs, e.g. founder_name/founder_title -> founders.

    ``form_rows(form, name="founder_name", title="founder_title")``; blank rows are dropped.
    """
    form = request.form if form is None else form
    lists = {key: form.getlist(input_name) for key, input_name in columns.items()}
    size = max((len(v) for v in lists.values()), default=0)
    rows = []
    for i in range(size):
        row = {key: (values[i].strip() if i < len(values) else "") for key, values in lists.items()}
        if any(row.values()):
            rows.append(row)
    return rows


def translate_messages(messages: Any) -> Any:
    if isinstance(messages, dict):
        return {key: translate_messages(value) for key, value in messages.items()}
    if isinstance(messages, Sequence) and not isinstance(messages, str):
        return [translate_messages(value) for value in messages]
    return translate(messages) if isinstance(messages, str) else messages


def translate(message: str) -> str:
    """A message in the reader's language, also when marshmallow already filled in its figures
    ("Longer than maximum length 200.": the catalogue knows "... {max}.")."""
    for pattern, template in _formatted_templates():
        match = pattern.match(message)
        if match:
            return _(template).format(**match.groupdict())
    return _(message)


@cache
def _formatted_templates() -> list[tuple[re.Pattern[str], str]]:
    found = []
    for lazy in MARSHMALLOW_MESSAGES:
        template = lazy._args[0]  # the msgid, not the translated text
        if "{" not in template:
            continue
        parts = re.split(r"\{(\w+)\}", template)
        regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)"
                        for i, part in enumerate(parts))
        found.append((re.compile(f"^{regex}$", re.DOTALL), template))
    return found


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
    _l("Must be less than or equal to {max}."),
    _l("Must be greater than or equal to {min} and less than or equal to {max}."),
    _l("Not a valid decimal."),
]
