"""The one input layer: marshmallow schemas check JSON bodies and HTML forms alike.

A thin adapter of our own rather than webargs: the forms here post flat fields, repeated fields
for lists and a few row groups (founders, contacts, criteria), and the only translation needed is
"blank means missing"; webargs would add a dependency for about thirty lines. Errors are raised as
ValidationFailed with each field's messages in the user's language; `fundapp.unit_of_work.attempt`
hands them to the form, the API answers them as a 422 envelope.
"""

from __future__ import annotations

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


def load(schema: Schema, data: Mapping[str, Any]) -> Any:
    """Validate plain data with a schema; every problem is reported at once, by field."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed(_l("Some fields are not valid."),
                               details=translate_messages(exc.messages)) from None
    except RecursionError:
        raise ValidationFailed(_l("The request body is nested too deeply.")) from None


def load_json(schema: Schema) -> Any:
    """Parse and validate the request's JSON body."""
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
