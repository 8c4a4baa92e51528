"""The role x route access table (fundapp/data/access.toml) and its enforcement.

The table is the only place that says who may call a route: `check_access` runs before every
request and refuses whatever the table does not allow, so a new route is closed until listed.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from flask import g, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from fundapp.errors import Forbidden, Unauthorized, wants_json

ANONYMOUS = "anonymous"
ANY_USER = "@user"
TABLE_PATH = Path(__file__).parent / "data" / "access.toml"


@cache
def access_table() -> dict[str, dict[str, frozenset[str]]]:
    with TABLE_PATH.open("rb") as fh:
        raw = tomllib.load(fh)
    return {endpoint: {method.upper(): frozenset(roles) for method, roles in methods.items()}
            for endpoint, methods in raw.items()}


def allowed_roles(endpoint: str, method: str) -> frozenset[str] | None:
    method = "GET" if method in ("HEAD", "OPTIONS") else method
    return access_table().get(endpoint, {}).get(method)


def check_access():
    """before_request: resolve the caller (bearer token for the API, session cookie otherwise)."""
    from fundapp.api.auth import user_from_bearer

    if request.path.startswith("/api/"):
        g.user = user_from_bearer()
    else:
        # The user object itself, not the current_user proxy: after logout_user() the proxy turns
        # into an anonymous user, and code later in the request still needs to know who it was.
        g.user = current_user._get_current_object() if current_user.is_authenticated else None
    if request.endpoint is None:
        return None  # routing failed; the 404/405 handler answers
    allowed = allowed_roles(request.endpoint, request.method)
    if allowed is None:
        raise Forbidden(_l("You do not have permission to do this."))
    if ANONYMOUS in allowed:
        return None
    if g.user is None:
        if wants_json():
            raise Unauthorized(g.get("auth_problem") or _l("Please sign in first."))
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if ANY_USER in allowed or any(role.value in allowed for role in g.user.roles):
        return None
    raise Forbidden(_l("You do not have permission to do this."))


def can(endpoint: str, method: str = "GET") -> bool:
    """For templates: show a link or button only to those the table lets through."""
    allowed = allowed_roles(endpoint, method)
    if allowed is None:
        return False
    if ANONYMOUS in allowed:
        return True
    user = g.get("user")
    if user is None:
        return False
    return ANY_USER in allowed or any(role.value in allowed for role in user.roles)
