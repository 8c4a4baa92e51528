"""What the search API returns (documented in /api/openapi.json)."""

from marshmallow import Schema, fields


class _Kind(Schema):
    rows = fields.List(fields.Dict(), metadata={"description": "the matches, closest first"})
    more = fields.Boolean(metadata={"description": "more matched than are listed"})


class SearchResultSchema(Schema):
    query = fields.String()
    companies = fields.Nested(_Kind)
    deals = fields.Nested(_Kind)
    grants = fields.Nested(_Kind)
    people = fields.Nested(_Kind)
    users = fields.Nested(_Kind)
