"""The board and a list page answer in a number of SQL queries that does not grow with the data."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from fundapp.extensions import db
from fundapp.main.inbox import build_inbox
from tests.conftest import login, make_user
from tests.deals.factories import make_company, make_deal, make_fund, make_roadshow

EN = {"Accept-Language": "en"}


@contextmanager
def counted():
    statements: list[str] = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def add_deals(start: int, count: int, roadshow) -> None:
    for n in range(start, start + count):
        make_deal(make_company(n), roadshow if n % 2 else None, requested="100000.00")
    db.session.commit()


def test_board_and_list_queries_do_not_grow(client):
    user = make_user("m@example.cn")
    login(client, "m@example.cn", **EN)
    make_fund()
    roadshow = make_roadshow()
    add_deals(1, 3, roadshow)
    sizes = {}
    for total, more in ((3, 0), (30, 27)):
        add_deals(100 + total, more, roadshow)
        for path in ("/deals/board", "/deals?page=1&sort=requested", "/deals/board?sector=ai&q=科技"):
            with counted() as statements:
                response = client.get(path, headers=EN)
            assert response.status_code == 200
            sizes.setdefault(path, []).append(len(statements))
    # Every page also counts the reader's inbox for the badge: a fixed number of queries by role.
    with counted() as statements:
        build_inbox(db.session, user)
    badge = len(statements)
    for path, (few, many) in sizes.items():
        assert few == many, f"{path}: {few} queries with 3 deals, {many} with 30"
        assert many <= 10 + badge, f"{path}: {many} queries ({badge} for the inbox badge)"
