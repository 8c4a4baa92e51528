"""API routes of the foundation: tokens, the caller, users, the ledger, the OpenAPI document."""

from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _
from marshmallow import fields
from sqlalchemy import select

from fundapp.api import bp
from fundapp.api.core import api_route, load_json
from fundapp.api.openapi import build_spec
from fundapp.api.schemas import (
    LedgerEntrySchema,
    LedgerPageSchema,
    TokenRequestSchema,
    TokenSchema,
    UserCreateSchema,
    UserPageSchema,
    UserSchema,
)
from fundapp.auth.models import User
from fundapp.auth.operations import (
    authenticate,
    change_password,
    create_user,
    get_user,
    issue_token,
    revoke_token,
    set_active,
    set_locale,
    set_name_en,
    set_roles,
)
from fundapp.auth.schemas import MeUpdateSchema, PasswordChangeSchema, UserEditSchema
from fundapp.compliance.queries import ledger_count, ledger_filters, ledger_query
from fundapp.errors import TooManyAttempts, Unauthorized, ValidationFailed
from fundapp.extensions import db
from fundapp.pagination import paginate
from fundapp.unit_of_work import keep_on_error

PAGE_PARAMS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                    "maximum": 200}},
]


def page_body(page, schema) -> dict:
    return {"items": schema.dump(page.items, many=True), "page": page.number,
            "per_page": page.per_page, "total": page.total, "pages": page.pages}


@bp.get("/openapi.json")
def openapi():
    return jsonify(build_spec())


@api_route(bp, "/v1/auth/token", "POST", summary="Exchange e-mail and password for a token",
           body=TokenRequestSchema, response=TokenSchema, anonymous=True, status=201)
def create_token():
    data = load_json(TokenRequestSchema())
    result = authenticate(db.session, data["email"], data["password"],
                          request.remote_addr or "unknown", via="api")
    if result.user is None:
        keep_on_error()  # the failed attempt (a security event) stays
        if result.throttled:
            raise TooManyAttempts(_("Too many failed sign-ins. Please wait 15 minutes and try "
                                    "again."))
        raise Unauthorized(_("The e-mail address or password is wrong."))
    secret, token = issue_token(db.session, result.user)
    return TokenSchema().dump({"token": secret, "token_type": "Bearer",
                               "expires_at": token.expires_at}), 201


@api_route(bp, "/v1/auth/token", "DELETE", summary="Revoke the token used for this request",
           status=204, endpoint="revoke_token")
def revoke_token_view():
    revoke_token(db.session, g.api_token, actor=g.user.email)
    return "", 204


@api_route(bp, "/v1/me", "GET", summary="The calling user", response=UserSchema)
def me():
    return UserSchema().dump(g.user)


@api_route(bp, "/v1/users", "GET", summary="List users", response=UserPageSchema,
           params=PAGE_PARAMS)
def list_users():
    page = paginate(db.session, select(User).order_by(User.email), request.args.get("page", 1),
                    request.args.get("per_page", 25))
    return page_body(page, UserSchema())


@api_route(bp, "/v1/users", "POST", summary="Create a user", body=UserCreateSchema,
           response=UserSchema, status=201, endpoint="create_user")
def create_user_view():
    data = load_json(UserCreateSchema())
    user = create_user(db.session, actor=g.user.email, **data)
    return UserSchema().dump(user), 201


@api_route(bp, "/v1/ledger", "GET", summary="Ledger entries, newest first",
           response=LedgerPageSchema, params=PAGE_PARAMS + [
               {"name": "action", "in": "query", "schema": {"type": "string"}},
               {"name": "actor", "in": "query", "schema": {"type": "string"}},
               {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
               {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}}])
def list_ledger():
    filters = ledger_filters(request.args)  # from/to: Asia/Shanghai days
    page = paginate(db.session, ledger_query(**filters), request.args.get("page", 1),
                    request.args.get("per_page", 50), count=ledger_count(**filters))
    return page_body(page, LedgerEntrySchema())


# --------------------------------------------------------------------------- parity with the pages
# (issue 12: the user page of an admin, and one's own profile, through the API)


class UserUpdateSchema(UserEditSchema):
    """A user's access, as the admin's user page sets it: roles and active both given."""

    is_active = fields.Boolean(required=True)


@api_route(bp, "/v1/users/<int:user_id>", "PUT",
           summary="Set a user's roles, active flag and English name (admin); an admin cannot "
                   "disable their own account", body=UserUpdateSchema, response=UserSchema)
def update_user(user_id: int):
    user = get_user(db.session, user_id)
    data = load_json(UserUpdateSchema())
    if user.id == g.user.id and not data["is_active"]:
        raise ValidationFailed(_("You cannot disable your own account."), details={
            "is_active": [_("You cannot disable your own account.")]})
    set_roles(db.session, user, data["roles"], actor=g.user.email)
    set_active(db.session, user, data["is_active"], actor=g.user.email)
    if "name_en" in data:
        set_name_en(db.session, user, data["name_en"], actor=g.user.email)
    return UserSchema().dump(user)


@api_route(bp, "/v1/me", "PATCH", summary="The caller's language (zh or en) and name in English",
           body=MeUpdateSchema, response=UserSchema)
def update_me():
    data = load_json(MeUpdateSchema())
    if "locale" in data:
        set_locale(db.session, g.user, data["locale"])
    if "name_en" in data:
        set_name_en(db.session, g.user, data["name_en"], actor=g.user.email)
    return UserSchema().dump(g.user)


@api_route(bp, "/v1/me/password", "POST",
           summary="Change the caller's password (the current one is needed)",
           body=PasswordChangeSchema, status=204)
def change_my_password():
    data = load_json(PasswordChangeSchema())
    change_password(db.session, g.user, data["current_password"], data["new_password"])
    return "", 204
