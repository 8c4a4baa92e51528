"""The JSON API under /api/v1: bearer tokens, marshmallow schemas, the one error envelope."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from fundapp.api import routes  # noqa: E402,F401  (registers the routes on bp)
