"""Input schemas of the history import."""

from __future__ import annotations

from marshmallow import Schema

from fundapp.fields import Text


class HistoryCommitSchema(Schema):
    reason = Text(500)
    ic_reference = Text(100)
