"""The JSON API under /api/v1: bearer tokens, marshmallow schemas, the one error envelope.

This module only creates the blueprint. Each domain's `api.py` registers its routes on it; the app
factory imports them (fundapp/app.py DOMAIN_MODULES), so nothing here imports a domain.
"""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")
