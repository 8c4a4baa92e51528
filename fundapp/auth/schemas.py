"""Input schemas for signing in and for users: the same schema checks the page's form and the
API's JSON body (fundapp/inputs.py). Lengths are the columns' (users.email String(320),
users.name String(200)); a password is at most 1024 characters, so hashing stays cheap."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, missing, validate

from fundapp.auth.models import Role
from fundapp.auth.operations import MIN_PASSWORD_LENGTH
from fundapp.fields import Text

EMAIL_LENGTH = 320
NAME_LENGTH = 200
PASSWORD_LENGTH = 1024
LANGUAGES = ("zh", "en")

ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.FUND_MANAGER: _l("Fund manager"),
    Role.IC_MEMBER: _l("Investment committee member"),
    Role.AUDITOR: _l("Auditor"),
}


def role_choices() -> list[tuple[str, str]]:
    return [(role.value, str(ROLE_LABELS[role])) for role in Role]


def N_(message: str) -> str:  # Babel's marker: extracted, translated when loaded
    """A message marshmallow keeps as given; fundapp.inputs translates it when a load fails."""
    return message


def _email(missing: str) -> fields.Email:
    return fields.Email(required=True, validate=validate.Length(
        max=EMAIL_LENGTH, error=N_("Enter a valid e-mail address.")),
        error_messages={"required": missing, "invalid": N_("Enter a valid e-mail address.")})


def _password(missing: str, *, new: bool = False) -> fields.String:
    checks = [validate.Length(max=PASSWORD_LENGTH, error=N_("The password is too long."))]
    if new:
        checks.insert(0, validate.Length(min=MIN_PASSWORD_LENGTH,
                                         error=N_("At least 10 characters.")))
    return fields.String(required=True, validate=checks,
                         error_messages={"required": missing, "null": missing})


def _roles() -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf([r.value for r in Role])),
                       required=True,
                       validate=validate.Length(min=1, error=N_("Choose at least one role.")),
                       error_messages={"required": N_("Choose at least one role.")})


class TokenRequestSchema(Schema):
    """E-mail and password, for a token (API) or a web session (the sign-in page)."""

    email = _email(N_("Enter your e-mail address."))
    password = _password(N_("Enter your password."))


class LoginSchema(TokenRequestSchema):
    next = fields.String(load_default="", metadata={"description": "where to go afterwards"})


class NextSchema(Schema):
    next = fields.String(load_default="")


class LocaleSchema(Schema):
    locale = fields.String(required=True, validate=validate.OneOf(LANGUAGES))


class MeUpdateSchema(Schema):
    """The caller's own settings: the language, and the name shown on English pages."""
    locale = fields.String(load_default=missing, validate=validate.OneOf(LANGUAGES))
    name_en = Text(max=NAME_LENGTH, load_default=missing)  # not sent: kept as it is


class PasswordChangeSchema(Schema):
    current_password = _password(N_("Enter your current password."))
    new_password = _password(N_("Enter a new password."), new=True)


class UserCreateSchema(Schema):
    email = _email(N_("Enter an e-mail address."))
    name = Text(max=NAME_LENGTH)
    name_en = Text(max=NAME_LENGTH, metadata={"description": "the name in English documents "
                                                            "and pages (issue 15)"})
    password = _password(N_("Enter a password."), new=True)
    roles = _roles()
    locale = fields.String(load_default=None, validate=validate.OneOf(LANGUAGES))


class UserEditSchema(Schema):
    roles = _roles()
    name_en = Text(max=NAME_LENGTH, load_default=missing)  # not sent: kept as it is
    is_active = fields.Boolean(load_default=False)
