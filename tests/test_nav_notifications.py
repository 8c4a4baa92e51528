"""Issue 14: the navigation links to the notifications page with the reader's unread count, counted
in one COUNT query per page (whatever the number of notifications), and to the help page."""

from __future__ import annotations

import re

from fundapp.extensions import db
from fundapp.notifications.operations import notify
from tests.conftest import csrf_from, login, make_user
from tests.deals.test_query_count import counted

EN = {"Accept-Language": "en"}
BADGE = re.compile(r'data-testid="notifications-badge"[^>]*>(\d+)<')


def badge(client) -> int | None:
    found = BADGE.search(client.get("/profile", headers=EN).get_data(as_text=True))
    return int(found.group(1)) if found else None


def add(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        notify(db.session, role="admin", kind="test.note", key=f"test-{i}", message=f"note {i}")
    db.session.commit()


def test_badge_counts_the_readers_unread_notifications(client):
    make_user("a1@example.cn", roles=("admin",))
    make_user("a2@example.cn", roles=("admin",))
    login(client, "a1@example.cn", **EN)
    html = client.get("/profile", headers=EN).get_data(as_text=True)
    assert 'data-testid="notifications-link"' in html and 'data-testid="help-link"' in html
    assert badge(client) is None  # nothing unread: no badge
    add(3)
    assert badge(client) == 3
    page = client.get("/compliance/notifications/", headers=EN).get_data(as_text=True)
    note_id = re.findall(r'data-id="(\d+)"', page)[0]
    assert client.post(f"/compliance/notifications/{note_id}/read",
                       data={"csrf_token": csrf_from(page)}, headers=EN).status_code == 302
    assert badge(client) == 2
    client.post("/logout", data={"csrf_token": csrf_from(page)}, headers=EN)
    login(client, "a2@example.cn", **EN)
    assert badge(client) == 3  # read per person


def test_badge_is_one_count_query_whatever_the_number(client):
    make_user("a1@example.cn", roles=("admin",))
    login(client, "a1@example.cn", **EN)
    sizes = []
    for n, start in ((2, 0), (40, 2)):
        add(n, start)
        with counted() as statements:
            assert client.get("/profile", headers=EN).status_code == 200
        sizes.append(statements)
    assert len(sizes[0]) == len(sizes[1])
    counts = [s for s in sizes[1] if "notification" in s.lower()]
    assert len(counts) == 1 and "count(" in counts[0].lower(), counts
