"""The things ledger entries and check items are about, as the compliance area shows them.

Compliance imports no domain (tests/test_architecture.py): the page of each kind of subject is
named by its endpoint, and the domains register how their subjects' names are read, from the
modules the app factory imports for its registries (app.DOMAIN_MODULES), as they register checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select

# Kind of subject -> (endpoint of its page, the endpoint's id argument). Kinds without a page
# of their own (a tranche, a KPI report, the ledger) are not linked.
SUBJECT_PAGES = {
    "deal": ("deals.deal", "deal_id"), "company": ("deals.company", "company_id"),
    "grant": ("portfolio.grant", "grant_id"), "holding": ("portfolio.holding", "holding_id"),
    "user": ("admin.edit_user", "user_id"), "roadshow": ("deals.roadshow", "roadshow_id"),
    "ic_meeting": ("ic.meeting", "meeting_id"), "job": ("compliance.jobs", "job"),
}

# Kind of subject -> a function giving (a select of (id, name, English name[, number]), its id
# column): the ledger page names a page of entries' subjects with one query per kind.
NAME_QUERIES: dict[str, Callable[[], tuple[Select, Any]]] = {}


def register_subject_names(subject_type: str) -> Callable:
    """Decorator: how the names of one kind of subject are read (see NAME_QUERIES)."""
    def register(make: Callable[[], tuple[Select, Any]]) -> Callable[[], tuple[Select, Any]]:
        NAME_QUERIES[subject_type] = make
        return make
    return register
