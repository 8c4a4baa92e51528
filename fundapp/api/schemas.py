"""Input and output schemas of the API (kept separate: no mass assignment)."""

from marshmallow import Schema, fields, validate

from fundapp.auth.models import Role


class TokenRequestSchema(Schema):
    email = fields.Email(required=True)
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class TokenSchema(Schema):
    token = fields.String()
    token_type = fields.String()
    expires_at = fields.DateTime()


class UserSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    roles = fields.Method("get_roles")
    is_active = fields.Boolean()
    locale = fields.String(allow_none=True)
    created_at = fields.DateTime()

    def get_roles(self, user):
        return sorted(role.value for role in user.roles)


class UserCreateSchema(Schema):
    email = fields.Email(required=True)
    name = fields.String(load_default="", validate=validate.Length(max=200))
    password = fields.String(required=True, validate=validate.Length(min=10, max=1024))
    roles = fields.List(fields.String(validate=validate.OneOf([r.value for r in Role])),
                        required=True, validate=validate.Length(min=1))
    locale = fields.String(load_default=None, validate=validate.OneOf(["zh", "en"]))


class LedgerEntrySchema(Schema):
    seq = fields.Integer()
    recorded_at = fields.String()
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
