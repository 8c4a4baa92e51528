"""The search box's queries: a few bounded SELECTs, one per kind, each a scan of short columns.

A query is folded like the keys (fundapp/search/__init__.py); each kind returns at most `limit`
rows plus whether there were more, newest or closest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from fundapp.auth.models import User
from fundapp.deals.models import Company, Deal, Founder
from fundapp.portfolio.grants.models import Grant
from fundapp.search import fold

MIN_LENGTH = 1
MAX_LENGTH = 100
# The companies a query's deals and grants are looked up by: a query matching more than these
# ("a") lists the first ones and says that more matched.
MATCHED_COMPANIES = 500


@dataclass
class Found:
    """One kind's results: rows of plain values and whether more matched than were listed."""

    rows: list[dict] = field(default_factory=list)
    more: bool = False


def _like(text: str) -> str:
    """A LIKE pattern for `text` anywhere, with LIKE's own wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _cut(rows: list, limit: int) -> tuple[list, bool]:
    return rows[:limit], len(rows) > limit


def search(session: Session, query: str, *, limit: int = 10,
           kinds: frozenset[str] = frozenset({"companies", "deals", "grants", "people",
                                              "users"})) -> dict[str, Found]:
    """Companies, deals, grants and people matching `query` (see the module docstring)."""
    folded = fold(query)[:MAX_LENGTH]
    plain = query.strip().lower()[:MAX_LENGTH]
    out: dict[str, Found] = {}
    if not folded and not plain:
        return out
    key_like = _like(folded or plain)
    text_like = _like(plain)
    # One scan of the companies' keys; the deals and grants of those companies come by id.
    company_ids = session.scalars(select(Company.id).where(
        Company.search_key.like(key_like, escape="\\")).order_by(Company.id)
        .limit(MATCHED_COMPANIES)).all()
    statements = {
        "companies": select(Company.id, Company.legal_name, Company.name_en, Company.uscc,
                            Company.former_names)
        .where(Company.id.in_(company_ids))
        .order_by(func.length(Company.legal_name), Company.id),
        "deals": select(Deal.id, Deal.project_name, Deal.stage, Company.legal_name,
                        Company.name_en, Deal.project_name_en)
        .join(Company, Company.id == Deal.company_id)
        .where(or_(func.lower(Deal.project_name).like(text_like, escape="\\"),
                   func.lower(Deal.project_name_en).like(text_like, escape="\\"),
                   Deal.company_id.in_(company_ids)))
        .order_by(Deal.id.desc()),
        "grants": select(Grant.id, Grant.agreement_no, Grant.status, Grant.awarded_amount,
                         Company.legal_name, Company.name_en)
        .join(Company, Company.id == Grant.company_id)
        .where(or_(func.lower(Grant.agreement_no).like(text_like, escape="\\"),
                   Grant.company_id.in_(company_ids)))
        .order_by(Grant.id.desc()),
        "people": select(Founder.id, Founder.name, Founder.title, Founder.company_id,
                         Company.legal_name, Company.name_en)
        .join(Company, Company.id == Founder.company_id)
        .where(func.lower(Founder.name).like(text_like, escape="\\"))
        .order_by(Founder.name, Founder.id),
        "users": select(User.id, User.name, User.email)
        .where(or_(func.lower(User.name).like(text_like, escape="\\"),
                   func.lower(User.email).like(text_like, escape="\\")))
        .order_by(User.name, User.id),
    }
    for kind, stmt in statements.items():
        if kind in kinds:  # one bounded query per kind the reader may open
            rows = [r._asdict() for r in session.execute(stmt.limit(limit + 1))]
            out[kind] = Found(*_cut(rows, limit))
    return out
