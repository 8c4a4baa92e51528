"""Pages of the deal pipeline: roadshows, companies, deals and the board."""

from flask import Blueprint

bp = Blueprint("deals", __name__)
