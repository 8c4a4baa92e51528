"""The search page (/search?q=…) behind the box in the navigation, and its API twin."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l

from fundapp.access import can
from fundapp.api import bp as api_bp
from fundapp.api.core import api_route
from fundapp.deals.operations import stage_label
from fundapp.errors import ValidationFailed
from fundapp.extensions import db
from fundapp.portfolio.grants.views import STATUS_LABELS
from fundapp.search.queries import MAX_LENGTH, search
from fundapp.search.schemas import SearchResultSchema
from fundapp.ui import reader_name

bp = Blueprint("search", __name__)

KINDS = (
    ("companies", _l("Companies"), "deals.company"),
    ("deals", _l("Deals"), "deals.deal"),
    ("grants", _l("Grants"), "portfolio.grant"),
    ("people", _l("Founders"), "deals.company"),
    ("users", _l("Users"), "admin.edit_user"),
)


def _visible_kinds() -> frozenset[str]:
    """The kinds whose pages the reader may open: a result is a link, never a dead end."""
    return frozenset(kind for kind, _label, endpoint in KINDS if can(endpoint))


def _query() -> str:
    query = request.args.get("q", "").strip()
    if len(query) > MAX_LENGTH:
        raise ValidationFailed(_l("Some fields are not valid."), details={"q": [str(_l(
            "Search for at most %(n)s characters.", n=MAX_LENGTH))]})
    return query


def results_for(query: str, limit: int) -> dict[str, dict]:
    found = search(db.session, query, limit=limit, kinds=_visible_kinds()) if query else {}
    out: dict[str, dict] = {}
    for kind, rows in found.items():
        for row in rows.rows:
            row["company"] = reader_name(row.get("legal_name"), row.get("name_en"))
            if "stage" in row:
                row["stage_label"] = stage_label(row["stage"])
            if "status" in row:
                row["status_label"] = str(STATUS_LABELS.get(row["status"], row["status"]))
        out[kind] = {"rows": rows.rows, "more": rows.more}
    return out


@bp.get("/search")
def search_page():
    try:
        query = _query()
        errors = {}
    except ValidationFailed as exc:
        query, errors = request.args.get("q", "")[:MAX_LENGTH * 2], exc.details
    results = results_for(query, 20) if query and not errors else {}
    total = sum(len(r["rows"]) for r in results.values())
    return render_template("search.html", q=query, results=results, kinds=KINDS, total=total,
                           errors=errors), 422 if errors else 200


@api_route(api_bp, "/v1/search", "GET", summary="Search companies (names, former names, pinyin "
           "or its initials, credit code), deals, grants, founders and users (admins, auditors), "
           "grouped by kind; at most `limit` (≤ 50) of each", response=SearchResultSchema,
           params=[{"name": "q", "in": "query", "required": True, "schema": {"type": "string"}},
                   {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
           endpoint="search")
def search_api():
    query = _query()
    if not query:
        raise ValidationFailed(_l("Some fields are not valid."), details={"q": [str(_l(
            "Type what to search for."))]})
    limit = request.args.get("limit", "10")
    if not limit.isdigit() or not 1 <= int(limit) <= 50:
        raise ValidationFailed(_l("Some fields are not valid."), details={"limit": [str(_l(
            "The limit must be a whole number from 1 to 50."))]})
    found = results_for(query, int(limit))
    for kind in found.values():
        for row in kind["rows"]:
            row.update({k: str(v) for k, v in row.items() if k.endswith("_amount")
                        and v is not None})
    return SearchResultSchema().dump({"query": query, **found})



