"""Lists, pickers and checks run a constant number of SQL statements (issue 14).

A page that loads a relation per row (N+1) or computes a check per object gets slower with every
row: at full scale that is seconds. Each list page and API is requested on the demo fund with one
row per page and with many, then again after more deals, holdings, cash flows and ledger entries
were added: the number of statements it sends must not change.
"""

from __future__ import annotations

from sqlalchemy import event, func, select

from bench.pages import _generate
from fundapp import pagination
from fundapp.compliance.models import LedgerHead
from fundapp.demo import load_demo
from fundapp.extensions import db
from fundapp.portfolio.holdings.models import Holding
from tests.conftest import api_token, login
from tests.isolation import isolated_client

# path, and whether its rows per page follow ?per_page= (the API) or the default (pages)
LISTS = [
    "/api/v1/grants", "/grants",
    "/api/v1/roadshows", "/roadshows",
    "/api/v1/ic/meetings", "/ic/meetings",
    "/api/v1/holdings", "/api/v1/cash-flows",
    "/api/v1/deals", "/deals", "/companies",
    "/", "/compliance/checks", "/api/v1/compliance/checks",
    "/deals/board", "/api/v1/history-imports/template",
]
# Pages only a fund manager opens: the new meeting's agenda picker (and its search) and a page
# with the inbox badge of someone with deals, meetings and marks waiting.
MANAGER_PAGES = ["/ic/meetings/new", "/ic/meetings/new?deal_q=bench",
                 "/ic/meetings/new/deals?q=bench", "/grants/new/deals?q=bench", "/profile"]


def _count(app, client, path: str, headers: dict) -> tuple[int, int]:
    """(status, statements) of one GET."""
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    # What is kept per book version (compliance/book_cache.py) is computed again, as after any
    # change: the statements counted are those of the work, not of a cache hit.
    app.extensions.pop("fundapp.book_cache", None)
    engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        response = client.get(path, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return response.status_code, len(statements)


def _counts(app, client, headers, per_page: int, monkeypatch) -> dict[str, int]:
    # The pages take the default page size: set it, as ?per_page= sets the API's.
    defaults = list(pagination.paginate.__defaults__)  # (page, per_page, scalars, count)
    defaults[1] = per_page
    monkeypatch.setattr(pagination.paginate, "__defaults__", tuple(defaults))
    counts = {}
    for path in LISTS:
        url = f"{path}?per_page={per_page}" if path.startswith("/api/") else path
        hdrs = headers if path.startswith("/api/") else {}
        client.get(url, headers=hdrs)  # warm: caches filled once per process are not per row
        status, count = _count(app, client, url, hdrs)
        assert status == 200, (url, status)
        counts[path] = count
    holding = db.session.scalar(select(func.min(Holding.id)))
    for path in (f"/portfolio/holdings/{holding}", f"/api/v1/holdings/{holding}/marks"):
        client.get(path, headers=headers)
        status, counts[path] = _count(app, client, path, headers)
        assert status == 200, (path, status)
    return counts


def test_statement_counts_do_not_grow_with_rows_or_data(app, monkeypatch):
    load_demo(db.session)
    db.session.commit()
    client = isolated_client(app)
    assert login(client, "auditor@demo.fundapp.cn", "demo-password").status_code == 302
    headers = {"Authorization": "Bearer " + api_token(client, "auditor@demo.fundapp.cn",
                                                      "demo-password")}
    one = _counts(app, client, headers, 1, monkeypatch)
    many = _counts(app, client, headers, 50, monkeypatch)
    assert many == one  # as many statements for 50 rows a page as for one

    head = db.session.scalar(select(LedgerHead.seq))
    _generate(db.session, deals=60, holdings=12, flows=48, ledger=head + 200)
    db.session.remove()
    more = _counts(app, client, headers, 50, monkeypatch)
    assert more == many  # and as many with more deals, holdings, flows and ledger entries


def _manager_counts(app, client) -> dict[str, int]:
    counts = {}
    for path in MANAGER_PAGES:
        client.get(path)
        status, counts[path] = _count(app, client, path, {})
        assert status == 200, (path, status)
    return counts


def test_manager_pages_statement_counts_do_not_grow_with_data(app):
    load_demo(db.session)
    db.session.commit()
    client = isolated_client(app)
    assert login(client, "manager@demo.fundapp.cn", "demo-password").status_code == 302
    before = _manager_counts(app, client)
    head = db.session.scalar(select(LedgerHead.seq))
    _generate(db.session, deals=300, holdings=12, flows=48, ledger=head + 200)
    db.session.remove()
    assert _manager_counts(app, client) == before
