"""The JSON API under /api/v1: bearer tokens, marshmallow schemas, the one error envelope."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

# Each module registers its routes on bp when imported.
from fundapp.api import routes  # noqa: E402,F401
from fundapp.compliance import api as compliance_api  # noqa: E402,F401
from fundapp.deals import api as deals_api  # noqa: E402,F401
from fundapp.ic import api as ic_api  # noqa: E402,F401
from fundapp.portfolio import api as portfolio_api  # noqa: E402,F401
