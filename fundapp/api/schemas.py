"""Input and output schemas of the API (kept separate: no mass assignment).

The input schemas of users and sign-in live with the pages that load the same input
(fundapp/auth/schemas.py); they are re-exported here for the API routes.
"""

from marshmallow import Schema, fields

from fundapp.auth.schemas import TokenRequestSchema, UserCreateSchema  # noqa: F401


class TokenSchema(Schema):
    token = fields.String()
    token_type = fields.String()
    expires_at = fields.DateTime()


class UserSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    name_en = fields.String()
    roles = fields.Method("get_roles")
    is_active = fields.Boolean()
    locale = fields.String(allow_none=True)
    created_at = fields.DateTime()

    def get_roles(self, user):
        return sorted(role.value for role in user.roles)


class LedgerEntrySchema(Schema):
    seq = fields.Integer()
    recorded_at = fields.String()
    # The day the recorded fact happened (issue 12); null for entries that are not facts on a day.
    happened_on = fields.Date(allow_none=True)
    actor = fields.String()
    action = fields.String()
    subject_type = fields.String()
    subject_id = fields.String()
    payload = fields.Method("get_payload")
    prev_hash = fields.String()
    hash = fields.String()

    def get_payload(self, entry):
        import json

        return json.loads(entry.payload)


class PageSchema(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()


class UserPageSchema(PageSchema):
    items = fields.List(fields.Nested(UserSchema))


class LedgerPageSchema(PageSchema):
    items = fields.List(fields.Nested(LedgerEntrySchema))


class MeSchema(UserSchema):
    pass
