"""Pages of grants, rounds, conversions, cap tables and policies."""

from flask import Blueprint

bp = Blueprint("portfolio", __name__)
