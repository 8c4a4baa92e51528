"""Bearer-token authentication for the JSON API."""

from __future__ import annotations

from flask import g, request
from flask_babel import lazy_gettext as _l

from fundapp.auth.models import User
from fundapp.auth.operations import find_token
from fundapp.extensions import db

TOKEN_PROBLEMS = {
    "invalid": _l("The access token is not valid."),
    "revoked": _l("The access token has been revoked."),
    "expired": _l("The access token has expired. Request a new one."),
    "disabled": _l("This account is disabled."),
}


def user_from_bearer() -> User | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    token, problem = find_token(db.session, secret.strip())
    if token is None:
        g.auth_problem = TOKEN_PROBLEMS[problem]
        return None
    g.api_token = token
    return token.user
